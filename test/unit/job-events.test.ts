/**
 * The Job Finished event: its detail (counts and keys, no row contents), and the outbox guarantee — a job that
 * reached `done` is announced even when the process stops (or the bus refuses) between `done` and the event,
 * on the next delivery, with the same event id.
 */
import { describe, expect, it } from 'vitest';
import { MemoryJobStore } from '../../lambdas/adapters/memory-job-store';
import { startApiJob } from '../../lambdas/core/api-jobs';
import { jobFinishedDetail, type JobEventDeps, type JobFinishedDetail } from '../../lambdas/core/job-events';
import type { ChunkMessage, JobSummary } from '../../lambdas/core/jobs';
import { settleJob } from '../../lambdas/core/reports';
import { processChunk, type WorkerDeps } from '../../lambdas/core/worker';
import { MemoryBucket } from '../harness/memory-bucket';

const JOB = 'a'.repeat(32);

function recordingEvents(failFirst = 0): JobEventDeps & { published: JobFinishedDetail[]; calls: number } {
  const events = {
    published: [] as JobFinishedDetail[],
    calls: 0,
    reportBucket: 'jobs-bucket',
    publisher: {
      publishJobFinished: async (detail: JobFinishedDetail) => {
        events.calls++;
        if (events.calls <= failFirst) throw new Error('bus unavailable');
        events.published.push(detail);
      },
    },
  };
  return events;
}

const doneUpload: JobSummary = {
  jobId: JOB,
  source: 'upload',
  operation: { kind: 'batch', conversationId: 1001 },
  name: 'march/contacts',
  state: 'done',
  total: 3,
  started: 1,
  rejected: 1,
  failed: 1,
  startedAt: '2026-12-01T10:00:00.000Z',
  finishedAt: '2026-12-01T10:05:00.000Z',
  rev: 1,
  reportedRev: 1,
};

describe('jobFinishedDetail', () => {
  it('an upload job: counts, ids and the report keys in the bucket, nothing else', () => {
    expect(jobFinishedDetail(doneUpload, 'jobs-bucket')).toEqual({
      eventId: JOB,
      jobId: JOB,
      source: { kind: 'upload', key: 'uploads/1001/march/contacts' },
      conversationId: 1001,
      total: 3,
      started: 1,
      rejected: 1,
      failed: 1,
      startedAt: '2026-12-01T10:00:00.000Z',
      finishedAt: '2026-12-01T10:05:00.000Z',
      report: { bucket: 'jobs-bucket', key: 'reports/1001/march/contacts.report.csv' },
      summary: { bucket: 'jobs-bucket', key: 'reports/1001/march/contacts.summary.json' },
    });
  });

  it('an API job names its route and has no report objects; a project job its project', () => {
    const api: JobSummary = {
      ...doneUpload,
      source: 'api',
      name: 'start-data-by-project',
      operation: { kind: 'project', projectId: 77 },
    };
    const detail = jobFinishedDetail(api, 'b');
    expect(detail.source).toEqual({ kind: 'api', route: 'start-data-by-project' });
    expect(detail).toMatchObject({ projectId: 77 });
    expect(detail).not.toHaveProperty('conversationId');
    expect(detail).not.toHaveProperty('report');
    expect(detail).not.toHaveProperty('summary');
  });
});

/** A job store holding one running upload job whose one chunk is queued. */
async function runningUpload(jobs: MemoryJobStore): Promise<ChunkMessage> {
  await jobs.createJob({ jobId: JOB, source: 'upload', operation: doneUpload.operation, name: 'list' });
  await jobs.finishIngest(JOB, { total: 1, rejected: 0 });
  return {
    jobId: JOB,
    chunkId: `${JOB}#000000000`,
    operation: doneUpload.operation,
    rows: [{ row: 1, record: { NAME: 'Lin', EMAIL: 'lin@example.net' } }],
  };
}

function workerDeps(jobs: MemoryJobStore, events: JobEventDeps): WorkerDeps & { calls: () => number } {
  let calls = 0;
  return {
    client: {
      startBatch: async () => {
        calls++;
        return { status: 200, body: [{ wsResult: { idResult: 3663 } }] };
      },
      startData: async () => ({ status: 200, body: {} }),
      startDataByProject: async () => ({ status: 200, body: {} }),
    } as unknown as WorkerDeps['client'],
    jobs,
    bucket: new MemoryBucket(),
    limiter: { acquire: async () => undefined },
    events,
    leaseMs: 60_000,
    maxReceiveCount: 5,
    calls: () => calls,
  };
}

