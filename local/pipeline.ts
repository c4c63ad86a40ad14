/**
 * The batch pipeline of `npm start`, in process, over the SAME core as in AWS: a file dropped into
 * `$LOCAL_BUCKET_DIR/uploads/{conversationId}/` (default `.local/bucket`) is ingested by core/ingest.ts
 * (ingestUpload over a FolderObjectStore), its chunks go through a MemoryChunkQueue (SQS semantics: receive
 * counts, delays, dead letters) to core/worker.ts processChunk (a MemoryRateLimiter, a MemoryJobStore and the
 * worker's DanaClient, pointed at the same DANAConnect or sandbox as the gateway), and the reports land under
 * `$LOCAL_BUCKET_DIR/reports/`. The async HTTP routes and GET /jobs use the same store and queue (see jobDeps),
 * and the async routes keep their `Idempotency-Key` records in a MemoryIdempotencyStore.
 *
 * Watching: the folder is polled (default every 500 ms); a file is taken once its size and mtime were the same
 * on two polls in a row, so a file still being copied is not read half-written. Its etag is `<mtime>-<size>`,
 * so dropping (or touching) the same file again makes a new job, while one that did not change is never taken
 * twice. Files present when the pipeline starts are left alone: the job store lives in memory, and taking them
 * again after a restart would start their contacts a second time. Dotfiles and `*.tmp` are ignored. Uploads are
 * ingested one at a time; their chunks are worked on concurrently, paced by DANA_RATE_LIMIT_PER_SECOND.
 *
 * Output: one line when a file is taken, a progress line per running job at most every second
 * (`job <id> <name>: 120/1000 rows done`), and a final line with the counts and the report's path. Lines name
 * files and counts, never row contents.
 */
import { lstat, mkdir, readdir } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { danaClientFromEnv } from '../lambdas/adapters/dana';
import { FolderObjectStore } from '../lambdas/adapters/folder-object-store';
import type { LocalJobDeps } from '../lambdas/adapters/job-deps';
import { MemoryAliasStore } from '../lambdas/adapters/memory-alias-store';
import { MemoryIdempotencyStore } from '../lambdas/adapters/memory-idempotency-store';
import { localWebhookEventsFromEnv } from '../lambdas/adapters/local-webhooks';
import { MemoryJobStore } from '../lambdas/adapters/memory-job-store';
import { MemoryChunkQueue, type MemoryQueueOptions } from '../lambdas/adapters/memory-queue';
import { errorClass } from '../lambdas/core/errors';
import { ingestUpload, uploadJobId } from '../lambdas/core/ingest';
import type { JobEventDeps } from '../lambdas/core/job-events';
import type { JobSummary } from '../lambdas/core/jobs';
import { MemoryRateLimiter, rateFromEnv } from '../lambdas/core/pacing';
import { reportKeys, reportSegment } from '../lambdas/core/reports';
import { parseUploadKey, UPLOAD_PREFIX } from '../lambdas/core/upload/key';
import { processChunk, WORKER_CLIENT_RETRY, type WorkerDeps } from '../lambdas/core/worker';
import { leaseFor, maxReceiveCountFromEnv, resendOn5xxFromEnv } from '../lambdas/process-chunk/handler';

export const DEFAULT_POLL_MS = 500;
export const DEFAULT_PROGRESS_MS = 1000;
/** The bucket name local job ids are derived from (with the key and the etag). */
const LOCAL_BUCKET = 'local';

export interface PipelineOptions {
  /** The bucket folder; default LOCAL_BUCKET_DIR, else `.local/bucket`. */
  bucketDir?: string;
  /** Where the worker's DanaClient, the rate and MAX_RECEIVE_COUNT come from; default process.env. */
  env?: NodeJS.ProcessEnv;
  pollMs?: number;
  progressMs?: number;
  /** Overrides of the in-process queue (e.g. concurrency). */
  queue?: Partial<MemoryQueueOptions>;
  /** Where progress lines go; default console.log. */
  log?: (line: string) => void;
  /** Called after each completed poll of the uploads folder (a test waits for polls, not for time). */
  onPoll?: () => void;
}

export interface Pipeline {
  /** Absolute path of the bucket folder. */
  bucketDir: string;
  jobs: MemoryJobStore;
  queue: MemoryChunkQueue;
  bucket: FolderObjectStore;
  /** The async routes' `Idempotency-Key` records (in memory, like the jobs they point at). */
  idempotency: MemoryIdempotencyStore;
  /** Conversation aliases, in this process beside the jobs: the gateway's alias routes and the ingest share them. */
  aliases: MemoryAliasStore;
  /** What the gateway installs so the async routes and GET /jobs use this store, queue and idempotency records. */
  jobDeps: LocalJobDeps;
  close(): Promise<void>;
}

interface Signature {
  size: number;
  mtimeMs: number;
}

const sameSignature = (a: Signature | undefined, b: Signature | undefined) =>
  a !== undefined && b !== undefined && a.size === b.size && a.mtimeMs === b.mtimeMs;

