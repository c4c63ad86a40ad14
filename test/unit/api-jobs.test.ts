/**
 * Jobs of the async HTTP API (lambdas/core/api-jobs.ts) over the memory job store, the memory idempotency store
 * and a recording queue.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MemoryIdempotencyStore } from '../../lambdas/adapters/memory-idempotency-store';
import { MemoryJobStore } from '../../lambdas/adapters/memory-job-store';
import {
  jobLocation,
  jobView,
  MAX_LISTED_OUTCOMES,
  newApiJobId,
  startApiJob,
  submitApiJob,
} from '../../lambdas/core/api-jobs';
import { InvalidInputError } from '../../lambdas/core/errors';
import type { IdempotentRequest } from '../../lambdas/core/idempotency';
import type { ChunkMessage, ChunkQueue } from '../../lambdas/core/jobs';
import { parseJobId } from '../../lambdas/core/validation';

class RecordingQueue implements ChunkQueue {
  readonly sent: ChunkMessage[] = [];
  failNext = false;
  async sendChunks(chunks: ChunkMessage[]): Promise<void> {
    if (this.failNext) {
      this.failNext = false;
      throw new Error('queue unavailable');
    }
    this.sent.push(...structuredClone(chunks));
  }
}

const batch = {
  operation: { kind: 'batch' as const, conversationId: 1001 },
  records: [{ NAME: 'Ada' }, { NAME: 'Alan' }, { NAME: 'Joan' }],
};
const batchBody = [{ NAME: 'Ada' }, { NAME: 'Alan' }, { NAME: 'Joan' }];

const keyed = (key: string, overrides: Partial<IdempotentRequest> = {}): IdempotentRequest => ({
  caller: 'iam:arn:aws:iam::123456789012:user/a',
  method: 'POST',
  path: '/api/1.0/rest/conversation/1001/start/list/data',
  key,
  body: batchBody,
  ...overrides,
});

const fresh = () => ({
  jobs: new MemoryJobStore(),
  queue: new RecordingQueue(),
  idempotency: new MemoryIdempotencyStore(),
});

describe('api job ids', () => {
  it('are 32 lowercase hex digits, as parseJobId accepts, and random', () => {
    const a = newApiJobId();
    expect(parseJobId(a)).toBe(a);
    expect(a).not.toBe(newApiJobId());
  });

  it('cannot be derived from the Idempotency-Key: the same keyed request in two deployments gets two ids', async () => {
    const key = 'order-42';
    const one = await submitApiJob(fresh(), 'start-batch', batch, keyed(key));
    const two = await submitApiJob(fresh(), 'start-batch', batch, keyed(key));
    expect(parseJobId(one.jobId)).toBe(one.jobId);
    expect(one.jobId).not.toBe(two.jobId);
    // Not any hash of the key either (the old derivation was sha256(["api", route, key]) cut to 32 digits).
    const hashes = [key, JSON.stringify(['api', 'start-batch', key])].map((text) =>
      createHash('sha256').update(text).digest('hex'),
    );
    for (const hash of hashes) for (const id of [one.jobId, two.jobId]) expect(hash).not.toContain(id);
  });
});

describe('submitApiJob', () => {
  it('creates the job, queues one chunk of the records in order and ends the ingest', async () => {
    const { jobs, queue } = fresh();
    const job = await submitApiJob({ jobs, queue }, 'start-batch', batch);
    expect(job).toMatchObject({
      source: 'api',
      name: 'start-batch',
      state: 'running',
      total: 3,
      rejected: 0,
    });
    expect(queue.sent).toEqual([
      {
        jobId: job.jobId,
        chunkId: `${job.jobId}#000000000`,
        operation: { kind: 'batch', conversationId: 1001 },
        rows: [
          { row: 1, record: { NAME: 'Ada' } },
          { row: 2, record: { NAME: 'Alan' } },
          { row: 3, record: { NAME: 'Joan' } },
        ],
      },
    ]);
  });

  it('without a key, every request is a new job', async () => {
    const deps = fresh();
    const a = await submitApiJob(deps, 'start-batch', batch);
    const b = await submitApiJob(deps, 'start-batch', batch);
    expect(a.jobId).not.toBe(b.jobId);
    expect(deps.queue.sent).toHaveLength(2);
  });

  it('with the same key, caller, path and body: the same job, and nothing queued again once it runs', async () => {
    const deps = fresh();
    const first = await submitApiJob(deps, 'start-batch', batch, keyed('k-1'));
    const again = await submitApiJob(deps, 'start-batch', batch, keyed('k-1'));
    expect(again.jobId).toBe(first.jobId);
    expect(deps.queue.sent).toHaveLength(1);
  });

  it('concurrent repeats join one job: one job, one chunk id, whatever the interleaving', async () => {
    const deps = fresh();
    const jobsSeen = await Promise.all(
      Array.from({ length: 5 }, () => submitApiJob(deps, 'start-batch', batch, keyed('k-c'))),
    );
    expect(new Set(jobsSeen.map((j) => j.jobId)).size).toBe(1);
    const jobId = jobsSeen[0]!.jobId;
    expect(new Set(deps.queue.sent.map((c) => c.chunkId))).toEqual(new Set([`${jobId}#000000000`]));
  });

  it('the same key with another body is refused with 422 (9422) and creates and queues nothing', async () => {
    const deps = fresh();
    const first = await submitApiJob(deps, 'start-batch', batch, keyed('k-2'));
    const other = { ...batch, records: [{ NAME: 'Grace' }] };
    const refused = await submitApiJob(
      deps,
      'start-batch',
      other,
      keyed('k-2', { body: [{ NAME: 'Grace' }] }),
    ).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(InvalidInputError);
    expect(refused).toMatchObject({ target: 'Idempotency-Key', code: 'IDEMPOTENCY_KEY_REUSED' });
    expect(deps.queue.sent.map((c) => c.jobId)).toEqual([first.jobId]);
  });

  it('the same key from another caller, or on another path, is another request', async () => {
    const deps = fresh();
    const a = await submitApiJob(deps, 'start-batch', batch, keyed('k-3'));
    const b = await submitApiJob(deps, 'start-batch', batch, keyed('k-3', { caller: 'api-key:other' }));
    const c = await submitApiJob(
      deps,
      'start-batch',
      batch,
      keyed('k-3', { path: '/api/1.0/rest/conversation/1002/start/list/data' }),
    );
    expect(new Set([a.jobId, b.jobId, c.jobId]).size).toBe(3);
    expect(deps.queue.sent).toHaveLength(3);
  });

  it('a key without an idempotency store is a wiring mistake, not a silent new job', async () => {
    const { jobs, queue } = fresh();
    await expect(submitApiJob({ jobs, queue }, 'start-batch', batch, keyed('k-4'))).rejects.toThrow(
      'idempotency store',
    );
    expect(queue.sent).toEqual([]);
  });

  it('an attempt that failed half way is finished by the retry with the same key (same job, same chunk id)', async () => {
    const deps = fresh();
    deps.queue.failNext = true;
    await expect(submitApiJob(deps, 'start-data', batch, keyed('k-5'))).rejects.toThrow('queue unavailable');
    const retried = await submitApiJob(deps, 'start-data', batch, keyed('k-5'));
    expect(retried).toMatchObject({ state: 'running', total: 3 });
    expect(deps.queue.sent.map((c) => c.chunkId)).toEqual([`${retried.jobId}#000000000`]);
  });

  it('moves the job to done when the worker finished before the ingest did', async () => {
    const jobs = new MemoryJobStore();
    const jobId = newApiJobId();
    // The worker, faster than the ingest: its chunk completes while the job is still ingesting.
    const queue: ChunkQueue = {
      sendChunks: async ([chunk]) => {
        await jobs.claimChunk(jobId, chunk!.chunkId, 60_000, 'api-jobs-test');
        await jobs.completeChunk(
          jobId,
          chunk!.chunkId,
          chunk!.rows.map((r) => ({ row: r.row, status: 'started', idResult: 100 + r.row })),
        );
      },
    };
    const job = await startApiJob({ jobs, queue }, 'start-batch', batch, jobId);
    expect(job).toMatchObject({ state: 'done', started: 3, total: 3 });
    expect(job.finishedAt).toBeTruthy();
  });
});

describe('jobView', () => {
  it('lists the outcomes in row order with only their own fields', async () => {
    const jobs = new MemoryJobStore();
    const queue = new RecordingQueue();
    const job = await submitApiJob({ jobs, queue }, 'start-batch', batch);
    const chunkId = queue.sent[0]!.chunkId;
    await jobs.claimChunk(job.jobId, chunkId, 60_000, 'api-jobs-test');
    await jobs.completeChunk(job.jobId, chunkId, [
      { row: 2, status: 'failed', error: 'EMAIL: invalid' },
      { row: 1, status: 'started', idResult: 3663 },
      { row: 3, status: 'started', idResult: 3664 },
    ]);
    await jobs.markDone(job.jobId);
    const view = await jobView(jobs, (await jobs.getJob(job.jobId))!);
    expect(view).toEqual({
      jobId: job.jobId,
      state: 'done',
      total: 3,
      started: 2,
      rejected: 0,
      failed: 1,
      startedAt: job.startedAt,
      finishedAt: expect.any(String),
      outcomes: [
        { row: 1, status: 'started', idResult: 3663 },
        { row: 2, status: 'failed', error: 'EMAIL: invalid' },
        { row: 3, status: 'started', idResult: 3664 },
      ],
      truncated: false,
    });
  });

  it(`lists at most ${MAX_LISTED_OUTCOMES} outcomes and says where the rest begins`, async () => {
    const jobs = new MemoryJobStore();
    const jobId = newApiJobId();
    await jobs.createJob({ jobId, source: 'upload', operation: batch.operation, name: 'big' });
    const total = MAX_LISTED_OUTCOMES + 5;
    await jobs.recordRejected(
      jobId,
      Array.from({ length: total }, (_, i) => ({ row: i + 1, status: 'rejected' as const, error: 'x' })),
    );
    await jobs.finishIngest(jobId, { total, rejected: total });
    const view = await jobView(jobs, (await jobs.getJob(jobId))!);
    expect(view.outcomes).toHaveLength(MAX_LISTED_OUTCOMES);
    expect(view.outcomes.at(-1)!.row).toBe(MAX_LISTED_OUTCOMES);
    expect(view).toMatchObject({ truncated: true, nextRow: MAX_LISTED_OUTCOMES + 1, total });
    const exact = await jobView(jobs, (await jobs.getJob(jobId))!, total);
    expect(exact.truncated).toBe(false);
    expect(exact).not.toHaveProperty('nextRow');
  });

  it('locations keep the base path the request came in on', () => {
    expect(jobLocation('', 'ab')).toBe('/jobs/ab');
    expect(jobLocation('/prod', 'ab')).toBe('/prod/jobs/ab');
  });
});