describe('announcing a finished job (the outbox flag on the job)', () => {
  it('the worker that finishes a job publishes its event once, after the report, and records it', async () => {
    const jobs = new MemoryJobStore();
    const events = recordingEvents();
    const deps = workerDeps(jobs, events);
    const message = await runningUpload(jobs);
    expect(await processChunk(deps, message, 1)).toMatchObject({ kind: 'done' });
    expect(events.published).toHaveLength(1);
    expect(events.published[0]).toMatchObject({ eventId: JOB, total: 1, started: 1 });
    expect((deps.bucket as MemoryBucket).written.has('reports/1001/list.summary.json')).toBe(true);
    expect((await jobs.getJob(JOB))?.eventPublished).toBe(true);
    // A duplicate delivery of the same chunk publishes nothing more.
    await processChunk(deps, message, 2);
    expect(events.published).toHaveLength(1);
  });

  it('the bus refusing after `done` fails the delivery; the redelivery publishes, same id, nothing sent twice', async () => {
    const jobs = new MemoryJobStore();
    const events = recordingEvents(1);
    const deps = workerDeps(jobs, events);
    const message = await runningUpload(jobs);
    await expect(processChunk(deps, message, 1)).rejects.toThrow('bus unavailable');
    const stopped = await jobs.getJob(JOB);
    expect(stopped?.state).toBe('done');
    expect(stopped?.eventPublished).toBeUndefined();

    expect(await processChunk(deps, message, 2)).toMatchObject({ kind: 'done' });
    expect(events.published.map((d) => d.eventId)).toEqual([JOB]);
    expect(deps.calls()).toBe(1);
    expect((await jobs.getJob(JOB))?.eventPublished).toBe(true);
  });

  it('a crash after the put but before the flag repeats the event with the same id (consumers drop it)', async () => {
    const jobs = new MemoryJobStore();
    const events = recordingEvents();
    const message = await runningUpload(jobs);
    const failingFlag = Object.assign(Object.create(jobs) as MemoryJobStore, {
      markEventPublished: async () => {
        throw new Error('process stopped');
      },
    });
    await expect(processChunk(workerDeps(failingFlag, events), message, 1)).rejects.toThrow(
      'process stopped',
    );
    await processChunk(workerDeps(jobs, events), message, 2);
    expect(events.published.map((d) => d.eventId)).toEqual([JOB, JOB]);
    expect(events.published[0]).toEqual(events.published[1]);
  });

  it('settleJob announces a done job found unannounced (the ingest retry path), and nothing for a running one', async () => {
    const jobs = new MemoryJobStore();
    const events = recordingEvents();
    const bucket = new MemoryBucket();
    const message = await runningUpload(jobs);
    await settleJob({ jobs, bucket, events }, (await jobs.getJob(JOB))!);
    expect(events.published).toHaveLength(0);
    await jobs.claimChunk(JOB, message.chunkId, 60_000, 'me');
    await jobs.completeChunk(JOB, message.chunkId, [{ row: 1, status: 'started', idResult: 1 }]);
    await jobs.markDone(JOB); // ...and the process stopped here
    await settleJob({ jobs, bucket, events }, (await jobs.getJob(JOB))!);
    expect(events.published.map((d) => d.eventId)).toEqual([JOB]);
  });

  it('an async API job that the worker finished before its ingest ended is settled by the worker again', async () => {
    const jobs = new MemoryJobStore();
    const events = recordingEvents();
    const sent: ChunkMessage[] = [];
    const deps = workerDeps(jobs, events);
    // The queue works each chunk at once: the worker finishes before startApiJob ends the ingest.
    const queue = {
      sendChunks: async (chunks: ChunkMessage[]) => {
        sent.push(...chunks);
        for (const chunk of chunks) await processChunk(deps, chunk, 1);
      },
    };
    const job = await startApiJob(
      { jobs, queue },
      'start-batch',
      { operation: { kind: 'batch', conversationId: 1001 }, records: [{ NAME: 'Ada' }] },
      JOB,
    );
    expect(job.state).toBe('done');
    expect(sent).toHaveLength(2); // the chunk, then once more so that the worker settles the job
    expect(deps.calls()).toBe(1);
    expect(events.published.map((d) => d.source)).toEqual([{ kind: 'api', route: 'start-batch' }]);
  });
});
