/**
 * The worker's time budget, in one place, because four numbers must agree (defect 3 of "never twice, never
 * lost"): the function's timeout, the pacing wait, the claim's lease and the queue's visibility timeout.
 *
 * - Timeout = the longest pacing wait (every chunk that can wait at once gets its slot: see pacingWaitBudgetMs)
 *   + WORKER_BASE_TIMEOUT_SECONDS for one chunk's work after it: one DANAConnect call (8 s an attempt, or two
 *   around a credential refresh, with the secret and a token), the bookkeeping writes with their retries
 *   (lambdas/adapters/aws-retry.ts, 20 s each at worst), and, for the chunk that finishes a job, streaming
 *   its report to S3 (a million rows is about 100 MB). The worker claims a chunk only with
 *   DEFAULT_CALL_WINDOW_MS left (lambdas/core/worker.ts), so the timeout never catches a claim before its call.
 * - Lease = the invocation's remaining time + 60 s (lambdas/process-chunk/handler.ts): a claim outlives the
 *   invocation that made it, so a live worker's chunk is never taken as abandoned.
 * - Visibility timeout = 6 × the timeout (AWS's advice for Lambda event sources): a message comes back only after
 *   the lease of the invocation that had it has run out, so the redelivery decides (abandoned or free) for good.
 */
import { pacingWaitBudgetMs } from '../lambdas/core/pacing';

/** Chunks per invocation, processed concurrently (the rate limiter spaces the calls); each is up to 10 rows. */
export const PROCESS_CHUNK_BATCH_SIZE = 5;
/** One chunk's work after its pacing slot; see above. */
export const WORKER_BASE_TIMEOUT_SECONDS = 115;
export const MAX_LAMBDA_TIMEOUT_SECONDS = 900;

/** The longest pacing wait of the deployed workers (DANA_PACING_MAX_WAIT_MS). */
export function workerPacingWaitMs(ratePerSecond: number, maxConcurrency: number): number {
  return pacingWaitBudgetMs(ratePerSecond, maxConcurrency * PROCESS_CHUNK_BATCH_SIZE);
}

/** The worker's timeout for a pacing wait of `waitMs`: 120 s at the default 5 s wait. */
export function workerTimeoutSeconds(waitMs: number): number {
  return WORKER_BASE_TIMEOUT_SECONDS + Math.ceil(waitMs / 1000);
}
