import { describe, expect, it } from 'vitest';
import { ConfigurationError } from '../../lambdas/core/errors';
import {
  MemoryRateLimiter,
  nextSlot,
  PacingBusyError,
  rateFromEnv,
  pacingWaitBudgetMs,
  slotIntervalMs,
} from '../../lambdas/core/pacing';

/** A small deterministic PRNG (mulberry32), so the property test is reproducible. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Most slots found in any half-open window [t, t + 1000). */
function busiestSecond(slots: number[]): number {
  const sorted = [...slots].sort((a, b) => a - b);
  let best = 0;
  let start = 0;
  for (let end = 0; end < sorted.length; end++) {
    while (sorted[end]! - sorted[start]! >= 1000) start++;
    best = Math.max(best, end - start + 1);
  }
  return best;
}

describe('GCRA slot math', () => {
  it('spaces slots by 1000/R plus 5 % headroom, as a fraction of a millisecond', () => {
    // 5 % headroom for arrival jitter: never more than R calls in a second.
    expect(slotIntervalMs(10)).toBeCloseTo(105, 9);
    expect(slotIntervalMs(20)).toBeCloseTo(52.5, 9);
    expect(slotIntervalMs(3)).toBeCloseTo(350, 9);
    expect(slotIntervalMs(1000)).toBeCloseTo(1.05, 9);
    expect(slotIntervalMs(0.1)).toBeCloseTo(10_500, 9);
    for (const bad of [0, -1, NaN, Infinity]) expect(() => slotIntervalMs(bad)).toThrow(RangeError);
  });

  // Defect 5: whole-millisecond intervals halved 1000/s (ceil(1.05) = 2 ms). A backlog of waiters must be served
  // at R/1.05, within 5 % of R, at every rate the config allows.
  it.each([0.1, 0.37, 1, 7, 10, 33, 100, 333, 999, 1000])(
    'defect 5: a backlog is served within 5 %% of R = %s per second',
    (rate) => {
      const interval = slotIntervalMs(rate);
      let last: number | undefined;
      const start = 1_700_000_000_000;
      for (let i = 0; i < 1_000; i++) {
        const decision = nextSlot(last, start, interval);
        if (decision.kind !== 'slot') throw new Error('unbounded wait cannot be busy');
        last = decision.at;
      }
      const achieved = (999 * 1000) / (last! - start);
      expect(achieved / rate).toBeGreaterThanOrEqual(0.95);
      expect(achieved / rate).toBeLessThanOrEqual(1);
    },
  );

  it('sizes the wait so that every chunk that can wait at once gets a slot within it', () => {
    expect(pacingWaitBudgetMs(10, 25)).toBe(5_000); // 25 × 105 ms is under the 5 s floor
    expect(pacingWaitBudgetMs(0.1, 10)).toBe(105_000);
    expect(pacingWaitBudgetMs(1000, 5_000)).toBe(5_250);
  });

  it('gives the first caller now, then the later of now and last + interval', () => {
    expect(nextSlot(undefined, 5_000, 100)).toEqual({ kind: 'slot', at: 5_000 });
    expect(nextSlot(4_000, 5_000, 100)).toEqual({ kind: 'slot', at: 5_000 }); // idle: no burst credit
    expect(nextSlot(4_950, 5_000, 100)).toEqual({ kind: 'slot', at: 5_050 });
    expect(nextSlot(9_000, 5_000, 100)).toEqual({ kind: 'slot', at: 9_100 });
  });

  it('says busy, reserving nothing, when the slot is further than maxWait', () => {
    expect(nextSlot(9_000, 5_000, 100, 4_100)).toEqual({ kind: 'slot', at: 9_100 });
    expect(nextSlot(9_000, 5_000, 100, 4_099)).toEqual({ kind: 'busy', retryAt: 5_001 });
  });

  it.each([1, 3, 7, 10, 25])('never lets more than R = %i slots into any 1 s window', (rate) => {
    const random = prng(rate);
    const interval = slotIntervalMs(rate);
    let last: number | undefined;
    let now = 0;
    const slots: number[] = [];
    for (let i = 0; i < 2_000; i++) {
      now += Math.floor(random() * interval * 2); // callers arrive in bursts and lulls
      const decision = nextSlot(last, now, interval);
      if (decision.kind !== 'slot') throw new Error('unbounded wait cannot be busy');
      expect(decision.at).toBeGreaterThanOrEqual(now);
      if (last !== undefined) expect(decision.at - last).toBeGreaterThanOrEqual(interval - 1e-6);
      last = decision.at;
      slots.push(decision.at);
    }
    expect(busiestSecond(slots)).toBeLessThanOrEqual(rate);
    // and the budget, less the headroom, is actually used under load
    expect(busiestSecond(slots)).toBe(Math.ceil(1000 / interval));
  });
});

describe('MemoryRateLimiter', () => {
  function fakeClock() {
    const clock = { now: 1_000_000, slept: [] as number[] };
    return {
      clock,
      now: () => clock.now,
      sleep: async (ms: number) => {
        clock.slept.push(ms);
      },
    };
  }

  it('makes concurrent callers wait for consecutive slots', async () => {
    const { clock, now, sleep } = fakeClock();
    const limiter = new MemoryRateLimiter({ ratePerSecond: 4, now, sleep });
    const interval = slotIntervalMs(4);
    await Promise.all(Array.from({ length: 5 }, () => limiter.acquire()));
    expect(clock.slept).toEqual([1, 2, 3, 4].map((n) => n * interval));
  });

  it('refuses to wait longer than maxWait, and reserves nothing when it refuses', async () => {
    const { clock, now, sleep } = fakeClock();
    const interval = slotIntervalMs(2);
    const limiter = new MemoryRateLimiter({ ratePerSecond: 2, maxWaitMs: 2 * interval, now, sleep });
    await limiter.acquire(); // slot at now
    await limiter.acquire(); // +interval
    await limiter.acquire(); // +2 intervals: the longest allowed wait
    const refused = await limiter.acquire().catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(PacingBusyError);
    expect((refused as PacingBusyError).retryAt).toBe(clock.now + interval);
    clock.now += interval;
    clock.slept = [];
    await limiter.acquire();
    expect(clock.slept).toEqual([2 * interval]); // the slot after +2 intervals, i.e. +3 from the start
  });
});

describe('rateFromEnv', () => {
  it('defaults to 10 and reads DANA_RATE_LIMIT_PER_SECOND', () => {
    expect(rateFromEnv({})).toBe(10);
    expect(rateFromEnv({ DANA_RATE_LIMIT_PER_SECOND: '2.5' })).toBe(2.5);
  });

  it('refuses nonsense, naming the variable', () => {
    for (const raw of ['0', '-3', 'ten']) {
      expect(() => rateFromEnv({ DANA_RATE_LIMIT_PER_SECOND: raw })).toThrow(ConfigurationError);
      expect(() => rateFromEnv({ DANA_RATE_LIMIT_PER_SECOND: raw })).toThrow(/DANA_RATE_LIMIT_PER_SECOND/);
    }
  });
});
