/**
 * The retry policy, error class by error class. A start must never reach DANAConnect twice because of us, so a
 * start is retried only when DANAConnect provably did not act on it; reads are retried on any transient failure.
 *
 * Which error class is retried, for starts and for reads, is the "Retry policy" table of docs/CLIENT.md, the one
 * copy of it; `isRetryable` is its code.
 *
 * Delays: full jitter, `random() * min(maxDelayMs, baseDelayMs * 2^retry)`, and no retry that would begin later than
 * `budgetMs` after the first attempt, so a loop ends within `budgetMs` plus one attempt's timeout. The one
 * credential refresh after a 401 runs a second loop with what is left of the same budget (DanaClient.call).
 *
 * A call may also carry the invocation's deadline (./deadline.ts). The loop never sleeps into it: a retry is
 * scheduled only when, after its delay, at least MIN_ATTEMPT_MS of the deadline are left for the attempt.
 */
import { NO_DEADLINE, type Deadline } from './deadline';
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

/**
 * The least time an attempt is begun with. An attempt with less would most likely be cut after its request was
 * sent, which for a start turns a clean "not sent" into an unknown outcome; better not to send it at all.
 */
export const MIN_ATTEMPT_MS = 500;

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

/**
 * How long to wait before the next attempt, or undefined when there should be none. `remainingMs` is what is left
 * of the invocation's deadline: the wait plus MIN_ATTEMPT_MS must fit into it.
 */
export function nextDelay(
  error: DanaError,
  kind: CallKind,
  attempt: number,
  elapsedMs: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
  remainingMs = Number.POSITIVE_INFINITY,
): number | undefined {
  if (attempt >= policy.maxAttempts || !isRetryable(error, kind)) return undefined;
  const delay = Math.max(error.retryAfterMs ?? 0, backoffDelay(attempt - 1, policy, random));
  if (delay + MIN_ATTEMPT_MS > remainingMs) return undefined;
  return elapsedMs + delay <= policy.budgetMs ? delay : undefined;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs `attempt` until it succeeds or the policy says stop. The single retry loop of the client: DanaErrors
 * are retried by the table above, anything else is thrown at once. When the deadline leaves no room for another
 * attempt, the last error is thrown as it is (a 429 stays a 429: the caller learns when to come back).
 */
export async function withRetries<T>(
  kind: CallKind,
  policy: RetryPolicy,
  attempt: (n: number) => Promise<T>,
  clock: { now: () => number; random: () => number } = { now: Date.now, random: Math.random },
  deadline: Deadline = NO_DEADLINE,
): Promise<T> {
  return retryLoop(
    attempt,
    (error, n, elapsedMs) =>
      error instanceof DanaError
        ? nextDelay(error, kind, n, elapsedMs, policy, clock.random, deadline.remainingMs())
        : undefined,
    clock,
  );
}

/**
 * The one retry loop under every retry in the gateway (DANAConnect calls above, the AWS adapters' transient
 * failures, SQS and DynamoDB partial failures): runs `attempt` until it succeeds or `delayAfter` says stop
 * (undefined), sleeping the delay it names in between. Callers decide what is retryable; the loop only loops.
 */
export async function retryLoop<T>(
  attempt: (n: number) => Promise<T>,
  delayAfter: (error: unknown, n: number, elapsedMs: number) => number | undefined,
  clock: { now: () => number; sleep?: (ms: number) => Promise<void> } = { now: Date.now },
): Promise<T> {
  const started = clock.now();
  for (let n = 1; ; n++) {
    try {
      return await attempt(n);
    } catch (error) {
      const delay = delayAfter(error, n, clock.now() - started);
      if (delay === undefined) throw error;
      await (clock.sleep ?? sleep)(delay);
    }
  }
}

/**
 * The delay before retry `n + 1` under `policy` (full jitter), or undefined when the attempts or the budget are
 * spent. `notBefore` (e.g. a Retry-After) is a floor on the delay.
 */
export function policyDelay(
  n: number,
  elapsedMs: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
  notBefore = 0,
): number | undefined {
  if (n >= policy.maxAttempts) return undefined;
  const delay = Math.max(notBefore, backoffDelay(n - 1, policy, random));
  return elapsedMs + delay <= policy.budgetMs ? delay : undefined;
}
