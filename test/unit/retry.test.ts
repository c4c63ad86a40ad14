import { describe, expect, it, vi } from 'vitest';
import { DanaError, type DanaErrorKind, type Delivery } from '../../lambdas/core/errors';
import { deadlineAt } from '../../lambdas/core/deadline';
import {
  backoffDelay,
  DEFAULT_RETRY_POLICY,
  isRetryable,
  MIN_ATTEMPT_MS,
  nextDelay,
  withRetries,
  type CallKind,
  type RetryPolicy,
} from '../../lambdas/core/retry';

const danaError = (kind: DanaErrorKind, delivery: Delivery, retryAfterMs?: number) =>
  new DanaError({ kind, delivery, message: kind, retryAfterMs });

describe('isRetryable: the table in retry.ts', () => {
  // [error kind, delivery, start retried?, read retried?]
  const table: [DanaErrorKind, Delivery, boolean, boolean][] = [
    ['network', 'no', true, true], // never sent: refused, DNS
    ['timeout', 'no', true, true], // connect timeout: never sent
    ['throttled', 'no', true, true],
    ['unauthorized', 'no', false, false], // handled by the client: one refresh, then one more try
    ['illegal_argument', 'no', false, false],
    ['upstream_internal', 'unknown', false, true],
    ['timeout', 'unknown', false, true], // sent, no answer in time
    ['network', 'unknown', false, true], // connection lost after sending
    ['unexpected_answer', 'unknown', false, false],
  ];

  it.each(table)('%s (delivery %s): start %s, read %s', (kind, delivery, start, read) => {
    expect(isRetryable(danaError(kind, delivery), 'start')).toBe(start);
    expect(isRetryable(danaError(kind, delivery), 'read')).toBe(read);
  });
});

describe('backoffDelay: full jitter', () => {
  const policy: RetryPolicy = { maxAttempts: 10, baseDelayMs: 100, maxDelayMs: 1_000, budgetMs: 60_000 };

  it.each([
    [0, 0.5, 50],
    [1, 0.5, 100],
    [2, 0.5, 200],
    [3, 0.5, 400],
    [4, 0.5, 500], // ceiling 1600 is capped at maxDelayMs 1000
    [9, 0.999, 999],
    [2, 0, 0],
  ])('retry %i with random %f waits %i ms', (retry, random, expected) => {
    expect(backoffDelay(retry, policy, () => random)).toBe(expected);
  });

  it('stays below the ceiling', () => {
    for (let i = 0; i < 200; i++) {
      const delay = backoffDelay(3, policy);
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThan(800);
    }
  });
});

describe('nextDelay', () => {
  const policy: RetryPolicy = { maxAttempts: 3, baseDelayMs: 100, maxDelayMs: 2_000, budgetMs: 5_000 };
  const half = () => 0.5;
  const transient = danaError('network', 'no');

  it.each([
    ['first failure: backoff of retry 0', transient, 'start', 1, 0, 50],
    ['second failure: backoff of retry 1', transient, 'start', 2, 0, 100],
    ['attempts used up', transient, 'start', 3, 0, undefined],
    ['not retryable', danaError('upstream_internal', 'unknown'), 'start', 1, 0, undefined],
    ['retryable read', danaError('upstream_internal', 'unknown'), 'read', 1, 0, 50],
    ['Retry-After longer than backoff wins', danaError('throttled', 'no', 1_500), 'start', 1, 0, 1_500],
    ['backoff longer than Retry-After wins', danaError('throttled', 'no', 10), 'start', 2, 0, 100],
    ['ending exactly at the budget is allowed', danaError('throttled', 'no', 1_000), 'read', 1, 4_000, 1_000],
    ['ending past the budget is not', danaError('throttled', 'no', 1_000), 'read', 1, 4_001, undefined],
  ] as [string, DanaError, CallKind, number, number, number | undefined][])(
    '%s',
    (_name, error, kind, attempt, elapsed, expected) => {
      expect(nextDelay(error, kind, attempt, elapsed, policy, half)).toBe(expected);
    },
  );

  it('the default policy allows three attempts within ten seconds', () => {
    expect(DEFAULT_RETRY_POLICY).toMatchObject({ maxAttempts: 3, budgetMs: 10_000 });
  });
});

