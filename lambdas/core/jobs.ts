/**
 * Batch jobs: the shapes that travel between the ingest (S3 upload or async HTTP request), the queue, the worker
 * and the report, and the ports the core needs for them. AWS adapters (SQS, S3, DynamoDB) and embedded twins
 * (in-process queue, folder, memory) implement the ports; the core never sees an SDK.
 */
import type { DanaRecord } from './validation';

/** Where a job's rows came from. */
export type JobSource = 'upload' | 'api';

/** Which DANAConnect operation starts a job's rows. Uploads always use `batch` (start/list/data). */
export type JobOperation =
  | { kind: 'batch'; conversationId: number }
  | { kind: 'data'; conversationId: number }
  | { kind: 'project'; projectId: number };

/** One row to start, with its 1-based data row number in the upload (or index + 1 in an API request). */
export interface JobRow {
  row: number;
  record: DanaRecord;
}

/** The SQS message body: up to 10 rows of one job, started with one DANAConnect call. */
export interface ChunkMessage {
  jobId: string;
  /** Deterministic (`<jobId>#<chunkIndex>`), so a re-ingest of the same object produces the same ids. */
  chunkId: string;
  operation: JobOperation;
  rows: JobRow[];
}

export type RowStatus = 'started' | 'rejected' | 'failed';

/** A row's final outcome, as it appears in the report. */
export interface RowOutcome {
  row: number;
  status: RowStatus;
  /** DANAConnect's idResult for a started row. */
  idResult?: number;
  /** Why a row was rejected or failed; never contains field values. */
  error?: string;
}

export type JobState = 'ingesting' | 'running' | 'done';

export interface JobSummary {
  jobId: string;
  source: JobSource;
  operation: JobOperation;
  /** For uploads: the report name (the upload's file name) and its conversation. */
  name: string;
  /** Who made it (an API caller, ./job-access.ts); absent for uploads, which belong to no API caller. */
  owner?: string;
  /** For uploads: the object's key (`uploads/1001/…/march.csv`). */
  uploadKey?: string;
  /** The alias the conversation was named by, when it was. */
  alias?: string;
  state: JobState;
  total: number;
  started: number;
  rejected: number;
  failed: number;
  startedAt: string;
  finishedAt?: string;
  /** Bumped by every recorded chunk: the version of the job's outcomes that a report reflects. */
  rev?: number;
  /** The `rev` of the last report written in full (absent: none yet). */
  reportedRev?: number;
  /** The Job Finished event was accepted by the bus (./job-events.ts); until then every settle publishes it. */
  eventPublished?: boolean;
}

/** What createJob records; `owner`, `uploadKey` and `alias` are fixed for the job's life. */
export interface NewJob {
  jobId: string;
  source: JobSource;
  operation: JobOperation;
  name: string;
  owner?: string;
  uploadKey?: string;
  alias?: string;
}

/**
 * One page of a jobs list. Jobs sort by their position, `<startedAt>#<jobId>` (ISO instants sort as text; the id
 * breaks ties), newest first; `before` continues after the last position examined. A store reads at most
 * `budget` index entries per call, so a rare `state` may give a short (even empty) page with `lastPosition`.
 */
export interface JobListQuery {
  owners: readonly string[];
  limit: number;
  state?: JobState;
  before?: string;
  budget?: number;
}

export interface JobListPage {
  jobs: JobSummary[];
  /** Where the next page starts (exclusive); absent when nothing older is left. */
  lastPosition?: string;
}

/** A job's place in its owner's list. */
export const listPosition = (job: Pick<JobSummary, 'startedAt' | 'jobId'>) => `${job.startedAt}#${job.jobId}`;

/** The queue of chunks. `sendChunks` must not drop anything: entries the queue refuses are retried or thrown. */
export interface ChunkQueue {
  sendChunks(chunks: ChunkMessage[]): Promise<void>;
}

/** What the worker found when it tried to claim a chunk. */
export type ChunkClaim =
  /**
   * First time (or again after a release): the caller may call DANAConnect. `redriven` when the chunk had been
   * dead-lettered: its earlier failure was provably not a start, and the new outcomes replace the old ones.
   */
  | { kind: 'claimed'; redriven?: boolean }
  /** Already finished: nothing to do (a redelivery or a duplicate). */
  | { kind: 'done' }
  /**
   * Claimed before by a worker that never finished (it crashed, or timed out): whether DANAConnect started its
   * rows cannot be known, so they must be reported as failed with an unknown outcome, never sent again.
   */
  | { kind: 'abandoned' }
  /**
   * Claimed by a worker whose lease still runs (a concurrent duplicate delivery): try again in `retryInMs`,
   * when it has either finished (then `done`) or stopped (then `abandoned`).
   */
  | { kind: 'busy'; retryInMs: number };

/**
 * The job store: job summaries, per-row outcomes and chunk idempotency. DynamoDB in AWS, memory locally.
 * Every method is idempotent, because every caller may run twice (duplicate events, redeliveries, retries).
 */
