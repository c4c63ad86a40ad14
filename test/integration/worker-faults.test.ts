/**
 * The worker against the sandbox over real HTTP, with faults injected, driven through the in-process queue (SQS
 * semantics). In every test: total = started + rejected + failed, every row is in the report exactly once, and
 * the sandbox started no contact twice.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MemoryJobStore } from '../../lambdas/adapters/memory-job-store';
import { MemoryRateLimiter } from '../../lambdas/core/pacing';
import { processChunk, type WorkerDeps } from '../../lambdas/core/worker';
import { DEMO_USER, startSandbox, type Sandbox } from '../../local/sandbox/server';
import { MemoryBucket } from '../harness/memory-bucket';
import {
  batchCalls,
  expectCompleteReport,
  runQueue,
  sandboxClient,
  seedUploadJob,
  type Secret,
} from './worker-harness';

const LEASE_MS = 60_000;
let sandbox: Sandbox;
let secret: Secret;
let clock: { offset: number };
let jobs: MemoryJobStore;
let bucket: MemoryBucket;

function deps(overrides: Partial<WorkerDeps> = {}): WorkerDeps {
  return {
    client: sandboxClient(sandbox, secret),
    jobs,
    bucket,
    limiter: new MemoryRateLimiter({ ratePerSecond: 500 }),
    leaseMs: LEASE_MS,
    maxReceiveCount: 5,
    redelivery: { baseDelayMs: 1_000, maxDelayMs: 60_000 },
    ...overrides,
  };
}

/** The invariants every test ends with. */
async function expectSound(job: { jobId: string; name: string; total: number }) {
  const report = await expectCompleteReport(jobs, bucket, job.jobId, '1001', job.name, job.total);
  expect(sandbox.duplicates()).toEqual([]);
  return report;
}

beforeAll(async () => {
  sandbox = await startSandbox();
});
afterAll(() => sandbox.close());
beforeEach(() => {
  sandbox.reset();
  secret = { value: { ...DEMO_USER } };
  sandbox.setUserPassword(DEMO_USER.username, DEMO_USER.password);
  clock = { offset: 0 };
  jobs = new MemoryJobStore(() => Date.now() + clock.offset);
  bucket = new MemoryBucket();
});
afterEach(() => sandbox.setFaults({}));

