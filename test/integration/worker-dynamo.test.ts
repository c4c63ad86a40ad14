/**
 * The worker with its AWS adapters: the DynamoDB job store and rate limiter and the S3 bucket on moto_server,
 * the sandbox over HTTP, faults and duplicate deliveries at once.
 */
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DynamoJobStore } from '../../lambdas/adapters/dynamo-job-store';
import { DynamoRateLimiter } from '../../lambdas/adapters/dynamo-rate-limiter';
import { S3ObjectStore } from '../../lambdas/adapters/s3-object-store';
import { processChunk, type WorkerDeps } from '../../lambdas/core/worker';
import { DEMO_USER, startSandbox, type Sandbox } from '../../local/sandbox/server';
import { createJobsTable, awsDynamo } from './job-store-table';
import { batchCalls, expectCompleteReport, runQueue, sandboxClient, seedUploadJob } from './worker-harness';

const endpoint = inject('motoEndpoint');
const dynamo = awsDynamo(inject('awsEndpoint'));
const s3 = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true });
const tableName = `jobs-worker-${randomUUID()}`;
const bucketName = `bucket-worker-${randomUUID()}`;
let sandbox: Sandbox;

beforeAll(async () => {
  await createJobsTable(dynamo, tableName);
  await s3.send(new CreateBucketCommand({ Bucket: bucketName }));
  sandbox = await startSandbox();
});
afterAll(async () => {
  await sandbox.close();
  dynamo.destroy();
  s3.destroy();
});

describe('worker on DynamoDB and S3 (moto)', () => {
  it('faults and duplicate deliveries: every row once in the report, no contact started twice', async () => {
    const jobs = new DynamoJobStore({ client: dynamo, tableName });
    const bucket = new S3ObjectStore(s3, { bucket: bucketName });
    const deps: WorkerDeps = {
      client: sandboxClient(sandbox, { value: { ...DEMO_USER } }, 500),
      jobs,
      bucket,
      limiter: new DynamoRateLimiter({ client: dynamo, tableName, ratePerSecond: 200 }),
      leaseMs: 60_000,
      maxReceiveCount: 5,
      redelivery: { baseDelayMs: 1_000, maxDelayMs: 10_000 },
    };
    const job = await seedUploadJob(jobs, { total: 47, rejected: [7, 30] });
    expect(job.messages).toHaveLength(5);
    // One call performed and never answered (outcome unknown), then two 429s; the rest answer.
    sandbox.setFaults({
      hangNext: { count: 1, afterProcessing: true },
      failNext: { count: 2, status: 429, retryAfterSeconds: 2 },
    });
    // Every chunk sent twice (a duplicate S3 event re-sends the same chunk ids), run with real concurrency.
    const { deliveries } = await runQueue(deps, [...job.messages, ...job.messages], {
      concurrency: 4,
      delayScale: 0.01,
    });
    const throttled = deliveries.filter(
      (d) => d.result.kind === 'retry' && d.result.errorClass === 'throttled',
    );
    expect(throttled).toHaveLength(2);
    for (const d of throttled)
      expect(d.result.kind === 'retry' && d.result.delayMs).toBeGreaterThanOrEqual(2_000);

    const { rows, summary } = await expectCompleteReport(jobs, bucket, job.jobId, '1001', job.name, 47);
    expect(summary).toMatchObject({ total: 47, rejected: 2, started: 35, failed: 10 });
    expect(new Set(rows.filter((r) => r.status === 'failed').map((r) => r.error))).toEqual(
      new Set(['outcome unknown: startBatch timed out after 500 ms']),
    );
    expect(sandbox.duplicates()).toEqual([]);
    expect(sandbox.started()).toHaveLength(45);
    // Five chunks, each sent once, plus the two refused by the 429s.
    expect(batchCalls(sandbox)).toHaveLength(5 + 2);

    // A late duplicate after the report is out: nothing is sent, nothing changes.
    for (const message of job.messages) {
      expect(await processChunk(deps, message, 1)).toEqual({ kind: 'done', outcomes: [] });
    }
    expect(batchCalls(sandbox)).toHaveLength(7);
    expect(await jobs.getJob(job.jobId)).toMatchObject({
      state: 'done',
      started: 35,
      failed: 10,
      rejected: 2,
    });
  });
});