describe('withRetries', () => {
  const policy: RetryPolicy = { maxAttempts: 3, baseDelayMs: 100, maxDelayMs: 1_000, budgetMs: 10_000 };
  // Zero jitter: retries happen at once, so the tests need no fake timers.
  const clock = { now: () => 0, random: () => 0 };

  it('returns the first success and passes the attempt number', async () => {
    const attempt = vi
      .fn<(n: number) => Promise<string>>()
      .mockRejectedValueOnce(danaError('network', 'no'))
      .mockRejectedValueOnce(danaError('throttled', 'no', 0))
      .mockResolvedValueOnce('ok');
    await expect(withRetries('start', policy, attempt, clock)).resolves.toBe('ok');
    expect(attempt.mock.calls).toEqual([[1], [2], [3]]);
  });

  it('throws the last error once the attempts are used up', async () => {
    const errors = [danaError('network', 'no'), danaError('network', 'no'), danaError('network', 'no')];
    const attempt = vi.fn(async (n: number) => {
      throw errors[n - 1];
    });
    await expect(withRetries('start', policy, attempt, clock)).rejects.toBe(errors[2]);
    expect(attempt).toHaveBeenCalledTimes(3);
  });

  it('throws a non-retryable error at once', async () => {
    const lost = danaError('timeout', 'unknown');
    const attempt = vi.fn(async () => {
      throw lost;
    });
    await expect(withRetries('start', policy, attempt, clock)).rejects.toBe(lost);
    expect(attempt).toHaveBeenCalledTimes(1);
    // The same error on a read is retried.
    await expect(withRetries('read', policy, attempt, clock)).rejects.toBe(lost);
    expect(attempt).toHaveBeenCalledTimes(4);
  });

  it('throws anything that is not a DanaError at once', async () => {
    const bug = new TypeError('bug');
    const attempt = vi.fn(async () => {
      throw bug;
    });
    await expect(withRetries('read', policy, attempt, clock)).rejects.toBe(bug);
    expect(attempt).toHaveBeenCalledTimes(1);
  });

  it('stops when the budget is spent, counting from the first attempt', async () => {
    let now = 0;
    const attempt = vi.fn(async () => {
      now += 6_000; // each attempt takes 6 s of the 10 s budget
      throw danaError('network', 'no');
    });
    await expect(
      withRetries('read', policy, attempt, { now: () => now, random: () => 0 }),
    ).rejects.toBeInstanceOf(DanaError);
    expect(attempt).toHaveBeenCalledTimes(2);
  });
});

describe('the invocation’s deadline', () => {
  const policy: RetryPolicy = { maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 1_000, budgetMs: 60_000 };
  const half = () => 0.5;
  const transient = danaError('network', 'no');

  it.each([
    ['no deadline', Number.POSITIVE_INFINITY, 50],
    ['the wait and a whole attempt fit', 50 + MIN_ATTEMPT_MS, 50],
    ['the wait fits, the attempt after it would not', 49 + MIN_ATTEMPT_MS, undefined],
    ['a Retry-After longer than what is left', 1_000, undefined],
  ] as [string, number, number | undefined][])('nextDelay: %s', (_name, remainingMs, expected) => {
    const error = _name.startsWith('a Retry-After') ? danaError('throttled', 'no', 900) : transient;
    expect(nextDelay(error, 'start', 1, 0, policy, half, remainingMs)).toBe(expected);
  });

  it('withRetries stops when the deadline leaves no room for another attempt, and throws the last error', async () => {
    let now = 0;
    const errors = [1, 2, 3, 4, 5].map(() => danaError('network', 'no'));
    const attempt = vi.fn(async (n: number) => {
      now += 300; // each attempt takes 300 ms of the 1 s left
      throw errors[n - 1];
    });
    const clock = { now: () => now, random: () => 0 };
    await expect(withRetries('read', policy, attempt, clock, deadlineAt(1_000, clock.now))).rejects.toBe(
      errors[1],
    );
    // 300 ms in, 700 left: another attempt fits; 600 ms in, 400 left: it does not.
    expect(attempt).toHaveBeenCalledTimes(2);
  });
});