export interface JobStore {
  /**
   * Creates the job in state `ingesting`, or returns the state of the one that exists. The ingest goes on when
   * it is `ingesting` (a retried or duplicate ingest: chunk ids are deterministic, so re-sending is harmless)
   * and stops when it is `running` or `done`.
   */
  createJob(job: NewJob): Promise<JobState | 'created'>;
  /** Final outcomes the ingest decided itself (rejected rows). Idempotent per row number. */
  recordRejected(jobId: string, outcomes: RowOutcome[]): Promise<void>;
  /** The ingest is over: `total` rows, `rejected` of them rejected. Returns the job as it now stands. */
  finishIngest(jobId: string, totals: { total: number; rejected: number }): Promise<JobSummary>;
  /**
   * Chunk idempotency: see ChunkClaim. `leaseMs` is how long a claim may run before it counts as abandoned.
   * `owner` is this attempt's own token: a claim already held by the same owner is `claimed` again, so an
   * attempt whose claim acted but whose answer was lost (a timeout, a 500) can repeat it and know it holds it.
   */
  claimChunk(jobId: string, chunkId: string, leaseMs: number, owner: string): Promise<ChunkClaim>;
  /**
   * Records the chunk's outcomes and adds them to the job's counts, once. Returns the job as it now stands.
   * `deadLettered`: the outcomes are "dead-lettered" failures, which a later claim may replace (see ChunkClaim);
   * replacing moves the counts (e.g. failed -> started) so that their sum stays the same.
   */
  completeChunk(
    jobId: string,
    chunkId: string,
    outcomes: RowOutcome[],
    options?: { deadLettered?: boolean },
  ): Promise<JobSummary>;
  /** Releases `owner`'s claim when DANAConnect provably did not act (e.g. 429), so it can run again. */
  releaseChunk(jobId: string, chunkId: string, owner: string): Promise<void>;
  /** Moves a finished job (all rows have outcomes) to `done`, once; true for the caller that did it (it writes the report). */
  markDone(jobId: string): Promise<boolean>;
  getJob(jobId: string): Promise<JobSummary | undefined>;
  /**
   * Jobs of the given owners (SHARED_OWNER for uploads), newest first, never a scan: see JobListQuery. Every job
   * is listed until it expires.
   */
  listJobs(query: JobListQuery): Promise<JobListPage>;
  /**
   * The right to write a done job's report, for `leaseMs`: the job as it stands, or undefined when the job is not
   * done or another writer's lease still runs (that writer checks for newer outcomes before it lets go).
   */
  takeReportLease(jobId: string, owner: string, leaseMs: number): Promise<JobSummary | undefined>;
  /** Ends `owner`'s lease; with `reportedRev`, recording that the report now reflects that revision. */
  releaseReportLease(jobId: string, owner: string, reportedRev?: number): Promise<void>;
  /** Records that the job's Job Finished event was published (the outbox flag; idempotent). */
  markEventPublished(jobId: string): Promise<void>;
  /**
   * Every row outcome of the job, in row order, each row once. Streams: rejected rows and chunk outcomes are
   * merged on the fly, which relies on chunks being numbered in row order (chunk ids are cut in file order).
   */
  outcomes(jobId: string): AsyncIterable<RowOutcome>;
}

/** The bucket (S3, or a folder locally). */
export interface ObjectStore {
  /**
   * Streams an object's bytes. `versionId`, when given, pins the version an event named (stores without versions
   * ignore it), so a retried ingest reads the same bytes its job id was derived from.
   */
  read(key: string, options?: { versionId?: string }): Promise<AsyncIterable<Uint8Array>>;
  write(key: string, body: string | AsyncIterable<string>, contentType: string): Promise<void>;
}

/**
 * What a claim finds on a chunk that is already `done` or `claimed` (both job stores decide the same way): a
 * claim whose lease still runs is busy; one whose lease ran out was abandoned mid-call.
 */
export function claimOfHeldChunk(state: 'done' | 'claimed', claimedUntil: number, now: number): ChunkClaim {
  if (state === 'done') return { kind: 'done' };
  const left = claimedUntil - now;
  return left > 0 ? { kind: 'busy', retryInMs: left } : { kind: 'abandoned' };
}

/**
 * How recording a chunk's outcomes moves the job's counts. `replaced`: the outcomes they replace (a redriven
 * chunk's dead-lettered failures), which come off the counts so that their sum stays the same.
 */
export function countsDelta(
  outcomes: readonly RowOutcome[],
  replaced: readonly RowOutcome[] = [],
): { started: number; failed: number } {
  const count = (list: readonly RowOutcome[], status: RowStatus) =>
    list.filter((o) => o.status === status).length;
  return {
    started: count(outcomes, 'started') - count(replaced, 'started'),
    failed: count(outcomes, 'failed') - count(replaced, 'failed'),
  };
}