describe('worker against the sandbox', () => {
  it('starts every valid row once and reports rejected rows in place', async () => {
    const job = await seedUploadJob(jobs, { total: 25, rejected: [3, 17] });
    const { deliveries } = await runQueue(deps(), job.messages);
    expect(deliveries.every((d) => d.result.kind === 'done')).toBe(true);
    const { rows, summary } = await expectSound(job);
    expect(summary).toMatchObject({ total: 25, started: 23, rejected: 2, failed: 0 });
    expect(rows[2]).toEqual({ row: 3, status: 'rejected', error: 'row 3: EMAIL must not be empty' });
    // idResult is the record the sandbox created for exactly that row.
    const records = sandbox.records();
    for (const row of rows.filter((r) => r.status === 'started')) {
      expect(records.get(row.idResult!)?.NAME).toBe(`Contact ${row.row}`);
    }
    expect(batchCalls(sandbox)).toHaveLength(3);
  });

  it('5xx bursts: the chunk comes back later and starts once', async () => {
    const job = await seedUploadJob(jobs, { total: 30, rejected: [] });
    sandbox.setFaults({ failNext: { count: 4, status: 503 } });
    const { deliveries } = await runQueue(deps(), job.messages, { concurrency: 1 });
    const retries = deliveries.filter((d) => d.result.kind === 'retry');
    expect(retries).toHaveLength(4);
    for (const r of retries)
      expect(r.result).toMatchObject({ errorClass: 'upstream_internal', deadLettered: false });
    // Growing delay: each retry of the same chunk waits at least half of 1 s * 2^(n-1).
    for (const r of retries) {
      expect(r.result.kind === 'retry' && r.result.delayMs).toBeGreaterThanOrEqual(
        500 * 2 ** (r.receiveCount - 1),
      );
    }
    const { summary } = await expectSound(job);
    expect(summary).toMatchObject({ started: 30, failed: 0 });
    expect(batchCalls(sandbox)).toHaveLength(3 + 4);
  });

  it.each([
    ['500 with a wsError', { status: 500 }],
    ['500 with no body', { status: 500, body: '' }],
    ['502 with no body (the load balancer)', { status: 502, body: '' }],
    ['504 with no body (the load balancer)', { status: 504, body: '' }],
  ])('defect 1: a %s after DANAConnect acted never starts the rows again', async (_, fault) => {
    const job = await seedUploadJob(jobs, { total: 12, rejected: [12] });
    sandbox.setFaults({ failNext: { count: 1, afterProcessing: true, ...fault } });
    await runQueue(deps(), job.messages, { concurrency: 1 });
    const { rows, summary } = await expectSound(job);
    // The first chunk was started by DANAConnect and then answered with an error: unknown, never resent.
    expect(summary).toMatchObject({ started: 1, rejected: 1, failed: 10 });
    for (const row of rows.slice(0, 10))
      expect(row.error).toMatch(/^outcome unknown: upstream internal error/);
    expect(sandbox.started()).toHaveLength(11);
    expect(batchCalls(sandbox)).toHaveLength(2);
  });

  it('defect 1: a batch DANAConnect started half of before failing is never sent again', async () => {
    const job = await seedUploadJob(jobs, { total: 10, rejected: [] });
    sandbox.setFaults({ partialBatchNext: { count: 1, startFirst: 4, body: '' } });
    await runQueue(deps(), job.messages, { concurrency: 1 });
    const { summary } = await expectSound(job);
    expect(summary).toMatchObject({ started: 0, failed: 10 });
    expect(sandbox.started()).toHaveLength(4);
    expect(batchCalls(sandbox)).toHaveLength(1);
  });

  it('a 503 (load shed, nothing acted) comes back and starts once; with resendOn5xx [503, 500] so does a 500', async () => {
    const job = await seedUploadJob(jobs, { total: 20, rejected: [] });
    sandbox.setFaults({ failNext: { count: 1, status: 503, body: '' } });
    await runQueue(deps(), job.messages.slice(0, 1), { concurrency: 1 });
    sandbox.setFaults({ failNext: { count: 1, status: 500 } });
    await runQueue(deps({ resendOn5xx: [503, 500] }), job.messages.slice(1), { concurrency: 1 });
    const { summary } = await expectSound(job);
    expect(summary).toMatchObject({ started: 20, failed: 0 });
    expect(batchCalls(sandbox)).toHaveLength(4);
  });

  it('429 with Retry-After: the message stays away at least that long, then starts once', async () => {
    const job = await seedUploadJob(jobs, { total: 20, rejected: [5] });
    sandbox.setFaults({ failNext: { count: 3, status: 429, retryAfterSeconds: 7 } });
    const { deliveries } = await runQueue(deps(), job.messages, { concurrency: 1 });
    const retries = deliveries.filter((d) => d.result.kind === 'retry');
    expect(retries).toHaveLength(3);
    for (const r of retries) {
      expect(r.result).toMatchObject({ errorClass: 'throttled' });
      expect(r.result.kind === 'retry' && r.result.delayMs).toBeGreaterThanOrEqual(7_000);
    }
    const { summary } = await expectSound(job);
    expect(summary).toMatchObject({ started: 19, rejected: 1, failed: 0 });
  });

  it("DANAConnect's own rate limit (429 + Retry-After: 1) is absorbed the same way", async () => {
    const limited = await startSandbox({ rateLimitPerSecond: 2 });
    try {
      const job = await seedUploadJob(jobs, { total: 60, rejected: [] });
      // Real delays here: the sandbox counts calls in a sliding second.
      const { deliveries } = await runQueue(deps({ client: sandboxClient(limited, secret) }), job.messages, {
        concurrency: 6,
        delayScale: 1,
      });
      const retries = deliveries.filter((d) => d.result.kind === 'retry');
      expect(retries.length).toBeGreaterThan(0);
      for (const r of retries) {
        expect(r.result).toMatchObject({ errorClass: 'throttled', deadLettered: false });
        expect(r.result.kind === 'retry' && r.result.delayMs).toBeGreaterThanOrEqual(1_000);
      }
      const { summary } = await expectCompleteReport(jobs, bucket, job.jobId, '1001', job.name, 60);
      expect(summary).toMatchObject({ started: 60, failed: 0 });
      expect(limited.duplicates()).toEqual([]);
      expect(limited.started()).toHaveLength(60);
    } finally {
      await limited.close();
    }
  });

  it('a timeout or a lost connection after sending: outcome unknown, never resent', async () => {
    const job = await seedUploadJob(jobs, { total: 30, rejected: [] });
    // The first call is performed and never answered; the second is performed and its connection dropped.
    sandbox.setFaults({
      hangNext: { count: 1, afterProcessing: true },
      dropNext: { count: 1, afterProcessing: true },
    });
    const { deliveries } = await runQueue(
      deps({ client: sandboxClient(sandbox, secret, 300) }),
      job.messages,
      {
        concurrency: 1,
      },
    );
    expect(deliveries.map((d) => d.result.kind)).toEqual(['done', 'done', 'done']);
    const { rows, summary } = await expectSound(job);
    expect(summary).toMatchObject({ started: 10, failed: 20 });
    const errors = new Set(rows.filter((r) => r.status === 'failed').map((r) => r.error));
    expect([...errors].sort()).toEqual([
      'outcome unknown: startBatch timed out after 300 ms',
      expect.stringMatching(/^outcome unknown: startBatch: network failure/),
    ]);
    // DANAConnect did start them, once; redelivering the messages sends nothing.
    expect(sandbox.started()).toHaveLength(30);
    for (const message of job.messages) {
      expect(await processChunk(deps(), message, 2)).toEqual({ kind: 'done', outcomes: [] });
    }
    expect(batchCalls(sandbox)).toHaveLength(3);
    await expectSound(job);
  });

  it('a 401 fixed by rotating the secret mid-job: the client refreshes, nothing is lost or doubled', async () => {
    const job = await seedUploadJob(jobs, { total: 40, rejected: [22] });
    const rotated = { ...DEMO_USER, password: 'rotated-password' };
    let rotations = 0;
    const { deliveries } = await runQueue(deps(), job.messages, {
      concurrency: 1,
      afterEach: () => {
        if (rotations++ === 1) {
          sandbox.setUserPassword(DEMO_USER.username, rotated.password);
          secret.value = rotated;
        }
      },
    });
    expect(deliveries.every((d) => d.result.kind === 'done')).toBe(true);
    const calls = batchCalls(sandbox);
    // One call after the rotation went out with the old password, was refused, and went again with the new one.
    const basic = (password: string) =>
      `Basic ${Buffer.from(`${DEMO_USER.username}@${DEMO_USER.companyCode}:${password}`).toString('base64')}`;
    expect(calls.map((c) => c.authorization === basic(rotated.password))).toEqual([
      false,
      false,
      false,
      true,
      true,
    ]);
    const { summary } = await expectSound(job);
    expect(summary).toMatchObject({ started: 39, rejected: 1, failed: 0 });
  });

  it('a 401 while the new secret is not out yet: the chunk waits, then starts with the new one', async () => {
    const job = await seedUploadJob(jobs, { total: 20, rejected: [] });
    sandbox.setUserPassword(DEMO_USER.username, 'next-password');
    const { deliveries } = await runQueue(deps(), job.messages, {
      concurrency: 1,
      afterEach: (d) => {
        if (d.result.kind === 'retry') secret.value = { ...DEMO_USER, password: 'next-password' };
      },
    });
    expect(deliveries[0]!.result).toMatchObject({ kind: 'retry', errorClass: 'unauthorized' });
    const { summary } = await expectSound(job);
    expect(summary).toMatchObject({ started: 20, failed: 0 });
  });

  it('a worker that dies mid-call: after its lease the chunk is abandoned, its rows failed as unknown', async () => {
    const job = await seedUploadJob(jobs, { total: 25, rejected: [1] });
    const [first, ...rest] = job.messages;
    // The first worker's call reaches DANAConnect, which starts the rows and never answers; the worker is gone.
    sandbox.setFaults({ hangNext: { count: 1, afterProcessing: true } });
    const dying = processChunk(deps({ client: sandboxClient(sandbox, secret, 1_500) }), first!, 1);
    while (sandbox.started().length < first!.rows.length) await new Promise((r) => setTimeout(r, 10));
    // Before the lease ends the redelivered message must wait: that worker may still be alive.
    expect(await processChunk(deps(), first!, 2)).toMatchObject({ kind: 'retry', errorClass: 'busy' });
    clock.offset += LEASE_MS + 1;
    const redelivered = await processChunk(deps(), first!, 3);
    if (redelivered.kind !== 'done') throw new Error(`expected done, got ${redelivered.kind}`);
    expect(redelivered.outcomes.map((o) => o.error)).toEqual(
      first!.rows.map(() => 'outcome unknown: worker stopped mid-call'),
    );
    await runQueue(deps(), rest);
    // The first worker's late result changes nothing.
    await dying;
    const { rows, summary } = await expectSound(job);
    expect(summary).toMatchObject({ total: 25, rejected: 1, started: 14, failed: 10 });
    expect(
      rows
        .filter((r) => r.status === 'failed')
        .every((r) => r.error === 'outcome unknown: worker stopped mid-call'),
    ).toBe(true);
    expect(sandbox.started()).toHaveLength(24);
    expect(batchCalls(sandbox)).toHaveLength(3);
  });

  it('the same message delivered twice, one after the other: started once', async () => {
    const job = await seedUploadJob(jobs, { total: 15, rejected: [] });
    const d = deps();
    const first = await processChunk(d, job.messages[0]!, 1);
    expect(first.kind === 'done' && first.outcomes).toHaveLength(10);
    expect(await processChunk(d, job.messages[0]!, 1)).toEqual({ kind: 'done', outcomes: [] });
    await runQueue(d, job.messages); // the whole set again, duplicates included
    await expectSound(job);
    expect(batchCalls(sandbox)).toHaveLength(2);
    expect(sandbox.started()).toHaveLength(15);
  });

  it('a report write that fails after the job is done: the redelivery writes the report, starting nothing', async () => {
    const job = await seedUploadJob(jobs, { total: 10, rejected: [] });
    const failing = {
      read: bucket.read.bind(bucket),
      write: async () => {
        throw new Error('S3 unavailable');
      },
    };
    // The last chunk completes and marks the job done, then the report write fails: the message comes back.
    await expect(processChunk(deps({ bucket: failing }), job.messages[0]!, 1)).rejects.toThrow(
      'S3 unavailable',
    );
    expect((await jobs.getJob(job.jobId))?.state).toBe('done');
    expect(await processChunk(deps(), job.messages[0]!, 2)).toEqual({ kind: 'done', outcomes: [] });
    await expectSound(job);
    expect(batchCalls(sandbox)).toHaveLength(1);
  });

  it('the same message delivered twice at the same time: one starts it, the other comes back after', async () => {
    const job = await seedUploadJob(jobs, { total: 10, rejected: [] });
    sandbox.setFaults({ latencyMs: 150 });
    const d = deps();
    const results = await Promise.all([
      processChunk(d, job.messages[0]!, 1),
      processChunk(d, job.messages[0]!, 1),
    ]);
    const done = results.filter((r) => r.kind === 'done');
    const busy = results.filter((r) => r.kind === 'retry');
    expect(done).toHaveLength(1);
    expect(busy).toHaveLength(1);
    expect(busy[0]).toMatchObject({ errorClass: 'busy', deadLettered: false, outcomes: [] });
    expect(busy[0]!.kind === 'retry' && busy[0]!.delayMs).toBeGreaterThan(0);
    expect(busy[0]!.kind === 'retry' && busy[0]!.delayMs).toBeLessThanOrEqual(LEASE_MS);
    expect(await processChunk(d, job.messages[0]!, 2)).toEqual({ kind: 'done', outcomes: [] });
    await expectSound(job);
    expect(batchCalls(sandbox)).toHaveLength(1);
  });

  it('dead-lettering on the last receive, then a redrive that starts the rows and rewrites the report', async () => {
    const job = await seedUploadJob(jobs, { total: 23, rejected: [4, 9] });
    sandbox.setFaults({ errorRate: 1, errorStatus: 503 });
    const d = deps({ maxReceiveCount: 3 });
    const { deliveries, queue } = await runQueue(d, job.messages);
    expect(
      queue
        .deadLetters()
        .map((m) => m.chunkId)
        .sort(),
    ).toEqual(job.messages.map((m) => m.chunkId).sort());
    const last = deliveries.filter((x) => x.result.kind === 'retry' && x.result.deadLettered);
    expect(last.map((x) => x.receiveCount)).toEqual([3, 3, 3]);
    const before = await expectSound(job);
    expect(before.summary).toMatchObject({ started: 0, rejected: 2, failed: 21 });
    for (const row of before.rows.filter((r) => r.status === 'failed')) {
      expect(row.error).toMatch(/^dead-lettered: upstream internal error \(503\).* \(after 3 attempts\)$/);
    }
    expect(sandbox.started()).toHaveLength(0);

    // The operator fixes the cause and runs the redrive.
    sandbox.setFaults({});
    const redriven = queue.deadLetters();
    const again = await runQueue(d, redriven);
    expect(again.deliveries.every((x) => x.result.kind === 'done' && x.result.outcomes.length > 0)).toBe(
      true,
    );
    const after = await expectSound(job);
    expect(after.summary).toMatchObject({ total: 23, started: 21, rejected: 2, failed: 0 });
    expect(after.summary.finishedAt).toBe(before.summary.finishedAt);
    expect(sandbox.started()).toHaveLength(21);
  });

  it('a redriven chunk whose worker dies mid-call: the rewritten report says outcome unknown', async () => {
    const job = await seedUploadJob(jobs, { total: 5, rejected: [] });
    sandbox.setFaults({ errorRate: 1, errorStatus: 503 });
    const { queue } = await runQueue(deps({ maxReceiveCount: 1 }), job.messages);
    const before = await expectSound(job);
    expect(before.rows.every((r) => r.error?.startsWith('dead-lettered: '))).toBe(true);

    sandbox.setFaults({ hangNext: { count: 1, afterProcessing: true } });
    const [message] = queue.deadLetters();
    const dying = processChunk(deps({ client: sandboxClient(sandbox, secret, 1_000) }), message!, 1);
    while (sandbox.started().length < 5) await new Promise((r) => setTimeout(r, 10));
    clock.offset += LEASE_MS + 1;
    expect((await processChunk(deps(), message!, 2)).kind).toBe('done');
    await dying;
    const after = await expectSound(job);
    expect(after.rows.map((r) => r.error)).toEqual(
      job.messages[0]!.rows.map(() => 'outcome unknown: worker stopped mid-call'),
    );
    expect(after.summary).toMatchObject({ total: 5, started: 0, failed: 5 });
    expect(sandbox.started()).toHaveLength(5);
  });

  it('a 400 fails the rows for good; a wsError slot fails only its row', async () => {
    const job = await seedUploadJob(jobs, { total: 12, rejected: [], conversationId: 4040 });
    const { deliveries } = await runQueue(deps(), job.messages);
    expect(deliveries).toHaveLength(2); // no retries
    const report = await expectCompleteReport(jobs, bucket, job.jobId, '4040', job.name, 12);
    expect(new Set(report.rows.map((r) => r.error))).toEqual(
      new Set(['refused by DANAConnect: illegal argument (400): Unknown conversation']),
    );

    const mixed = await seedUploadJob(jobs, { total: 3, rejected: [] });
    mixed.messages[0]!.rows[1]!.record = {}; // the sandbox answers a wsError for this slot
    await runQueue(deps(), mixed.messages);
    const { rows } = await expectSound(mixed);
    expect(rows.map((r) => r.status)).toEqual(['started', 'failed', 'started']);
    expect(rows[1]!.error).toBe('DANAConnect error 1008: Invalid record');
  });

  it('async API jobs: one row per chunk through start/data and ProjectID start/data', async () => {
    const jobId = 'apijob0000000000000000000000001';
    await jobs.createJob({
      jobId,
      source: 'api',
      operation: { kind: 'project', projectId: 77 },
      name: 'api',
    });
    const messages = [1, 2, 3].map((row) => ({
      jobId,
      chunkId: `${jobId}#${String(row - 1).padStart(9, '0')}`,
      operation: { kind: 'project' as const, projectId: 77 },
      rows: [{ row, record: { EMAIL: `api${row}@example.com` } }],
    }));
    await jobs.finishIngest(jobId, { total: 3, rejected: 0 });
    sandbox.setFaults({ failNext: { count: 1, status: 429, retryAfterSeconds: 1 } });
    await runQueue(deps(), messages);
    expect(await jobs.getJob(jobId)).toMatchObject({ state: 'done', total: 3, started: 3, failed: 0 });
    expect(sandbox.started().map((s) => s.via)).toEqual(['project', 'project', 'project']);
    expect(sandbox.duplicates()).toEqual([]);
    expect(bucket.objects.size).toBe(0); // API jobs are read through GET /jobs, not from the bucket

    const dataJob = 'apijob0000000000000000000000002';
    await jobs.createJob({
      jobId: dataJob,
      source: 'api',
      operation: { kind: 'data', conversationId: 1002 },
      name: 'api',
    });
    await jobs.finishIngest(dataJob, { total: 1, rejected: 0 });
    const result = await processChunk(
      deps(),
      {
        jobId: dataJob,
        chunkId: `${dataJob}#000000000`,
        operation: { kind: 'data', conversationId: 1002 },
        rows: [{ row: 1, record: { EMAIL: 'data1@example.com' } }],
      },
      1,
    );
    expect(result).toMatchObject({ kind: 'done', outcomes: [{ row: 1, status: 'started' }] });
    expect(sandbox.started().at(-1)).toMatchObject({ via: 'data', conversationId: 1002 });
  });
});
