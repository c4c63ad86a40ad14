/**
 * The chunk worker: one queue message (a chunk of up to 10 rows of one job) -> one paced, idempotent call to
 * DANAConnect -> each row's outcome in the job store -> the job's reports once every row has one. Pure: the
 * queue, the store, the bucket, the limiter and the client are ports; the Lambda handler and the local queue
 * both call `processChunk` and act on its answer.
 *
 * Outcome rules (README "Outcome rules"):
 * | what happened                                        | rows                                   | message          |
 * |------------------------------------------------------|----------------------------------------|------------------|
 * | answer 2xx                                           | `started` (idResult) / `failed` (wsError slot) | done     |
 * | 400 / other 4xx: illegal argument                    | `failed`, DANAConnect's reason         | done             |
 * | 429 (Retry-After), 5xx, 401 after the client's refresh, not sent (refused, connect timeout), rate-limit wait too long, credentials unreadable | none yet: claim released | back later, growing delay |
 * | the same, on the last receive (`maxReceiveCount`)    | `failed` "dead-lettered: ..."          | on to the DLQ    |
 * | timeout / lost connection after sending, 2xx not JSON | `failed` "outcome unknown: ..."       | done (never resent) |
 * | an earlier claim ran out (worker crashed mid-call)   | `failed` "outcome unknown: worker stopped mid-call" | done |
 * | claimed by a live worker (concurrent duplicate)      | none (that worker records them)        | back after its lease |
 * | already done                                         | none                                   | done             |
 */
import type { DanaAnswer, DanaClient } from './dana-client';
import { DanaError, errorClass, InvalidInputError } from './errors';
import type { ChunkMessage, JobOperation, JobRow, JobStore, ObjectStore, RowOutcome } from './jobs';
import { PacingBusyError, type RateLimiter } from './pacing';
import { writeReport, writeReportIfDone } from './reports';
import { backoffDelay, DEFAULT_RETRY_POLICY } from './retry';
import { MAX_BATCH, parseId, parseRecord } from './validation';

/**
 * The worker's DANAConnect client makes one attempt per call: the worker, not the client, decides about retries,
 * through the queue (no hot loop inside a Lambda, and every call goes through the rate limiter). The client's
 * one credential refresh after a 401 stays.
 */
export const WORKER_CLIENT_RETRY = { maxAttempts: 1 } as const;

export interface RedeliveryPolicy {
  /** Ceiling of the delay after the first receive; doubles with every receive. */
  baseDelayMs: number;
  maxDelayMs: number;
}

/** 10 s, 20 s, 40 s, ... (each jittered between half and all of it), at most 15 min. */
export const DEFAULT_REDELIVERY: RedeliveryPolicy = { baseDelayMs: 10_000, maxDelayMs: 15 * 60_000 };
/** SQS refuses a visibility timeout above 12 hours. */
const MAX_VISIBILITY_MS = 12 * 60 * 60_000;
/** DANAConnect's descriptions go into reports; keep them to a sane length. */
const MAX_REASON_CHARS = 500;

export interface WorkerDeps {
  client: Pick<DanaClient, 'startBatch' | 'startData' | 'startDataByProject'>;
  jobs: JobStore;
  bucket: ObjectStore;
  limiter: RateLimiter;
  /** How long a claim may run before it counts as abandoned: longer than the worker can live (its timeout). */
  leaseMs: number;
  /** The queue's maxReceiveCount: on this receive a retryable failure becomes a dead-lettered outcome. */
  maxReceiveCount: number;
  now?: () => number;
  random?: () => number;
  redelivery?: RedeliveryPolicy;
}

export type ChunkResult =
  /** Delete the message. `outcomes`: the rows this call recorded (none for a duplicate). */
  | { kind: 'done'; outcomes: RowOutcome[] }
  /**
   * Hand the message back, visible again after `delayMs`. `deadLettered`: this was the last receive, the rows
   * are recorded as failed and the queue moves the message to its dead-letter queue. `reason` may quote
   * DANAConnect (it goes into reports); `errorClass` is the log-safe name of what happened.
   */
  | {
      kind: 'retry';
      delayMs: number;
      reason: string;
      errorClass: string;
      deadLettered: boolean;
      outcomes: RowOutcome[];
    };

/** What the worker makes of a failed call. */
type Verdict =
  | { kind: 'final'; error: string }
  | { kind: 'retry'; reason: string; errorClass: string; retryAfterMs?: number; retryAt?: number };

const truncate = (text: string) =>
  text.length <= MAX_REASON_CHARS ? text : `${text.slice(0, MAX_REASON_CHARS - 1)}…`;

