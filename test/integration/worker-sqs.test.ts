/**
 * The process-chunk handler, wired from its environment, fed real SQS events built from messages received from
 * moto SQS, with the event source mapping's part played by the test: delete what succeeded, leave the batch item
 * failures (whose visibility the handler changed; see ./sqs-harness.ts). Then the dead-letter queue and
 * `npm run redrive`'s function.
 */
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { SQSClient, type Message } from '@aws-sdk/client-sqs';
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { DynamoJobStore } from '../../lambdas/adapters/dynamo-job-store';
import { S3ObjectStore } from '../../lambdas/adapters/s3-object-store';
import { SqsChunkQueue } from '../../lambdas/adapters/sqs-queue';
import { chunkHandlerFromEnv } from '../../lambdas/process-chunk/handler';
import { startSandbox, type Sandbox } from '../../local/sandbox/server';
import { redrive } from '../../scripts/redrive';
import { rememberCredentialsSeenBy } from '../audit/sensitive';
import { createJobsTable, awsDynamo } from './job-store-table';
import {
  createChunkQueues,
  chunkLambdaContext,
  depth as queueDepth,
  pump as harnessPump,
  sqsEvent as harnessSqsEvent,
  type ChunkHandler as Handler,
  type TestQueue,
} from './sqs-harness';
import { batchCalls, expectCompleteReport, pipelineEnv, seedUploadJob } from './worker-harness';

const endpoint = inject('motoEndpoint');
const dynamo = awsDynamo(inject('awsEndpoint'));
const s3 = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true });
const sqs = new SQSClient({ endpoint, region: 'us-east-1' });
const tableName = `jobs-sqs-${randomUUID()}`;
const bucketName = `bucket-sqs-${randomUUID()}`;
const MAX_RECEIVE_COUNT = 2;
let sandbox: Sandbox;
let queueUrl: string;
let queueArn: string;
let dlqUrl: string;

beforeAll(async () => {
  await createJobsTable(dynamo, tableName);
  await s3.send(new CreateBucketCommand({ Bucket: bucketName }));
  const suffix = randomUUID().slice(0, 8);
  const created = await createChunkQueues(sqs, suffix, MAX_RECEIVE_COUNT);
  ({ url: queueUrl, arn: queueArn } = created.chunks);
  dlqUrl = created.dlqUrl;
  sandbox = await startSandbox();
});
// Each test resets the sandbox: what it was sent is handed to the log audit after each.
afterEach(() => rememberCredentialsSeenBy(sandbox));
afterAll(async () => {
  await sandbox.close();
  for (const client of [dynamo, s3, sqs]) client.destroy();
});

const queue = (): TestQueue => ({ url: queueUrl, arn: queueArn });
const depth = (url: string) => queueDepth(sqs, url);
const lambdaContext = chunkLambdaContext;
const sqsEvent = (messages: Message[]) => harnessSqsEvent(messages, queueArn);
const pump = (handler: Handler, done: () => Promise<boolean>) => harnessPump(sqs, queue(), handler, done);

function handlerFor(): Handler {
  return chunkHandlerFromEnv(
    pipelineEnv({ tableName, queueUrl, bucketName, maxReceiveCount: MAX_RECEIVE_COUNT, sandbox }),
    // Seconds, not minutes, between tries: the values themselves are checked in the unit tests.
    { clients: { dynamo, s3, sqs }, worker: { redelivery: { baseDelayMs: 1_000, maxDelayMs: 2_000 } } },
  ) as Handler;
}

