/** Jobs of the async HTTP API (lambdas/core/api-jobs.ts) over the memory job store and a recording queue. */
import { describe, expect, it } from 'vitest';
import { MemoryJobStore } from '../../lambdas/adapters/memory-job-store';
import {
  apiJobId,
  jobLocation,
  jobView,
  MAX_LISTED_OUTCOMES,
  submitApiJob,
} from '../../lambdas/core/api-jobs';
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

describe('api job ids', () => {
  it('are 32 lowercase hex digits, as parseJobId accepts; random without a key', () => {
    const a = apiJobId('start-data');
    const b = apiJobId('start-data');
    expect(parseJobId(a)).toBe(a);
    expect(a).not.toBe(b);
  });

  it('are derived from the route and the idempotency key', () => {
    const id = apiJobId('start-data', 'order-42');
    expect(parseJobId(id)).toBe(id);
    expect(apiJobId('start-data', 'order-42')).toBe(id);
    expect(apiJobId('start-batch', 'order-42')).not.toBe(id);
    expect(apiJobId('start-data', 'order-43')).not.toBe(id);
  });
});

describe('submitApiJob', () => {
  it('creates the job, queues one chunk of the records in order and ends the ingest', async () => {
    const jobs = new MemoryJobStore();
    const queue = new RecordingQueue();
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

  it('with the same key: the same job, and nothing queued again once it runs', async () => {
    const jobs = new MemoryJobStore();
    const queue = new RecordingQueue();
    const first = await submitApiJob({ jobs, queue }, 'start-batch', batch, 'k-1');
    const again = await submitApiJob({ jobs, queue }, 'start-batch', batch, 'k-1');
    expect(again.jobId).toBe(first.jobId);
    expect(queue.sent).toHaveLength(1);
  });

  it('an attempt that failed half way is finished by the retry with the same key (same chunk id)', async () => {
    const jobs = new MemoryJobStore();
    const queue = new RecordingQueue();
    queue.failNext = true;
    await expect(submitApiJob({ jobs, queue }, 'start-data', batch, 'k-2')).rejects.toThrow(
      'queue unavailable',
    );
    const jobId = apiJobId('start-data', 'k-2');
    expect((await jobs.getJob(jobId))?.state).toBe('ingesting');
    const retried = await submitApiJob({ jobs, queue }, 'start-data', batch, 'k-2');
    expect(retried).toMatchObject({ jobId, state: 'running', total: 3 });
    expect(queue.sent.map((c) => c.chunkId)).toEqual([`${jobId}#000000000`]);
  });

  it('moves the job to done when the worker finished before the ingest did', async () => {
    const jobs = new MemoryJobStore();
    const jobId = apiJobId('start-batch', 'k-3');
    // The worker, faster than the ingest: its chunk completes while the job is still ingesting.
    const queue: ChunkQueue = {
      sendChunks: async ([chunk]) => {
        await jobs.claimChunk(jobId, chunk!.chunkId, 60_000);
        await jobs.completeChunk(
          jobId,
          chunk!.chunkId,
          chunk!.rows.map((r) => ({ row: r.row, status: 'started', idResult: 100 + r.row })),
        );
      },
    };
    const job = await submitApiJob({ jobs, queue }, 'start-batch', batch, 'k-3');
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
    await jobs.claimChunk(job.jobId, chunkId, 60_000);
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
    const jobId = apiJobId('upload-like');
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
