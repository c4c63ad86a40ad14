/**
 * "Never twice, never lost" against an AWS as harsh as the real one: the worker with its DynamoDB job store behind
 * the fault proxy (transaction conflicts on the hot job item, throttling, 500s after acting, hangs) and the
 * sandbox over HTTP. Each test is named for the defect it pins; every test ends with a complete report and no
 * contact started twice.
 */
import { TransactWriteItemsCommand } from '@aws-sdk/client-dynamodb';
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { DynamoJobStore } from '../../lambdas/adapters/dynamo-job-store';
import { MemoryRateLimiter, type RateLimiter } from '../../lambdas/core/pacing';
import { processChunk, type WorkerDeps } from '../../lambdas/core/worker';
import { DEMO_USER, startSandbox, type Sandbox } from '../../local/sandbox/server';
import { startAwsFaultProxy, type AwsFaultProxy } from '../harness/aws-fault-proxy';
import { MemoryBucket } from '../harness/memory-bucket';
import { awsDynamo, createJobsTable } from './job-store-table';
import { batchCalls, expectCompleteReport, runQueue, sandboxClient, seedUploadJob } from './worker-harness';

const tableName = `jobs-never-twice-${randomUUID()}`;
let proxy: AwsFaultProxy;
let sandbox: Sandbox;
let jobs: DynamoJobStore;

beforeAll(async () => {
  proxy = await startAwsFaultProxy({ target: inject('motoEndpoint') });
  const dynamo = awsDynamo(proxy.url);
  await createJobsTable(dynamo, tableName);
  jobs = new DynamoJobStore({ client: dynamo, tableName });
  sandbox = await startSandbox();
});
afterAll(async () => {
  await sandbox.close();
  await proxy.close();
});
afterEach(() => {
  proxy.setFaults({});
  sandbox.setFaults({});
  sandbox.reset();
});

function deps(bucket: MemoryBucket, overrides: Partial<WorkerDeps> = {}): WorkerDeps {
  return {
    client: sandboxClient(sandbox, { value: { ...DEMO_USER } }),
    jobs,
    bucket,
    limiter: new MemoryRateLimiter({ ratePerSecond: 1_000 }),
    leaseMs: 60_000,
    maxReceiveCount: 5,
    redelivery: { baseDelayMs: 100, maxDelayMs: 1_000 },
    ...overrides,
  };
}

/** Every started row's idResult is the record the sandbox created for exactly that row. */
function expectOwnIdResults(rows: { row: number; status: string; idResult?: number }[]) {
  const records = sandbox.records();
  for (const row of rows.filter((r) => r.status === 'started')) {
    expect(records.get(row.idResult!)?.NAME).toBe(`Contact ${row.row}`);
  }
}

