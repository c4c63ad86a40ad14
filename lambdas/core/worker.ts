/**
 * The chunk worker: one queue message (a chunk of up to 10 rows of one job) -> one paced, idempotent call to
 * DANAConnect -> each row's outcome in the job store -> the job's reports once every row has one. Pure: the
 * queue, the store, the bucket, the limiter and the client are ports; the Lambda handler and the local queue
 * both call `processChunk` and act on its answer.
 *
 * What each failure makes of the rows and the message is the "Outcome rules (worker)" table of
 * docs/OUTCOME-RULES.md, the one copy of it; `verdictOn` is its code. The order of steps is what keeps a never-sent row from being reported
 * "unknown": the pacing wait comes first and holds no claim (a timeout while waiting leaves nothing behind), the
 * claim is taken only with time left for the call and its bookkeeping, and a claim whose answer was lost is
 * recognised by its owner token.
 */
import { randomUUID } from 'node:crypto';
import type { DanaAnswer, DanaClient } from './dana-client';
import { deadlineAt, type Deadline } from './deadline';
import { DanaError, errorClass, InvalidInputError } from './errors';
import type { JobEventDeps } from './job-events';
import type {
  ChunkClaim,
  ChunkMessage,
  JobOperation,
  JobRow,
  JobStore,
  ObjectStore,
  RowOutcome,
} from './jobs';
import { PacingBusyError, type RateLimiter } from './pacing';
import { maskPersonalData } from './redaction';
import { settleJob } from './reports';
import { backoffDelay, DEFAULT_RETRY_POLICY } from './retry';
import { isChunkIdOf } from './upload/chunker';
import { MAX_BATCH, parseId, parseJobId, parseRecord } from './validation';

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
/**
 * The 5xx statuses after which a chunk is sent again: only those that prove nothing was acted on. 503 is the
 * vendor or its load balancer shedding load; a 500, 502 or 504 may come after DANAConnect started some or all of
 * the rows. An operator who knows their DANAConnect may add 500 (`batch.resendOn5xx`).
 */
export const DEFAULT_RESEND_ON_5XX: readonly number[] = [503];
/**
 * Kept back from the call for the bookkeeping after it (recording the outcomes, or a release, with their retries):
 * the call's own deadline ends this long before the invocation's.
 */
export const BOOKKEEPING_RESERVE_MS = 10_000;
/**
 * What a chunk needs after its pacing wait to be worth claiming: one attempt of the client's default timeout
 * (8 s) and the bookkeeping reserve. With less left, the worker claims nothing and hands the chunk back, so an
 * invocation's end never catches a claim before its call was sent.
 */
export const DEFAULT_CALL_WINDOW_MS = 8_000 + BOOKKEEPING_RESERVE_MS;
/** SQS refuses a visibility timeout above 12 hours. */
const MAX_VISIBILITY_MS = 12 * 60 * 60_000;
/** DANAConnect's descriptions go into reports and job answers; keep them to a sane length. */
const MAX_REASON_CHARS = 500;

export interface WorkerDeps {
  client: Pick<DanaClient, 'startBatch' | 'startData' | 'startDataByProject'>;
  jobs: JobStore;
  bucket: ObjectStore;
  limiter: RateLimiter;
  /** Where a job's Job Finished event goes (./job-events.ts); without it, none is published. */
  events?: JobEventDeps;
  /** How long a claim may run before it counts as abandoned: longer than the worker can live (its timeout). */
  leaseMs: number;
  /** The queue's maxReceiveCount: on this receive a retryable failure becomes a dead-lettered outcome. */
  maxReceiveCount: number;
  /** See DEFAULT_RESEND_ON_5XX. */
  resendOn5xx?: readonly number[];
  /** The invocation's deadline; without one, there is always time. */
  deadline?: Deadline;
  /** See DEFAULT_CALL_WINDOW_MS. */
  callWindowMs?: number;
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
    }
  /**
   * Nothing was claimed or sent (no pacing slot soon enough, no time left in this invocation): send the chunk
   * again as a new message visible after `delayMs` and delete this one, so that waiting never spends a receive
   * (and never dead-letters a chunk that was never sent).
   */
  | { kind: 'requeue'; delayMs: number; reason: string; errorClass: string };

/** What the worker makes of a failed call. */
type Verdict =
  | { kind: 'final'; error: string }
  | { kind: 'retry'; reason: string; errorClass: string; retryAfterMs?: number };

/**
 * A row's reason as it is kept (reports, job answers): DANAConnect's texts may echo a contact's email address or
 * phone number, masked here before it is cut (a cut could leave half an address unmasked), then cut to length.
 */
const reasonOf = (text: string) => {
  const masked = maskPersonalData(text);
  return masked.length <= MAX_REASON_CHARS ? masked : `${masked.slice(0, MAX_REASON_CHARS - 1)}…`;
};

