/**
 * Jobs of the async HTTP API (`Prefer: respond-async`) and what `GET /jobs/{jobId}` answers, pure over the
 * JobStore, ChunkQueue and IdempotencyStore ports: the records a request would have started synchronously become
 * one chunk of one job (at most 10 rows, DANAConnect's batch limit, so never more than one message), which the
 * same worker as uploads starts later, paced and exactly once.
 *
 * Job ids are always random: 32 lowercase hex digits, like upload job ids (see validation.ts parseJobId), so
 * knowing a request (or its `Idempotency-Key`) never tells anyone its job id. With an `Idempotency-Key`, the
 * key, scoped to the caller, method and path, is recorded with the body's fingerprint and the job id
 * (./idempotency.ts): a retry of the same request (even concurrent, even after it finished) gets the same job and
 * starts nothing twice; the same key with another body is refused (422) and starts nothing.
 */
import { randomBytes } from 'node:crypto';
import { jobIdForKey, type IdempotencyStore, type IdempotentRequest } from './idempotency';
import type { ChunkMessage, ChunkQueue, JobOperation, JobStore, JobSummary, RowOutcome } from './jobs';
import { hasAllOutcomes } from './reports';
import { chunkId } from './upload/chunker';
import type { DanaRecord } from './validation';

/** What a route's input becomes when the caller asks for an asynchronous answer. */
export interface ApiJobRequest {
  operation: JobOperation;
  /** 1..10 records; `batch` takes them all in one call, `data`/`project` exactly one. */
  records: DanaRecord[];
  /** The alias the request named the conversation by, shown in the jobs list. */
  alias?: string;
}

/** A new job id: random, 32 lowercase hex digits. */
export function newApiJobId(): string {
  return randomBytes(16).toString('hex');
}

/** What submitApiJob needs; `idempotency` only for requests with an `Idempotency-Key`. */
export interface ApiJobDeps {
  jobs: JobStore;
  queue: ChunkQueue;
  idempotency?: IdempotencyStore;
}

/**
 * Submits a request's job: a new one, or, with an `Idempotency-Key` (`idempotent`), the job the key already
 * stands for (see ./idempotency.ts; a key reused for another body throws the 422 before anything is created).
 * Returns the job as it stands. `owner`: the caller it belongs to (./job-access.ts), who alone reads it.
 */
export async function submitApiJob(
  deps: ApiJobDeps,
  route: string,
  request: ApiJobRequest,
  idempotent?: IdempotentRequest,
  owner?: string,
): Promise<JobSummary> {
  if (idempotent === undefined) return startApiJob(deps, route, request, newApiJobId(), owner);
  if (!deps.idempotency) throw new Error('an Idempotency-Key needs an idempotency store');
  const { jobId } = await jobIdForKey(deps.idempotency, idempotent, newApiJobId);
  return startApiJob(deps, route, request, jobId, owner);
}

/**
 * Creates the job `jobId`, queues its one chunk and ends its ingest; returns the job as it stands. Idempotent
 * per job id: a job already `running` or `done` is left as it is, one still `ingesting` (an earlier attempt
 * stopped half way, or a concurrent one is in the middle) gets the same chunk again, which the worker starts at
 * most once (chunk ids are deterministic). Nothing here talks to DANAConnect.
 */
export async function startApiJob(
  deps: { jobs: JobStore; queue: ChunkQueue },
  route: string,
  request: ApiJobRequest,
  jobId: string,
  owner?: string,
): Promise<JobSummary> {
  const { operation, records, alias } = request;
  const state = await deps.jobs.createJob({
    jobId,
    source: 'api',
    operation,
    name: route,
    ...(owner !== undefined && { owner }),
    ...(alias !== undefined && { alias }),
  });
  const chunk: ChunkMessage = {
    jobId,
    chunkId: chunkId(jobId, 0),
    operation,
    rows: records.map((record, index) => ({ row: index + 1, record })),
  };
  let job: JobSummary | undefined;
  let ingested = false;
  if (state === 'created' || state === 'ingesting') {
    await deps.queue.sendChunks([chunk]);
    job = await deps.jobs.finishIngest(jobId, { total: records.length, rejected: 0 });
    ingested = true;
  } else {
    job = await deps.jobs.getJob(jobId);
    if (!job) throw new Error(`job ${jobId} was reported to exist but cannot be read`);
  }
  // The worker finished before the ingest did (or an earlier attempt stopped right here): nobody else will
  // move the job to done. When this call ended the ingest, the chunk goes on the queue once more first: the
  // worker finds it done and settles the job (done, then its Job Finished event) with the queue's redeliveries
  // behind it, so a crash here loses no event. (A retry finding it so was left by a settle that stopped, whose
  // own redelivery announces it.)
  if (job.state === 'running' && hasAllOutcomes(job)) {
    if (ingested) await deps.queue.sendChunks([chunk]);
    await deps.jobs.markDone(jobId); // false when the worker was quicker: either way it is done now
    job = (await deps.jobs.getJob(jobId)) ?? job;
  }
  return job;
}

/** Outcomes listed by GET /jobs/{jobId}; an upload's report holds every row. */
export const MAX_LISTED_OUTCOMES = 1000;

/** The body of `GET /jobs/{jobId}`. */
export interface JobView {
  jobId: string;
  state: JobSummary['state'];
  total: number;
  started: number;
  rejected: number;
  failed: number;
  startedAt: string;
  finishedAt?: string;
  /** Row outcomes in row order, the first `MAX_LISTED_OUTCOMES` of them; rows still running are absent. */
  outcomes: RowOutcome[];
  /** More outcomes exist than are listed; `nextRow` is the first row left out. */
  truncated: boolean;
  nextRow?: number;
}

export async function jobView(
  jobs: JobStore,
  job: JobSummary,
  limit: number = MAX_LISTED_OUTCOMES,
): Promise<JobView> {
  const outcomes: RowOutcome[] = [];
  let nextRow: number | undefined;
  for await (const o of jobs.outcomes(job.jobId)) {
    if (outcomes.length >= limit) {
      nextRow = o.row;
      break;
    }
    outcomes.push({
      row: o.row,
      status: o.status,
      ...(o.idResult !== undefined && { idResult: o.idResult }),
      ...(o.error !== undefined && { error: o.error }),
    });
  }
  return {
    jobId: job.jobId,
    state: job.state,
    total: job.total,
    started: job.started,
    rejected: job.rejected,
    failed: job.failed,
    startedAt: job.startedAt,
    ...(job.finishedAt !== undefined && { finishedAt: job.finishedAt }),
    outcomes,
    truncated: nextRow !== undefined,
    ...(nextRow !== undefined && { nextRow }),
  };
}

/** Where a job can be read, under the base path the request came in on (e.g. API Gateway's `/prod`). */
export function jobLocation(basePath: string, jobId: string): string {
  return `${basePath}/jobs/${jobId}`;
}
