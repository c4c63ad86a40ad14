/**
 * Passing AWS failures, retried by the one retry loop (../core/retry.ts) inside the adapters, so that a write the
 * batch depends on (a claim, a chunk's outcomes, a release) survives what real AWS does and moto never does:
 * transaction conflicts on a hot item, throttling, a 500, a connection reset, a request that timed out.
 *
 * The SDK retries throttling and 5xx by itself, but not a cancelled transaction (`TransactionConflict`) nor a
 * single write that met one (`TransactionConflictException`), and its attempts are spent in a burst. Every
 * write retried here is conditional, so an attempt that acted and then failed its answer is safe to repeat:
 * the repeat fails its condition, and each caller reads that as "already done" (see the job store).
 */
import { policyDelay, retryLoop, type RetryPolicy } from '../core/retry';

const TRANSIENT_NAMES = new Set([
  'TransactionConflictException',
  'TransactionInProgressException',
  'ThrottlingException',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'SlowDown',
  'InternalServerError',
  'InternalFailure',
  'InternalError',
  'ServiceUnavailable',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
]);
const TRANSIENT_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED']);
/** Cancellation reasons that say "try again": anything else (a failed condition) is an answer. */
const TRANSIENT_REASONS = new Set([
  'TransactionConflict',
  'ThrottlingError',
  'ProvisionedThroughputExceeded',
]);

interface AwsErrorShape {
  name?: string;
  code?: string;
  cause?: { code?: string };
  $metadata?: { httpStatusCode?: number };
  CancellationReasons?: { Code?: string }[];
}

/** Whether repeating the same request may succeed. */
export function isTransientAwsError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const e = error as AwsErrorShape;
  if (e.name === 'TransactionCanceledException') {
    const codes = (e.CancellationReasons ?? []).map((r) => r.Code ?? 'None').filter((c) => c !== 'None');
    return codes.length > 0 && codes.every((code) => TRANSIENT_REASONS.has(code));
  }
  if (e.name !== undefined && TRANSIENT_NAMES.has(e.name)) return true;
  if ((e.$metadata?.httpStatusCode ?? 0) >= 500) return true;
  const code = e.code ?? e.cause?.code;
  return code !== undefined && TRANSIENT_CODES.has(code);
}

/**
 * For the batch's bookkeeping writes: many short jittered waits, 20 s in all, which the worker's timeout budgets
 * for (infra/worker-budget.ts). Many attempts because a conflict on the hot job item is brief but, at worker
 * concurrency 20, frequent; each attempt is bounded by the client's request timeout.
 */
export const AWS_WRITE_RETRY: RetryPolicy = {
  maxAttempts: 60,
  baseDelayMs: 20,
  maxDelayMs: 1_000,
  budgetMs: 20_000,
};

/** Runs `send` until it succeeds, fails for good, or the policy is spent. */
export function withAwsRetries<T>(
  send: () => Promise<T>,
  policy: RetryPolicy = AWS_WRITE_RETRY,
  random: () => number = Math.random,
): Promise<T> {
  return retryLoop(
    () => send(),
    (error, n, elapsedMs) =>
      isTransientAwsError(error) ? policyDelay(n, elapsedMs, policy, random) : undefined,
  );
}