/** The verdict on an error thrown while pacing or calling; see the table at the top. */
export function verdictOn(error: unknown): Verdict {
  if (error instanceof PacingBusyError) {
    return { kind: 'retry', reason: 'rate limit wait too long', errorClass: 'paced', retryAt: error.retryAt };
  }
  if (error instanceof InvalidInputError) return { kind: 'final', error: `invalid chunk: ${error.message}` };
  // Credentials unreadable, a malformed secret: nothing was sent; an operator can fix it before the last receive.
  if (!(error instanceof DanaError)) {
    const name = errorClass(error);
    return { kind: 'retry', reason: `${name} error before sending`, errorClass: name };
  }
  switch (error.kind) {
    case 'illegal_argument':
      return { kind: 'final', error: truncate(`refused by DANAConnect: ${error.message}`) };
    case 'throttled':
      return {
        kind: 'retry',
        reason: error.message,
        errorClass: error.kind,
        retryAfterMs: error.retryAfterMs,
      };
    case 'unauthorized':
    case 'upstream_internal':
      // A 5xx is taken as "not started" (the batch design's decision; see README "Outcome rules").
      return { kind: 'retry', reason: error.message, errorClass: error.kind };
    case 'timeout':
    case 'network':
    case 'unexpected_answer':
      return error.delivery === 'no'
        ? { kind: 'retry', reason: error.message, errorClass: error.kind }
        : { kind: 'final', error: truncate(`outcome unknown: ${error.message}`) };
  }
}

/** How long a message stays away after a retryable failure on its `receiveCount`-th receive (1-based). */
export function redeliveryDelay(
  receiveCount: number,
  retryAfterMs: number | undefined,
  policy: RedeliveryPolicy = DEFAULT_REDELIVERY,
  random: () => number = Math.random,
): number {
  const retry = Math.max(0, receiveCount - 1);
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** retry);
  // Between half and all of the ceiling: it grows with every receive, and concurrent messages spread out.
  const half = {
    ...DEFAULT_RETRY_POLICY,
    baseDelayMs: policy.baseDelayMs / 2,
    maxDelayMs: policy.maxDelayMs / 2,
  };
  const backoff = Math.ceil(ceiling / 2 + backoffDelay(retry, half, random));
  return Math.min(MAX_VISIBILITY_MS, Math.max(retryAfterMs ?? 0, backoff));
}

function outcomeOfSlot(row: number, answer: unknown): RowOutcome {
  if (typeof answer === 'object' && answer !== null) {
    const result = (answer as { wsResult?: unknown }).wsResult;
    if (typeof result === 'object' && result !== null) {
      const idResult = (result as { idResult?: unknown }).idResult;
      if (typeof idResult === 'number' && Number.isFinite(idResult)) {
        return { row, status: 'started', idResult };
      }
    }
    const ws = (answer as { wsError?: unknown }).wsError;
    if (typeof ws === 'object' && ws !== null) {
      const { idError, errorDescription } = ws as { idError?: unknown; errorDescription?: unknown };
      const description = typeof errorDescription === 'string' ? `: ${errorDescription}` : '';
      return { row, status: 'failed', error: truncate(`DANAConnect error ${String(idError)}${description}`) };
    }
  }
  return {
    row,
    status: 'failed',
    error: 'outcome unknown: DANAConnect answered without a result for this row',
  };
}

/** Each row's outcome from a 2xx answer. Never throws: what cannot be read is an unknown outcome, not a retry. */
export function outcomesOfAnswer(rows: JobRow[], operation: JobOperation, body: unknown): RowOutcome[] {
  if (operation.kind !== 'batch') return rows.map((r) => outcomeOfSlot(r.row, body));
  if (!Array.isArray(body) || body.length !== rows.length) {
    return rows.map((r) => ({
      row: r.row,
      status: 'failed',
      error: 'outcome unknown: the batch answer does not hold one result per row',
    }));
  }
  return rows.map((r, i) => outcomeOfSlot(r.row, body[i]));
}

function call(client: WorkerDeps['client'], message: ChunkMessage): Promise<DanaAnswer<unknown>> {
  const { operation, rows } = message;
  if (operation.kind === 'batch') {
    return client.startBatch(
      operation.conversationId,
      rows.map((r) => r.record),
    );
  }
  if (rows.length !== 1) {
    throw new InvalidInputError('chunk', `a ${operation.kind} chunk holds exactly one row`);
  }
  const record = rows[0]!.record;
  return operation.kind === 'data'
    ? client.startData(operation.conversationId, record)
    : client.startDataByProject(operation.projectId, record);
}

const failAll = (rows: JobRow[], error: string): RowOutcome[] =>
  rows.map((r) => ({ row: r.row, status: 'failed', error }));

