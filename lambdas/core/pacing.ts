/**
 * Pacing of calls to DANAConnect across every concurrent worker: GCRA as slot reservation. Each call reserves
 * the next free slot, `max(now, lastSlot + interval)` with `interval = 1.05 × 1000 / R` ms, and waits for it.
 * Slots are at least `interval` apart, so no half-open 1 s window ever holds more than R of them. The slot
 * math is a pure function; where `lastSlot` lives (memory, one DynamoDB item) is an adapter's business.
 *
 * A caller never waits longer than `maxWaitMs`: when the next free slot is further away, nothing is reserved
 * and PacingBusyError says when to come back, so a worker hands its chunk back (requeued, spending no receive)
 * rather than sleeping through its Lambda's timeout. The deployed wait is `pacingWaitBudgetMs`, long enough
 * for every chunk that can wait at once, so in steady state nothing is handed back at all.
 */
import { ConfigurationError } from './errors';
import { sleep } from './retry';

/** The port: resolves when the caller may make one call; rejects with PacingBusyError when the wait is too long. */
export interface RateLimiter {
  acquire(): Promise<void>;
}

export class PacingBusyError extends Error {
  /** Epoch ms from which a new attempt would wait no longer than allowed. */
  readonly retryAt: number;
  constructor(retryAt: number) {
    super('rate limit: the next free slot is too far away');
    this.name = 'PacingBusyError';
    this.retryAt = retryAt;
  }
}

export const DEFAULT_RATE_PER_SECOND = 10;
export const DEFAULT_MAX_WAIT_MS = 5_000;

/**
 * Headroom kept below the configured rate. Slots are spaced evenly, but calls do not arrive evenly: network and
 * event-loop delays bunch neighbours together, and DANAConnect counts arrivals. 5 % keeps R + 1 calls out of
 * any one-second window in practice (bench: 0 × 429 at R = 20 with 50 ms latency) while using 95 % of R.
 */
export const PACING_HEADROOM = 0.05;

/**
 * Milliseconds between slots: 1000/R plus the headroom, as a fraction (slots live in a number, not a timer), so
 * the spacing is exact at every rate the config allows: a whole-millisecond interval would halve 1000/s.
 */
export function slotIntervalMs(ratePerSecond: number): number {
  if (!Number.isFinite(ratePerSecond) || ratePerSecond <= 0) {
    throw new RangeError('rate limit must be a positive number of calls per second');
  }
  return (1000 * (1 + PACING_HEADROOM)) / ratePerSecond;
}

/**
 * The longest a caller may wait for its slot, so that pacing alone never hands a chunk back: every chunk that can
 * be waiting at once (`waiters`: the workers' concurrency times their batch size) gets a slot within it.
 */
export function pacingWaitBudgetMs(ratePerSecond: number, waiters: number): number {
  return Math.max(DEFAULT_MAX_WAIT_MS, Math.ceil(waiters * slotIntervalMs(ratePerSecond)));
}

export type SlotDecision =
  /** Reserve the slot at `at` (epoch ms) and call then. */
  | { kind: 'slot'; at: number }
  /** Reserve nothing; the wait would exceed the limit until `retryAt`. */
  | { kind: 'busy'; retryAt: number };

/** GCRA: the next slot after `lastSlot` (undefined: none reserved yet), or busy if it is too far away. */
export function nextSlot(
  lastSlot: number | undefined,
  now: number,
  intervalMs: number,
  maxWaitMs: number = Infinity,
): SlotDecision {
  const at = lastSlot === undefined ? now : Math.max(now, lastSlot + intervalMs);
  return at - now > maxWaitMs ? { kind: 'busy', retryAt: at - maxWaitMs } : { kind: 'slot', at };
}

export interface RateLimiterOptions {
  ratePerSecond: number;
  maxWaitMs?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/** The in-process limiter: one process (the local pipeline, tests). */
export class MemoryRateLimiter implements RateLimiter {
  private lastSlot: number | undefined;
  private readonly intervalMs: number;
  private readonly maxWaitMs: number;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(options: RateLimiterOptions) {
    this.intervalMs = slotIntervalMs(options.ratePerSecond);
    this.maxWaitMs = options.maxWaitMs ?? DEFAULT_MAX_WAIT_MS;
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? sleep;
  }

  async acquire(): Promise<void> {
    const now = this.now();
    const decision = nextSlot(this.lastSlot, now, this.intervalMs, this.maxWaitMs);
    if (decision.kind === 'busy') throw new PacingBusyError(decision.retryAt);
    this.lastSlot = decision.at;
    if (decision.at > now) await this.sleep(decision.at - now);
  }
}

/** The wait limit from `DANA_PACING_MAX_WAIT_MS` (set by the stack from pacingWaitBudgetMs; default 5 s). */
export function maxWaitFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.DANA_PACING_MAX_WAIT_MS;
  if (raw === undefined || raw === '') return DEFAULT_MAX_WAIT_MS;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new ConfigurationError('DANA_PACING_MAX_WAIT_MS must be a whole number of milliseconds');
  }
  return value;
}

/** R from `DANA_RATE_LIMIT_PER_SECOND` (default 10). */
export function rateFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.DANA_RATE_LIMIT_PER_SECOND;
  if (raw === undefined || raw === '') return DEFAULT_RATE_PER_SECOND;
  const rate = Number(raw);
  if (!Number.isFinite(rate) || rate <= 0) {
    throw new ConfigurationError('DANA_RATE_LIMIT_PER_SECOND must be a positive number');
  }
  return rate;
}
