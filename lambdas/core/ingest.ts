/**
 * The upload ingest, pure: key -> job -> streamed, validated rows -> chunks on the queue and rejections in the job
 * store -> end of ingest (and the report, when no row is left for a worker). Every step is idempotent, so a
 * duplicate S3 event or a retried invocation continues the same job: chunk ids are deterministic (the worker
 * dedups them) and rejections are recorded per row.
 */
import { InvalidInputError } from './errors';
import type {
  ChunkMessage,
  ChunkQueue,
  JobOperation,
  JobStore,
  JobSummary,
  ObjectStore,
  RowOutcome,
} from './jobs';
import type { JobEventDeps } from './job-events';
import { settleJob, writeRejectedUpload } from './reports';
import { Chunker, MAX_CHUNK_BYTES } from './upload/chunker';
import { parseUploadBatches } from './upload/index';
import { parseUploadKey, uploadJobId, type UploadKey } from './upload/key';
import {
  resolveConversation,
  UnknownAliasError,
  type AliasStore,
  type ResolvedConversation,
} from './aliases';
import { DEFAULT_UPLOAD_LIMITS, uploadLimitProblem, type UploadLimits } from './upload/limits';
import type { UploadRow } from './upload/rows';

export { decodeS3Key, parseUploadKey, uploadJobId, type UploadKey } from './upload/key';

/** Chunks per `sendChunks` call: one SendMessageBatch. */
export const CHUNKS_PER_SEND = 10;
/** Rejected rows per `recordRejected` call. */
export const REJECTED_PER_WRITE = 100;
/** Queue sends and job store writes in flight at once: the backpressure that keeps memory flat. */
export const DEFAULT_MAX_IN_FLIGHT = 8;

export interface IngestDeps {
  jobs: JobStore;
  queue: ChunkQueue;
  bucket: ObjectStore;
  /** Where a job's Job Finished event goes (./job-events.ts); without it, none is published. */
  events?: JobEventDeps;
  /** Resolves an alias in the key (`uploads/newsletter/…`); without it, such a key is rejected as a whole. */
  aliases?: Pick<AliasStore, 'get'>;
  now?: () => Date;
  maxInFlight?: number;
  /** `batch.maxUploadBytes` and `batch.maxRowsPerUpload` (./upload/limits.ts); DEFAULT_UPLOAD_LIMITS without. */
  limits?: UploadLimits;
}

/** The object an S3 event (or the local folder watcher) named. `key` is decoded (see decodeS3Key). */
export interface UploadObject {
  bucket: string;
  key: string;
  versionId?: string;
  etag?: string;
  /** In bytes, when known (an S3 event carries it): a file over the limit is then rejected without a read. */
  size?: number;
}

/** The ingest's answer: the job as it stands, or, for a file that could not be read at all, why. */
export type IngestResult = JobSummary | { rejectedFile: string };

/**
 * Runs async tasks at most `limit` at a time. `submit` waits while the limit is reached, so a producer faster
 * than the queue is slowed to its pace instead of piling up chunks; the first failure is thrown by the next
 * `submit` or by `drain`, after which nothing more is started.
 */
class BoundedTasks {
  private readonly running = new Set<Promise<void>>();
  private failure: { error: unknown } | undefined;

  constructor(private readonly limit: number) {}

  async submit(task: () => Promise<void>): Promise<void> {
    while (this.running.size >= this.limit && !this.failure) await Promise.race(this.running);
    this.throwIfFailed();
    const running: Promise<void> = task().then(
      () => void this.running.delete(running),
      (error: unknown) => {
        this.running.delete(running);
        this.failure ??= { error };
      },
    );
    this.running.add(running);
  }

  async drain(): Promise<void> {
    await Promise.all(this.running);
    this.throwIfFailed();
  }

  /** Waits for what is still running, whatever its outcome (on the way out after a failure). */
  async settle(): Promise<void> {
    await Promise.allSettled(this.running);
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure.error;
  }
}

const tooLargeReason = (row: number) =>
  `row ${row}: too large for one queue message (more than ${MAX_CHUNK_BYTES / 1024} KiB as JSON)`;

/**
 * A job the ingest did not run now (it ran before): settle it, so a job with every outcome but no report yet (the
 * run that finished it stopped before writing it; this event is then S3's retry of that run) gets one.
 */
async function existingJob(deps: IngestDeps, jobId: string): Promise<JobSummary> {
  const job = await deps.jobs.getJob(jobId);
  if (!job) throw new Error(`job ${jobId} was reported to exist but cannot be read`);
  return job.state === 'ingesting' ? job : settleJob(deps, job);
}

/**
 * Every row from `first` on: valid ones into chunks on the queue, the others into the job store as rejected,
 * each send submitted to `tasks` (drained by the caller). Returns how many rows were read and rejected.
 */