/** Every regular file under `dir` (recursively) with its size and mtime, by bucket key. */
async function listFiles(root: string, dir: string): Promise<Map<string, Signature>> {
  const files = new Map<string, Signature>();
  let names: string[];
  try {
    names = await readdir(dir, { recursive: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return files;
    throw error;
  }
  for (const name of names) {
    const parts = name.split(sep);
    if (parts.some((part) => part.startsWith('.')) || name.endsWith('.tmp')) continue;
    const path = join(dir, name);
    try {
      const stats = await lstat(path);
      if (!stats.isFile()) continue;
      files.set(relative(root, path).split(sep).join('/'), { size: stats.size, mtimeMs: stats.mtimeMs });
    } catch {
      // Gone between readdir and lstat: it shows up (or not) on the next poll.
    }
  }
  return files;
}

export async function startPipeline(options: PipelineOptions = {}): Promise<Pipeline> {
  const env = options.env ?? process.env;
  const log = options.log ?? ((line: string) => console.log(line));
  const bucket = new FolderObjectStore(options.bucketDir ?? (env.LOCAL_BUCKET_DIR || '.local/bucket'));
  const uploadsDir = join(bucket.root, UPLOAD_PREFIX);
  await mkdir(uploadsDir, { recursive: true });
  await mkdir(join(bucket.root, 'reports'), { recursive: true });

  const jobs = new MemoryJobStore();
  const idempotency = new MemoryIdempotencyStore();
  const aliases = new MemoryAliasStore();
  // LOCAL_WEBHOOK_URL + LOCAL_WEBHOOK_SECRET: a signed webhook for every finished job (docs/EVENTS.md).
  const events = localWebhookEventsFromEnv(env, bucket.root, log);
  const queue = workerQueue(env, { jobs, bucket, events }, log, options.queue);
  let closed = false;
  const isClosed = () => closed;
  const progress = new JobProgress(jobs, bucket.root, log);
  const watcher = new UploadWatcher(
    uploadsDir,
    { jobs, queue, bucket, events, aliases },
    progress,
    log,
    isClosed,
  );
  await watcher.leaveExistingAlone();
  const poll = async () => {
    await watcher.poll();
    options.onPoll?.();
  };
  const stopPolling = every(options.pollMs ?? DEFAULT_POLL_MS, poll, log, isClosed);
  const stopProgress = every(
    options.progressMs ?? DEFAULT_PROGRESS_MS,
    () => progress.report(),
    log,
    isClosed,
  );

  return {
    bucketDir: bucket.root,
    jobs,
    queue,
    bucket,
    idempotency,
    aliases,
    jobDeps: { jobs, queue, idempotency, aliases },
    async close() {
      closed = true;
      // No new deliveries; an ingest still sending chunks fails fast on the closed queue.
      queue.close();
      await stopPolling();
      await stopProgress();
      await watcher.ingesting;
      events?.publisher.close();
    },
  };
}

/** The in-process chunk queue, worked by core/worker.ts processChunk as in the process-chunk Lambda. */
function workerQueue(
  env: NodeJS.ProcessEnv,
  { jobs, bucket, events }: { jobs: MemoryJobStore; bucket: FolderObjectStore; events?: JobEventDeps },
  log: (line: string) => void,
  overrides: Partial<MemoryQueueOptions> | undefined,
): MemoryChunkQueue {
  const worker: Omit<WorkerDeps, 'leaseMs'> = {
    // As in the process-chunk Lambda: the worker, not the client, decides about retries.
    client: danaClientFromEnv(env, { retry: WORKER_CLIENT_RETRY }),
    jobs,
    bucket,
    limiter: new MemoryRateLimiter({ ratePerSecond: rateFromEnv(env) }),
    ...(events && { events }),
    maxReceiveCount: maxReceiveCountFromEnv(env),
    resendOn5xx: resendOn5xxFromEnv(env),
  };
  return new MemoryChunkQueue(
    async (message, receiveCount) => {
      const result = await processChunk({ ...worker, leaseMs: leaseFor(undefined) }, message, receiveCount);
      // A requeue (no pacing slot soon enough) comes back as a new message, spending no receive, as in AWS.
      return result.kind === 'done' ? result : { kind: result.kind, delayMs: result.delayMs };
    },
    {
      maxReceiveCount: worker.maxReceiveCount,
      onError: (error, message) =>
        log(`job ${message.jobId}: chunk failed (${errorClass(error)}), retried later`),
      ...overrides,
    },
  );
}

/** The progress of the upload jobs this pipeline started: a line when one moves on, a last one when it is done. */
class JobProgress {
  private readonly running = new Map<string, { name: string; last: string }>();

  constructor(
    private readonly jobs: MemoryJobStore,
    private readonly bucketRoot: string,
    private readonly log: (line: string) => void,
  ) {}

  track(jobId: string, name: string): void {
    this.running.set(jobId, { name, last: '' });
  }

  forget(jobId: string): void {
    this.running.delete(jobId);
  }

  async report(): Promise<void> {
    for (const [jobId, entry] of this.running) {
      const job = await this.jobs.getJob(jobId);
      if (!job) continue;
      const done = job.started + job.rejected + job.failed;
      if (job.state === 'done') {
        this.running.delete(jobId);
        this.log(
          `job ${jobId} ${entry.name}: done, ${job.total} rows: ${job.started} started, ${job.rejected} rejected, ` +
            `${job.failed} failed; report ${this.reportPath(job)}`,
        );
        continue;
      }
      const line = job.state === 'ingesting' ? 'reading the file' : `${done}/${job.total} rows done`;
      if (line !== entry.last) {
        entry.last = line;
        this.log(`job ${jobId} ${entry.name}: ${line}`);
      }
    }
  }

  private reportPath(job: JobSummary): string | undefined {
    const segment = reportSegment(job);
    return segment === undefined ? undefined : join(this.bucketRoot, reportKeys(segment, job.name).csv);
  }
}

/**
 * The folder watcher: a file is taken once two polls in a row saw the same size and mtime, and ingested one
 * upload at a time (see the top of this file).
 */
class UploadWatcher {
  private readonly previous = new Map<string, Signature>(); // what the last poll saw
  private readonly taken = new Map<string, Signature>(); // what was ingested (or left alone at start)
  private readonly pending: { key: string; signature: Signature }[] = [];
  /** The ingest under way, if any. */
  ingesting: Promise<void> | undefined;

  constructor(
    private readonly uploadsDir: string,
    private readonly deps: {
      jobs: MemoryJobStore;
      queue: MemoryChunkQueue;
      bucket: FolderObjectStore;
      events?: JobEventDeps;
      aliases: MemoryAliasStore;
    },
    private readonly progress: JobProgress,
    private readonly log: (line: string) => void,
    private readonly closed: () => boolean,
  ) {}

  /** Files there before the pipeline started are never taken (their jobs may have run before a restart). */
  async leaveExistingAlone(): Promise<void> {
    for (const [key, signature] of await listFiles(this.deps.bucket.root, this.uploadsDir)) {
      this.previous.set(key, signature);
      this.taken.set(key, signature);
    }
    if (this.taken.size > 0) {
      this.log(
        `${this.taken.size} file(s) already in ${this.uploadsDir} left alone; drop or touch a file to process it`,
      );
    }
  }

  async poll(): Promise<void> {
    const now = await listFiles(this.deps.bucket.root, this.uploadsDir);
    for (const [key, signature] of now) {
      const stable = sameSignature(this.previous.get(key), signature);
      if (stable && !sameSignature(this.taken.get(key), signature)) {
        this.taken.set(key, signature);
        this.pending.push({ key, signature });
      }
    }
    this.previous.clear();
    for (const [key, signature] of now) this.previous.set(key, signature);
    this.drainPending();
  }

  private drainPending(): void {
    if (this.ingesting || this.closed()) return;
    const next = this.pending.shift();
    if (!next) return;
    this.ingesting = this.ingestOne(next.key, next.signature).finally(() => {
      this.ingesting = undefined;
      this.drainPending();
    });
  }

  private async ingestOne(key: string, signature: Signature): Promise<void> {
    const parsed = parseUploadKey(key);
    if (parsed.kind === 'ignored') return;
    const upload = { bucket: LOCAL_BUCKET, key, etag: `${Math.trunc(signature.mtimeMs)}-${signature.size}` };
    // Known before the ingest ends, so a long file shows progress while it is read.
    const jobId = uploadJobId(upload);
    this.log(`upload ${key}: taken as job ${jobId}`);
    this.progress.track(jobId, parsed.name);
    try {
      const result = await ingestUpload(this.deps, { ...upload, size: signature.size });
      if ('rejectedFile' in result) {
        this.progress.forget(jobId);
        const report = join(this.deps.bucket.root, reportKeys(parsed.segment, parsed.name).summary);
        // The reason may quote the file's first line (values); it is in the report, not here.
        this.log(`upload ${key}: rejected as a whole; see ${report}`);
        return;
      }
    } catch (error) {
      this.progress.forget(jobId);
      if (!this.closed()) this.log(`upload ${key}: ingest failed (${errorClass(error)})`);
    }
  }
}

/** Runs `fn` every `ms`, never overlapping itself, until closed. */
function every(
  ms: number,
  fn: () => Promise<void>,
  log: (line: string) => void,
  closed: () => boolean,
): () => Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  let current: Promise<void> = Promise.resolve();
  const tick = () => {
    current = fn()
      .catch((error: unknown) => log(`local pipeline: ${errorClass(error)} error while watching`))
      .finally(() => {
        if (!closed()) timer = setTimeout(tick, ms);
      });
  };
  timer = setTimeout(tick, ms);
  return async () => {
    clearTimeout(timer);
    await current;
  };
}
