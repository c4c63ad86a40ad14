/**
 * The retry policy, error class by error class. A start must never reach DANAConnect twice because of us, so a
 * start is retried only when DANAConnect provably did not act on it; reads are retried on any transient failure.
 *
 * | error class                                   | start (POST)                         | read (GET data, token) |
 * |-----------------------------------------------|--------------------------------------|------------------------|
 * | network, request never sent (refused, DNS, connect timeout) | retry                  | retry                  |
 * | 429 throttled                                 | retry after max(Retry-After, backoff), if within the budget | same |
 * | 401 / 403 unauthorized (API or token endpoint) | once: fresh secret (and token), then retry once | same        |
 * | 400 / other 4xx illegal argument              | never                                | never                  |
 * | 5xx upstream internal error                   | never (it may have started someone)  | retry                  |
 * | timeout after the request was sent            | never (outcome unknown)              | retry                  |
 * | network, connection lost after sending        | never (outcome unknown)              | retry                  |
 * | unexpected answer (2xx but not JSON)          | never                                | never                  |
 *
 * Delays: full jitter, `random() * min(maxDelayMs, baseDelayMs * 2^retry)`, and no retry that would begin later than
 * `budgetMs` after the first attempt, so a loop ends within `budgetMs` plus one attempt's timeout. The one
 * credential refresh after a 401 runs a second loop with what is left of the same budget (DanaClient.call).
 */
import { DanaError } from './errors';

export type CallKind = 'start' | 'read';

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** No retry is scheduled that would begin later than this after the first attempt. */
  budgetMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxAttempts: 3,
  baseDelayMs: 100,
  maxDelayMs: 2_000,
  budgetMs: 10_000,
};

/** Whether repeating this call after this error could not start anyone twice. */
export function isRetryable(error: DanaError, kind: CallKind): boolean {
  switch (error.kind) {
    case 'throttled':
      return true;
    case 'network':
    case 'timeout': // a connect timeout has delivery 'no': the request never left
      return error.delivery === 'no' || kind === 'read';
    case 'upstream_internal':
      return kind === 'read';
    case 'illegal_argument':
    case 'unauthorized': // handled separately: one refresh of credentials, then one retry
    case 'unexpected_answer':
      return false;
  }
}

/** Full-jitter exponential backoff for the n-th retry (0-based). */
export function backoffDelay(retry: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** retry);
  return Math.floor(random() * ceiling);
}

/** How long to wait before the next attempt, or undefined when there should be none. */
export function nextDelay(
  error: DanaError,
  kind: CallKind,
  attempt: number,
  elapsedMs: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
): number | undefined {
  if (attempt >= policy.maxAttempts || !isRetryable(error, kind)) return undefined;
  const delay = Math.max(error.retryAfterMs ?? 0, backoffDelay(attempt - 1, policy, random));
  return elapsedMs + delay <= policy.budgetMs ? delay : undefined;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs `attempt` until it succeeds or the policy says stop. The single retry loop of the client: DanaErrors
 * are retried by the table above, anything else is thrown at once.
 */
export async function withRetries<T>(
  kind: CallKind,
  policy: RetryPolicy,
  attempt: (n: number) => Promise<T>,
  clock: { now: () => number; random: () => number } = { now: Date.now, random: Math.random },
): Promise<T> {
  const started = clock.now();
  for (let n = 1; ; n++) {
    try {
      return await attempt(n);
    } catch (error) {
      if (!(error instanceof DanaError)) throw error;
      const delay = nextDelay(error, kind, n, clock.now() - started, policy, clock.random);
      if (delay === undefined) throw error;
      await sleep(delay);
    }
  }
}