/** The verdict on an error thrown by the call (docs/OUTCOME-RULES.md). */
export function verdictOn(error: unknown, resendOn5xx: readonly number[] = DEFAULT_RESEND_ON_5XX): Verdict {
  if (error instanceof InvalidInputError)
    return { kind: 'final', error: reasonOf(`invalid chunk: ${error.message}`) };
  // Credentials unreadable, a malformed secret: nothing was sent; an operator can fix it before the last receive.
  if (!(error instanceof DanaError)) {
    const name = errorClass(error);
    return { kind: 'retry', reason: `${name} error before sending`, errorClass: name };
  }
  const unknown = (): Verdict => ({ kind: 'final', error: reasonOf(`outcome unknown: ${error.message}`) });
  switch (error.kind) {
    case 'illegal_argument':
      return { kind: 'final', error: reasonOf(`refused by DANAConnect: ${error.message}`) };
    case 'throttled':
      return {
        kind: 'retry',
        reason: error.message,
        errorClass: error.kind,
        retryAfterMs: error.retryAfterMs,
      };
    case 'unauthorized':
      return { kind: 'retry', reason: error.message, errorClass: error.kind };
    case 'upstream_internal':
      return error.status !== undefined && resendOn5xx.includes(error.status)
        ? { kind: 'retry', reason: error.message, errorClass: error.kind }
        : unknown();
    case 'timeout':
    case 'network':
    case 'unexpected_answer':
      return error.delivery === 'no'
        ? { kind: 'retry', reason: error.message, errorClass: error.kind }
        : unknown();
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
      return { row, status: 'failed', error: reasonOf(`DANAConnect error ${String(idError)}${description}`) };
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

function call(
  client: WorkerDeps['client'],
  message: ChunkMessage,
  deadline: Deadline | undefined,
): Promise<DanaAnswer<unknown>> {
  const { operation, rows } = message;
  const options = deadline === undefined ? {} : { deadline };
  if (operation.kind === 'batch') {
    return client.startBatch(
      operation.conversationId,
      rows.map((r) => r.record),
      options,
    );
  }
  if (rows.length !== 1) {
    throw new InvalidInputError('chunk', `a ${operation.kind} chunk holds exactly one row`);
  }
  const record = rows[0]!.record;
  return operation.kind === 'data'
    ? client.startData(operation.conversationId, record, options)
    : client.startDataByProject(operation.projectId, record, options);
}

const failAll = (rows: JobRow[], error: string): RowOutcome[] =>
  rows.map((r) => ({ row: r.row, status: 'failed', error }));

const requeue = (delayMs: number, reason: string, errorClass: string): ChunkResult => ({
  kind: 'requeue',
  delayMs: Math.min(MAX_VISIBILITY_MS, Math.max(0, delayMs)),
  reason,
  errorClass,
});

/**
 * Waits for a pacing slot, holding no claim. No slot soon enough, or a limiter that cannot be reached: the chunk
 * is handed back without spending a receive (nothing was claimed or sent).
 */
async function pace(deps: WorkerDeps, receiveCount: number): Promise<ChunkResult | undefined> {
  const now = deps.now ?? Date.now;
  try {
    await deps.limiter.acquire();
    return undefined;
  } catch (error) {
    if (error instanceof PacingBusyError) {
      return requeue(error.retryAt - now(), 'rate limit wait too long', 'paced');
    }
    const delay = redeliveryDelay(receiveCount, undefined, deps.redelivery, deps.random);
    return requeue(delay, 'rate limiter unavailable', errorClass(error));
  }
}

/** Records a chunk's outcomes, then settles its job (done, reports). Returns the outcomes. */
async function finish(
  deps: WorkerDeps,
  message: ChunkMessage,
  outcomes: RowOutcome[],
  deadLettered = false,
): Promise<RowOutcome[]> {
  const job = await deps.jobs.completeChunk(message.jobId, message.chunkId, outcomes, { deadLettered });
  await settleJob(deps, job, deps.leaseMs);
  return outcomes;
}

/** A retryable failure: nothing was started. The chunk comes back later, or on its last receive is dead-lettered. */
async function handBack(
  deps: WorkerDeps,
  message: ChunkMessage,
  receiveCount: number,
  owner: string,
  verdict: Extract<Verdict, { kind: 'retry' }>,
): Promise<ChunkResult> {
  const { reason, errorClass } = verdict;
  if (receiveCount >= deps.maxReceiveCount) {
    const error = reasonOf(`dead-lettered: ${reason} (after ${receiveCount} attempts)`);
    const outcomes = await finish(deps, message, failAll(message.rows, error), true);
    return { kind: 'retry', delayMs: 0, reason, errorClass, deadLettered: true, outcomes };
  }
  await deps.jobs.releaseChunk(message.jobId, message.chunkId, owner);
  const delayMs = redeliveryDelay(receiveCount, verdict.retryAfterMs, deps.redelivery, deps.random);
  return { kind: 'retry', delayMs, reason, errorClass, deadLettered: false, outcomes: [] };
}

/** The one call to DANAConnect for a chunk this attempt has claimed, and what it makes of the rows. */
async function callAndRecord(
  deps: WorkerDeps,
  message: ChunkMessage,
  receiveCount: number,
  owner: string,
): Promise<ChunkResult> {
  let answer: DanaAnswer<unknown>;
  try {
    const callDeadline = deps.deadline && deadlineAt(deps.deadline.at - BOOKKEEPING_RESERVE_MS);
    answer = await call(deps.client, message, callDeadline);
  } catch (error) {
    const verdict = verdictOn(error, deps.resendOn5xx);
    if (verdict.kind === 'retry') return handBack(deps, message, receiveCount, owner, verdict);
    return { kind: 'done', outcomes: await finish(deps, message, failAll(message.rows, verdict.error)) };
  }
  const outcomes = outcomesOfAnswer(message.rows, message.operation, answer.body);
  return { kind: 'done', outcomes: await finish(deps, message, outcomes) };
}

/** Claims the chunk for this attempt; a claim that failed may have acted, so it is given back on the way out. */
async function claim(deps: WorkerDeps, message: ChunkMessage, owner: string): Promise<ChunkClaim> {
  try {
    return await deps.jobs.claimChunk(message.jobId, message.chunkId, deps.leaseMs, owner);
  } catch (error) {
    await deps.jobs.releaseChunk(message.jobId, message.chunkId, owner).catch(() => undefined);
    throw error;
  }
}

/** A chunk message the worker will not act on: malformed, or naming no job. Reasons name fields, never values. */
export class RefusedChunkError extends InvalidInputError {}

/**
 * Every chunk this gateway queues belongs to a job it created first (the ingest and the async routes create the
 * job, then send its chunks). A message naming no job was not sent by the gateway: it is refused before pacing,
 * claiming or calling, so it starts nothing (a RefusedChunk error: the doorway logs it and it ends in the
 * dead-letter queue, as a malformed message does).
 */
async function refuseUnknownJob(jobs: JobStore, jobId: string): Promise<void> {
  if (!(await jobs.getJob(jobId))) throw new RefusedChunkError('jobId', 'names no job of this gateway');
}

/** Processes one delivery of a chunk message; `receiveCount` is the queue's (1 on the first delivery). */
export async function processChunk(
  deps: WorkerDeps,
  message: ChunkMessage,
  receiveCount: number,
): Promise<ChunkResult> {
  await refuseUnknownJob(deps.jobs, message.jobId);
  const paced = await pace(deps, receiveCount);
  if (paced) return paced;
  if (deps.deadline && deps.deadline.remainingMs() < (deps.callWindowMs ?? DEFAULT_CALL_WINDOW_MS)) {
    return requeue(0, 'too little time left in this invocation to call', 'deadline');
  }
  const owner = randomUUID();
  const claimed = await claim(deps, message, owner);
  switch (claimed.kind) {
    case 'claimed':
      return callAndRecord(deps, message, receiveCount, owner);
    case 'done': {
      // A duplicate, or the redelivery after a worker stopped between recording and reporting: settle the job,
      // which writes a report that does not reflect its outcomes yet (and nothing if it does).
      const job = await deps.jobs.getJob(message.jobId);
      if (job) await settleJob(deps, job, deps.leaseMs);
      return { kind: 'done', outcomes: [] };
    }
    case 'busy':
      return {
        kind: 'retry',
        delayMs: Math.min(MAX_VISIBILITY_MS, Math.max(1, claimed.retryInMs)),
        reason: 'chunk claimed by another worker',
        errorClass: 'busy',
        deadLettered: false,
        outcomes: [],
      };
    case 'abandoned': {
      const outcomes = failAll(message.rows, 'outcome unknown: worker stopped mid-call');
      return { kind: 'done', outcomes: await finish(deps, message, outcomes) };
    }
  }
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
  const { jobId: rawJobId, chunkId, operation, rows } = raw as Record<string, unknown>;
  // Job and chunk ids as the gateway makes them (job ids: 32 hex digits; chunk ids: `<jobId>#<index>`).
  const jobId = parseJobId(rawJobId);
  if (typeof chunkId !== 'string' || !isChunkIdOf(jobId, chunkId)) {
    throw new InvalidInputError('chunkId', 'must be the jobId, "#" and a chunk index of 9 or more digits');
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