async function sendRows(
  deps: IngestDeps,
  tasks: BoundedTasks,
  jobId: string,
  operation: JobOperation,
  batches: AsyncGenerator<UploadRow[]>,
  first: IteratorResult<UploadRow[]>,
): Promise<{ total: number; rejected: number }> {
  const chunker = new Chunker(jobId, operation);
  let chunks: ChunkMessage[] = [];
  let rejected: RowOutcome[] = [];
  let total = 0;
  let rejectedCount = 0;
  const sendChunks = async () => {
    const batch = chunks;
    chunks = [];
    await tasks.submit(() => deps.queue.sendChunks(batch));
  };
  const recordRejected = async () => {
    const batch = rejected;
    rejected = [];
    await tasks.submit(() => deps.jobs.recordRejected(jobId, batch));
  };

  for (let next = first; !next.done; next = await batches.next()) {
    for (const item of next.value) {
      total++;
      // A valid row is a JobRow as it stands ({ row, record }): no copy.
      let error = 'error' in item ? item.error : undefined;
      if ('record' in item && !chunker.add(item, chunks)) error = tooLargeReason(item.row);
      if (error !== undefined) {
        rejected.push({ row: item.row, status: 'rejected', error });
        rejectedCount++;
        if (rejected.length >= REJECTED_PER_WRITE) await recordRejected();
      }
      if (chunks.length >= CHUNKS_PER_SEND) await sendChunks();
    }
  }
  chunker.finish(chunks);
  if (chunks.length > 0) await sendChunks();
  if (rejected.length > 0) await recordRejected();
  return { total, rejected: rejectedCount };
}

/**
 * The conversation an upload key names: its id, or its alias resolved now (a re-upload after a reactivation
 * follows the new id). An unknown alias is a whole-file rejection naming it; nothing is queued.
 */
async function uploadConversation(
  deps: IngestDeps,
  key: Extract<UploadKey, { kind: 'upload' }>,
): Promise<ResolvedConversation | { reason: string }> {
  if (key.alias === undefined) return { conversationId: key.conversationId! };
  if (!deps.aliases) return { reason: `conversationId: aliases are not available here ("${key.alias}")` };
  try {
    return await resolveConversation(key.alias, deps.aliases);
  } catch (error) {
    if (error instanceof UnknownAliasError) return { reason: error.message };
    throw error;
  }
}

/** The first batch of rows, or why the file cannot be read at all (a whole-file rejection). */
async function firstRows(
  batches: AsyncGenerator<UploadRow[]>,
): Promise<{ next: IteratorResult<UploadRow[]> } | { reason: string }> {
  try {
    return { next: await batches.next() };
  } catch (error) {
    if (error instanceof InvalidInputError && error.target === 'file') return { reason: error.reason };
    throw error;
  }
}

export async function ingestUpload(deps: IngestDeps, upload: UploadObject): Promise<IngestResult> {
  const now = deps.now ?? (() => new Date());
  const key = parseUploadKey(upload.key);
  // Callers skip these (see parseUploadKey); reaching here is a wiring mistake, not a bad upload.
  if (key.kind === 'ignored') throw new Error(`not an upload key: ${key.reason}`);

  const rejectFile = async (segment: string, name: string, reason: string): Promise<IngestResult> => {
    await writeRejectedUpload(deps.bucket, { segment, name, reason, at: now().toISOString() });
    return { rejectedFile: reason };
  };
  if (key.kind === 'rejected') return rejectFile(key.segment, key.name, key.reason);

  const readOptions = upload.versionId ? { versionId: upload.versionId } : {};
  // Before any job or chunk exists: a file beyond a limit is rejected whole.
  const limits = deps.limits ?? DEFAULT_UPLOAD_LIMITS;
  const overLimit = await uploadLimitProblem(key.format, upload.size, limits, () =>
    deps.bucket.read(upload.key, readOptions),
  );
  if (overLimit) return rejectFile(key.segment, key.name, overLimit);

  const conversation = await uploadConversation(deps, key);
  if ('reason' in conversation) return rejectFile(key.segment, key.name, conversation.reason);

  const bytes = await deps.bucket.read(upload.key, readOptions);
  const batches = parseUploadBatches(key.format, bytes);
  const tasks = new BoundedTasks(deps.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT);
  try {
    // Read up to the first rows before creating the job: a file that cannot be read at all gets no job.
    const first = await firstRows(batches);
    if ('reason' in first) return await rejectFile(key.segment, key.name, first.reason);
    const { next } = first;

    const jobId = uploadJobId(upload);
    const operation: JobOperation = { kind: 'batch', conversationId: conversation.conversationId };
    const alias = conversation.alias === undefined ? {} : { alias: conversation.alias };
    const state = await deps.jobs.createJob({
      jobId,
      source: 'upload',
      operation,
      name: key.name,
      uploadKey: upload.key,
      ...alias,
    });
    if (state === 'running' || state === 'done') return await existingJob(deps, jobId);

    const { total, rejected } = await sendRows(deps, tasks, jobId, operation, batches, next);
    await tasks.drain();

    const job = await deps.jobs.finishIngest(jobId, { total, rejected });
    // No row went to a worker (all rejected), or the workers finished before the ingest did: the report is ours.
    return settleJob(deps, job);
  } finally {
    // On an early end: stop reading (freeing the connection), and let nothing run on unobserved.
    await batches.return(undefined);
    await tasks.settle();
  }
}