/** Processes one delivery of a chunk message; `receiveCount` is the queue's (1 on the first delivery). */
export async function processChunk(
  deps: WorkerDeps,
  message: ChunkMessage,
  receiveCount: number,
): Promise<ChunkResult> {
  const now = deps.now ?? Date.now;
  const { jobId, chunkId, rows } = message;

  const finish = async (outcomes: RowOutcome[], deadLettered = false) => {
    const job = await deps.jobs.completeChunk(jobId, chunkId, outcomes, { deadLettered });
    // Already done: this chunk replaced dead-lettered outcomes (a redrive) of a job whose report is out, so the
    // report is written again (or, after a lost race, rewritten with the same content).
    if (job.state === 'done') await writeReport(deps, job);
    else await writeReportIfDone(deps, job);
    return outcomes;
  };

  const claim = await deps.jobs.claimChunk(jobId, chunkId, deps.leaseMs);
  switch (claim.kind) {
    case 'done': {
      // A duplicate, or the redelivery after a worker stopped between completing and reporting. A job already
      // `done` may have stopped after markDone but before its report was written (a crash, an S3 error): nothing
      // else would ever write it, so it is written again (same content: every outcome is final).
      const job = await deps.jobs.getJob(jobId);
      if (job?.state === 'done') await writeReport(deps, job);
      else if (job) await writeReportIfDone(deps, job);
      return { kind: 'done', outcomes: [] };
    }
    case 'busy':
      return {
        kind: 'retry',
        delayMs: Math.min(MAX_VISIBILITY_MS, Math.max(1, claim.retryInMs)),
        reason: 'chunk claimed by another worker',
        errorClass: 'busy',
        deadLettered: false,
        outcomes: [],
      };
    case 'abandoned':
      return {
        kind: 'done',
        outcomes: await finish(failAll(rows, 'outcome unknown: worker stopped mid-call')),
      };
    case 'claimed':
      break;
  }
  let answer: DanaAnswer<unknown>;
  try {
    await deps.limiter.acquire();
    answer = await call(deps.client, message);
  } catch (error) {
    const verdict = verdictOn(error);
    if (verdict.kind === 'final') {
      return { kind: 'done', outcomes: await finish(failAll(rows, verdict.error)) };
    }
    if (receiveCount >= deps.maxReceiveCount) {
      const outcomes = failAll(
        rows,
        truncate(`dead-lettered: ${verdict.reason} (after ${receiveCount} attempts)`),
      );
      await finish(outcomes, true);
      return {
        kind: 'retry',
        delayMs: 0,
        reason: verdict.reason,
        errorClass: verdict.errorClass,
        deadLettered: true,
        outcomes,
      };
    }
    // Provably not started: let the chunk run again later.
    await deps.jobs.releaseChunk(jobId, chunkId);
    const retryAfterMs = verdict.retryAt !== undefined ? verdict.retryAt - now() : verdict.retryAfterMs;
    return {
      kind: 'retry',
      delayMs: redeliveryDelay(receiveCount, retryAfterMs, deps.redelivery, deps.random),
      reason: verdict.reason,
      errorClass: verdict.errorClass,
      deadLettered: false,
      outcomes: [],
    };
  }
  return { kind: 'done', outcomes: await finish(outcomesOfAnswer(rows, message.operation, answer.body)) };
}

function parseOperation(raw: unknown): JobOperation {
  const op = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
  if (op.kind === 'batch' || op.kind === 'data') {
    return { kind: op.kind, conversationId: parseId('operation.conversationId', op.conversationId) };
  }
  if (op.kind === 'project')
    return { kind: 'project', projectId: parseId('operation.projectId', op.projectId) };
  throw new InvalidInputError('operation.kind', 'must be "batch", "data" or "project"');
}

/**
 * A queue message body as a ChunkMessage, checked with the one validator: a malformed message is refused (it
 * ends in the dead-letter queue), never half-processed. Reasons name fields, never values.
 */
export function parseChunkMessage(body: string): ChunkMessage {
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch {
    throw new InvalidInputError('message', 'is not JSON');
  }
  if (typeof raw !== 'object' || raw === null)
    throw new InvalidInputError('message', 'must be a JSON object');
  const { jobId, chunkId, operation, rows } = raw as Record<string, unknown>;
  if (typeof jobId !== 'string' || jobId.length === 0)
    throw new InvalidInputError('jobId', 'must be a string');
  if (typeof chunkId !== 'string' || chunkId.length === 0) {
    throw new InvalidInputError('chunkId', 'must be a string');
  }
  const op = parseOperation(operation);
  const max = op.kind === 'batch' ? MAX_BATCH : 1;
  if (!Array.isArray(rows) || rows.length < 1 || rows.length > max) {
    throw new InvalidInputError('rows', `must be an array of 1 to ${max} rows`);
  }
  const parsed = rows.map((item: unknown, i): JobRow => {
    const { row, record } = (typeof item === 'object' && item !== null ? item : {}) as Record<
      string,
      unknown
    >;
    if (typeof row !== 'number' || !Number.isSafeInteger(row) || row < 1) {
      throw new InvalidInputError(`rows[${i}].row`, 'must be an integer of at least 1');
    }
    return { row, record: parseRecord(`row ${row}`, record) };
  });
  return { jobId, chunkId, operation: op, rows: parsed };
}