describe('never twice, never lost: the worker on a harsh AWS', () => {
  it('defect 2: at concurrency 20 under transaction conflicts and throttling, every started row keeps its idResult', async () => {
    const bucket = new MemoryBucket();
    const job = await seedUploadJob(jobs, { total: 300, rejected: [7, 150] });
    proxy.resetStats();
    proxy.setFaults({
      seed: 2,
      dynamodb: { throttle: 0.05, internalErrorAfter: 0.03 },
      transactionHoldMs: [10, 30],
    });
    await runQueue(deps(bucket), job.messages, { concurrency: 20 });
    const { rows, summary } = await expectCompleteReport(jobs, bucket, job.jobId, '1001', job.name, 300);
    expect(summary).toMatchObject({ started: 298, rejected: 2, failed: 0 });
    expectOwnIdResults(rows);
    expect(sandbox.duplicates()).toEqual([]);
    // The faults really happened: completions met conflicts on the hot job item, and writes that acted then failed.
    const stats = proxy.stats();
    expect(Object.values(stats.transactionConflicts).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    expect(Object.keys(stats.actedThenFailed).length).toBeGreaterThan(0);
  });

  it('defect 3: a claim or release that acted and then failed its answer never leaves never-sent rows unknown', async () => {
    const bucket = new MemoryBucket();
    const job = await seedUploadJob(jobs, { total: 60, rejected: [] });
    // Every chunk's first call is throttled (nothing started), so every chunk is claimed, released, claimed again.
    sandbox.setFaults({ failNext: { count: 6, status: 429, retryAfterSeconds: 0 } });
    proxy.setFaults({ seed: 3, dynamodb: { internalErrorAfter: 0.3, operations: ['UpdateItem'] } });
    await runQueue(deps(bucket), job.messages, { concurrency: 3 });
    const { rows, summary } = await expectCompleteReport(jobs, bucket, job.jobId, '1001', job.name, 60);
    expect(summary).toMatchObject({ started: 60, failed: 0 });
    expectOwnIdResults(rows);
    expect(sandbox.duplicates()).toEqual([]);
    expect(proxy.stats().actedThenFailed['dynamodb.UpdateItem.internalErrorAfter']).toBeGreaterThan(0);
  });

  it('defect 3: an invocation that ends while waiting in the rate limiter leaves nothing claimed: the chunk is sent later', async () => {
    const bucket = new MemoryBucket();
    const job = await seedUploadJob(jobs, { total: 10, rejected: [] });
    // The limiter never answers: the invocation is frozen there until Lambda's timeout ends it.
    const stuck: RateLimiter = { acquire: () => new Promise<void>(() => undefined) };
    void processChunk(deps(bucket, { limiter: stuck, leaseMs: 1 }), job.messages[0]!, 1);
    await new Promise((resolve) => setTimeout(resolve, 50));
    // The message comes back after the visibility timeout (long after any lease): the rows are sent, not unknown.
    const result = await processChunk(deps(bucket), job.messages[0]!, 2);
    expect(result).toMatchObject({ kind: 'done' });
    const { summary } = await expectCompleteReport(jobs, bucket, job.jobId, '1001', job.name, 10);
    expect(summary).toMatchObject({ started: 10, failed: 0 });
    expect(batchCalls(sandbox)).toHaveLength(1);
  });

  it('defect 3: AWS calls that hang end in a timeout and are retried, never in an expired claim', async () => {
    const bucket = new MemoryBucket();
    const job = await seedUploadJob(jobs, { total: 40, rejected: [] });
    proxy.setFaults({ seed: 4, dynamodb: { hang: 0.04, hangAfter: 0.04 } });
    await runQueue(deps(bucket), job.messages, { concurrency: 4 });
    const { summary } = await expectCompleteReport(jobs, bucket, job.jobId, '1001', job.name, 40);
    expect(summary).toMatchObject({ started: 40, failed: 0 });
    expect(sandbox.duplicates()).toEqual([]);
  }, 90_000);

  it('defect 5: pacing alone never dead-letters a chunk, at a slow rate with a short wait and one spare receive', async () => {
    const bucket = new MemoryBucket();
    const job = await seedUploadJob(jobs, { total: 200, rejected: [] });
    // 20 chunks at 25 calls/s with at most 60 ms of waiting: most deliveries find no slot soon enough.
    const limiter = new MemoryRateLimiter({ ratePerSecond: 25, maxWaitMs: 60 });
    const { deliveries, queue } = await runQueue(
      deps(bucket, { limiter, maxReceiveCount: 2 }),
      job.messages,
      {
        concurrency: 10,
        delayScale: 1,
      },
    );
    expect(deliveries.filter((d) => d.result.kind === 'requeue').length).toBeGreaterThan(0);
    expect(queue.depth().deadLettered).toBe(0);
    const { summary } = await expectCompleteReport(jobs, bucket, job.jobId, '1001', job.name, 200);
    expect(summary).toMatchObject({ started: 200, failed: 0 });
    expect(batchCalls(sandbox)).toHaveLength(20);
  });

  it('the ingest rides out a worker transaction holding the job item (finishIngest, createJob retried, not failed)', async () => {
    // Chunks are worked on while their upload is still being ingested: a worker's completion transaction holds
    // the job item just when the ingest ends it. DynamoDB answers the ingest's write TransactionConflictException,
    // which the SDK does not retry; seen in the soak as a failed ingest.
    const jobId = randomUUID().replaceAll('-', '');
    const created = await jobs.createJob({
      jobId,
      source: 'upload',
      operation: { kind: 'batch', conversationId: 1001 },
      name: 'held.csv',
    });
    expect(created).toBe('created');
    proxy.setFaults({ transactionHoldMs: 1_500 });
    const dynamo = awsDynamo(proxy.url);
    const holder = dynamo.send(
      new TransactWriteItemsCommand({
        TransactItems: [
          {
            Update: {
              TableName: tableName,
              Key: { pk: { S: `job#${jobId}` }, sk: { S: 'job' } },
              UpdateExpression: 'ADD started :zero',
              ExpressionAttributeValues: { ':zero': { N: '0' } },
            },
          },
        ],
      }),
    );
    await expect.poll(() => proxy.stats().locks.items).toBe(1);
    const ended = await jobs.finishIngest(jobId, { total: 3, rejected: 0 });
    await holder;
    dynamo.destroy();
    expect(ended).toMatchObject({ jobId, state: 'running', total: 3 });
    expect(proxy.stats().transactionConflicts['dynamodb.UpdateItem']).toBeGreaterThan(0);
  });
});
