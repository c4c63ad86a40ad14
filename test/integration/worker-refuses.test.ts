/**
 * The chunk queue is a door too: a principal allowed to send to it could inject chunks. The process-chunk handler,
 * wired from its environment with the DynamoDB job store on moto, refuses a message whose job does not exist or
 * whose ids are not the gateway's shape: it logs why (no values), reports it as a batch item failure (it ends in
 * the dead-letter queue) and starts nothing: no call to DANAConnect, no claim, no outcome.
 */
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { ReceiveMessageCommand, SendMessageCommand, SQSClient, type Message } from '@aws-sdk/client-sqs';
import { QueryCommand } from '@aws-sdk/client-dynamodb';
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it, vi, type MockInstance } from 'vitest';
import { DynamoJobStore } from '../../lambdas/adapters/dynamo-job-store';
import { chunkHandlerFromEnv } from '../../lambdas/process-chunk/handler';
import { startSandbox, type Sandbox } from '../../local/sandbox/server';
import { rememberCredentialsSeenBy } from '../audit/sensitive';
import { awsDynamo, createJobsTable } from './job-store-table';
import { chunkLambdaContext, createChunkQueues, sqsEvent, type ChunkHandler } from './sqs-harness';
import { batchCalls, pipelineEnv, seedUploadJob } from './worker-harness';

const endpoint = inject('motoEndpoint');
const dynamo = awsDynamo(inject('awsEndpoint'));
const s3 = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true });
const sqs = new SQSClient({ endpoint, region: 'us-east-1' });
const tableName = `jobs-refuse-${randomUUID()}`;
const bucketName = `bucket-refuse-${randomUUID()}`;
let sandbox: Sandbox;
let queueUrl: string;
let queueArn: string;

beforeAll(async () => {
  await createJobsTable(dynamo, tableName);
  await s3.send(new CreateBucketCommand({ Bucket: bucketName }));
  ({ url: queueUrl, arn: queueArn } = (await createChunkQueues(sqs, randomUUID().slice(0, 8), 3)).chunks);
  sandbox = await startSandbox();
});
afterEach(() => rememberCredentialsSeenBy(sandbox));
afterAll(async () => {
  await sandbox.close();
  for (const client of [dynamo, s3, sqs]) client.destroy();
});

let writes: MockInstance[] = [];
afterEach(() => {
  for (const spy of writes) spy.mockRestore();
  writes = [];
});
/** Watches what the handler logs (the lines are still printed, and reach the log audit). */
function watchLogs(): () => string {
  writes = [vi.spyOn(process.stdout, 'write'), vi.spyOn(process.stderr, 'write')];
  return () => writes.flatMap((spy) => spy.mock.calls.map(([chunk]) => String(chunk))).join('');
}

function handlerFor(): ChunkHandler {
  return chunkHandlerFromEnv(pipelineEnv({ tableName, queueUrl, bucketName, maxReceiveCount: 3, sandbox }), {
    clients: { dynamo, s3, sqs },
  }) as ChunkHandler;
}

/** Sends the bodies as they are, then receives them all as the event source would. */
async function deliver(bodies: string[]): Promise<Message[]> {
  for (const body of bodies)
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body }));
  const received: Message[] = [];
  while (received.length < bodies.length) {
    const answer = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        MessageSystemAttributeNames: ['All'],
        WaitTimeSeconds: 1,
      }),
    );
    received.push(...(answer.Messages ?? []));
  }
  return received;
}

/** Every item stored under a job's partition key. */
async function itemsOf(jobId: string): Promise<number> {
  const answer = await dynamo.send(
    new QueryCommand({
      TableName: tableName,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': { S: `job#${jobId}` } },
    }),
  );
  return answer.Count ?? 0;
}

const chunkBody = (jobId: string, chunkId = `${jobId}#000000000`, email = 'forged.person@example.com') =>
  JSON.stringify({
    jobId,
    chunkId,
    operation: { kind: 'batch', conversationId: 1001 },
    rows: [{ row: 1, record: { EMAIL: email, NAME: 'Forged Person' } }],
  });

describe('process-chunk refuses chunks the gateway did not send (moto)', () => {
  const jobs = new DynamoJobStore({ client: dynamo, tableName });

  it('a well-formed chunk of a job that does not exist: refused, logged, nothing started or stored', async () => {
    sandbox.reset();
    const logs = watchLogs();
    const ghost = randomBytes(16).toString('hex');
    const messages = await deliver([chunkBody(ghost)]);
    const answer = await handlerFor()(sqsEvent(messages, queueArn), chunkLambdaContext());

    expect(answer.batchItemFailures).toEqual([{ itemIdentifier: messages[0]!.MessageId }]);
    expect(batchCalls(sandbox)).toEqual([]);
    expect(sandbox.received()).toEqual([]);
    expect(await itemsOf(ghost)).toBe(0);
    const text = logs();
    expect(text).toContain('chunk refused, nothing started');
    expect(text).toContain('names no job of this gateway');
    expect(text).toContain(ghost);
    expect(text).not.toContain('forged.person@example.com');
    expect(text).not.toContain('Forged Person');
  });

  it.each([
    ['a job id of another shape', () => chunkBody('job1', 'job1#000000000'), 'jobId'],
    ['a job id with a value in it', () => chunkBody('forged.person@example.com'), 'jobId'],
    [
      'a chunk id of another job',
      () => chunkBody(randomBytes(16).toString('hex'), `${'a'.repeat(32)}#000000000`),
      'chunkId',
    ],
  ])('%s: refused as malformed before anything is read or started', async (_, body, invalid) => {
    sandbox.reset();
    const logs = watchLogs();
    const messages = await deliver([body()]);
    const answer = await handlerFor()(sqsEvent(messages, queueArn), chunkLambdaContext());
    expect(answer.batchItemFailures).toHaveLength(1);
    expect(sandbox.received()).toEqual([]);
    const text = logs();
    expect(text).toContain('malformed chunk message');
    expect(text).toContain(`"invalid":"${invalid}"`);
    expect(text).not.toContain('forged.person@example.com');
  });

  it('a chunk of a job the gateway created is processed as before, beside a refused one', async () => {
    sandbox.reset();
    const job = await seedUploadJob(jobs, { total: 3, rejected: [] });
    const ghost = randomBytes(16).toString('hex');
    const messages = await deliver([JSON.stringify(job.messages[0]), chunkBody(ghost)]);
    const answer = await handlerFor()(sqsEvent(messages, queueArn), chunkLambdaContext());
    const refused = messages.find((m) => m.Body!.includes(ghost))!;
    expect(answer.batchItemFailures).toEqual([{ itemIdentifier: refused.MessageId }]);
    expect(batchCalls(sandbox)).toHaveLength(1);
    expect(await jobs.getJob(job.jobId)).toMatchObject({ state: 'done', started: 3 });
    expect(await itemsOf(ghost)).toBe(0);
  });
});
