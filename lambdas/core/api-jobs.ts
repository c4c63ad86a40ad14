/**
 * Jobs of the async HTTP API (`Prefer: respond-async`) and what `GET /jobs/{jobId}` answers, pure over the
 * JobStore and ChunkQueue ports: the records a request would have started synchronously become one chunk of
 * one job (at most 10 rows, DANAConnect's batch limit, so never more than one message), which the same worker
 * as uploads starts later, paced and exactly once.
 *
 * Job ids: with an `Idempotency-Key`, derived from the route and the key, so a client retrying the same request
 * gets the same job and nothing is started twice; the key alone identifies the request (its body is not
 * compared: a key must not be reused for a different request). Without one, random. Both are 32 lowercase hex
 * digits, like upload job ids (see validation.ts parseJobId).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { ChunkQueue, JobOperation, JobStore, JobSummary, RowOutcome } from './jobs';
import { hasAllOutcomes } from './reports';
import { chunkId } from './upload/chunker';
import type { DanaRecord } from './validation';

/** What a route's input becomes when the caller asks for an asynchronous answer. */
export interface ApiJobRequest {
  operation: JobOperation;
  /** 1..10 records; `batch` takes them all in one call, `data`/`project` exactly one. */
  records: DanaRecord[];
}

/** The job of a request: the same route and idempotency key always give the same id. */
export function apiJobId(route: string, idempotencyKey?: string): string {
  if (idempotencyKey === undefined) return randomBytes(16).toString('hex');
  return createHash('sha256')
    .update(JSON.stringify(['api', route, idempotencyKey]))
    .digest('hex')
    .slice(0, 32);
}

/**
 * Creates the job, queues its one chunk and ends its ingest; returns the job as it stands. Idempotent: a retry
 * of a job already `running` or `done` changes nothing, one still `ingesting` (an earlier attempt failed half
 * way) re-sends the same chunk, which the worker starts at most once (chunk ids are deterministic).
 * Nothing here talks to DANAConnect.
 */
export async function submitApiJob(
  deps: { jobs: JobStore; queue: ChunkQueue },
  route: string,
  request: ApiJobRequest,
  idempotencyKey?: string,
): Promise<JobSummary> {
  const jobId = apiJobId(route, idempotencyKey);
  const { operation, records } = request;
  const state = await deps.jobs.createJob({ jobId, source: 'api', operation, name: route });
  let job: JobSummary | undefined;
  if (state === 'created' || state === 'ingesting') {
    await deps.queue.sendChunks([
      {
        jobId,
        chunkId: chunkId(jobId, 0),
        operation,
        rows: records.map((record, index) => ({ row: index + 1, record })),
      },
    ]);
    job = await deps.jobs.finishIngest(jobId, { total: records.length, rejected: 0 });
  } else {
    job = await deps.jobs.getJob(jobId);
    if (!job) throw new Error(`job ${jobId} was reported to exist but cannot be read`);
  }
  // The worker finished before the ingest did (or an earlier attempt stopped right here): nobody else will
  // move the job to done. API jobs have no report, so this is all there is to do.
  if (job.state === 'running' && hasAllOutcomes(job) && (await deps.jobs.markDone(jobId))) {
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