describe('process-chunk handler on SQS (moto)', () => {
  const jobs = new DynamoJobStore({ client: dynamo, tableName });
  const bucket = new S3ObjectStore(s3, { bucket: bucketName });
  const isDone = async (jobId: string) => (await jobs.getJob(jobId))?.state === 'done';

  it('processes real SQS events; a throttled message comes back by its changed visibility; a duplicate starts nothing', async () => {
    sandbox.reset();
    const job = await seedUploadJob(jobs, { total: 27, rejected: [2] });
    const queue = new SqsChunkQueue(sqs, queueUrl);
    await queue.sendChunks(job.messages);
    sandbox.setFaults({ failNext: { count: 1, status: 429, retryAfterSeconds: 1 } });
    const handler = handlerFor();

    const invocations = await pump(
      handler,
      async () => (await isDone(job.jobId)) && (await depth(queueUrl)) === 0,
    );
    expect(invocations.reduce((n, i) => n + i.failures, 0)).toBe(1);
    expect(invocations.flatMap((i) => i.receiveCounts).sort()).toEqual([1, 1, 1, 2]); // the throttled one, back
    await expectCompleteReport(jobs, bucket, job.jobId, '1001', job.name, 27);
    expect(await jobs.getJob(job.jobId)).toMatchObject({ started: 26, rejected: 1, failed: 0 });

    // A duplicate delivered later (a duplicate S3 event re-sends the same chunk): deleted, nothing sent.
    await queue.sendChunks([job.messages[1]!]);
    const again = await pump(handler, async () => (await depth(queueUrl)) === 0);
    expect(again.reduce((n, i) => n + i.failures, 0)).toBe(0);
    expect(sandbox.duplicates()).toEqual([]);
    expect(batchCalls(sandbox)).toHaveLength(3 + 1);
  });

  it('dead-letters after maxReceiveCount with rows reported failed; npm run redrive brings them back', async () => {
    sandbox.reset();
    const job = await seedUploadJob(jobs, { total: 14, rejected: [14] });
    await new SqsChunkQueue(sqs, queueUrl).sendChunks(job.messages);
    sandbox.setFaults({ errorRate: 1, errorStatus: 503 });
    const handler = handlerFor();

    const first = await pump(handler, async () => (await depth(dlqUrl)) === job.messages.length);
    expect(first.flatMap((i) => i.receiveCounts).sort()).toEqual([1, 1, 2, 2]);
    expect(await depth(queueUrl)).toBe(0);
    const before = await expectCompleteReport(jobs, bucket, job.jobId, '1001', job.name, 14);
    expect(before.summary).toMatchObject({ started: 0, rejected: 1, failed: 13 });
    expect(
      before.rows.filter((r) => r.status === 'failed').every((r) => r.error!.startsWith('dead-lettered: ')),
    ).toBe(true);

    sandbox.setFaults({});
    expect(await redrive(sqs, { dlqUrl, queueUrl })).toEqual({ moved: 2, failed: 0 });
    expect(await depth(dlqUrl)).toBe(0);
    await pump(
      handler,
      async () => (await jobs.getJob(job.jobId))?.started === 13 && (await depth(queueUrl)) === 0,
    );
    const after = await expectCompleteReport(jobs, bucket, job.jobId, '1001', job.name, 14);
    expect(after.summary).toMatchObject({ total: 14, started: 13, rejected: 1, failed: 0 });
    expect(sandbox.duplicates()).toEqual([]);
    expect(sandbox.started()).toHaveLength(13);
  });

  it('a malformed message is a batch item failure, not a crash of the whole batch', async () => {
    const job = await seedUploadJob(jobs, { total: 3, rejected: [] });
    const handler = handlerFor();
    const event = sqsEvent([
      {
        MessageId: 'bad-1',
        ReceiptHandle: 'r-bad',
        Body: '{"jobId":"x"',
        MD5OfBody: '',
        Attributes: {
          ApproximateReceiveCount: '1',
          SentTimestamp: '0',
          ApproximateFirstReceiveTimestamp: '0',
        },
      },
      {
        MessageId: 'good-1',
        ReceiptHandle: 'r-good',
        Body: JSON.stringify(job.messages[0]),
        MD5OfBody: '',
        Attributes: {
          ApproximateReceiveCount: '1',
          SentTimestamp: '0',
          ApproximateFirstReceiveTimestamp: '0',
        },
      },
    ]);
    expect(await handler(event, lambdaContext())).toEqual({
      batchItemFailures: [{ itemIdentifier: 'bad-1' }],
    });
    expect(await isDone(job.jobId)).toBe(true);
  });
});
