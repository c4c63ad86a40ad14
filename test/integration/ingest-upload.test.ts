/**
 * The ingest-upload Lambda handler end to end against moto_server: a real object in a real (versioned) bucket, a
 * real-shaped S3 event, the DynamoDB job store, and real SQS messages received back and checked. The handler
 * builds its own clients from the environment (AWS_ENDPOINT_URL, BUCKET_NAME, QUEUE_URL, JOBS_TABLE_NAME).
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  CreateBucketCommand,
  GetObjectCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { Context, S3Event } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { DynamoJobStore } from '../../lambdas/adapters/dynamo-job-store';
import { uploadJobId } from '../../lambdas/core/ingest';
import type { ChunkMessage, RowOutcome } from '../../lambdas/core/jobs';
import type { handler as Handler } from '../../lambdas/ingest-upload/handler';
import { s3PutEvent } from '../fixtures/events';
import { createJobsTable } from './job-store-table';

const endpoint = inject('motoEndpoint');
const region = 'us-east-1';
const s3 = new S3Client({ endpoint, region, forcePathStyle: true });
const sqs = new SQSClient({ endpoint, region });
const dynamo = new DynamoDBClient({ endpoint, region });

const suffix = randomUUID().slice(0, 8);
const bucketName = `ingest-${suffix}`;
const tableName = `jobs-${suffix}`;
let queueUrl: string;
let jobs: DynamoJobStore;
let handler: typeof Handler;

beforeAll(async () => {
  await s3.send(new CreateBucketCommand({ Bucket: bucketName }));
  await s3.send(
    new PutBucketVersioningCommand({ Bucket: bucketName, VersioningConfiguration: { Status: 'Enabled' } }),
  );
  queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: `chunks-${suffix}` }))).QueueUrl!;
  await createJobsTable(dynamo, tableName);
  jobs = new DynamoJobStore({ client: dynamo, tableName });
  // The function's environment, for this file only (undone in afterAll).
  vi.stubEnv('AWS_ENDPOINT_URL', endpoint);
  vi.stubEnv('BUCKET_NAME', bucketName);
  vi.stubEnv('QUEUE_URL', queueUrl);
  vi.stubEnv('JOBS_TABLE_NAME', tableName);
  // Imported once the environment is set, as Lambda would load it.
  ({ handler } = await import('../../lambdas/ingest-upload/handler'));
});

afterAll(() => {
  vi.unstubAllEnvs();
  s3.destroy();
  sqs.destroy();
  dynamo.destroy();
});

/** Uploads an object and returns the S3 event record fields for it: the key URL-encoded as S3 sends it. */
async function putUpload(key: string, body: string | Uint8Array) {
  const answer = await s3.send(
    new PutObjectCommand({
      Bucket: bucketName,
      Key: key,
      Body: Buffer.from(body),
      ContentLength: Buffer.byteLength(body),
    }),
  );
  return { key, versionId: answer.VersionId!, etag: answer.ETag!.replace(/"/g, '') };
}

const context = {
  functionName: 'ingest-upload',
  functionVersion: '$LATEST',
  invokedFunctionArn: `arn:aws:lambda:${region}:123456789012:function:ingest-upload`,
  memoryLimitInMB: '512',
  awsRequestId: randomUUID(),
  logGroupName: '/aws/lambda/ingest-upload',
  logStreamName: '2025/03/01/[$LATEST]abc',
  callbackWaitsForEmptyEventLoop: true,
  getRemainingTimeInMillis: () => 60_000,
  done: () => undefined,
  fail: () => undefined,
  succeed: () => undefined,
} as Context;

const invoke = (event: S3Event) => handler(event, { ...context, awsRequestId: randomUUID() });

/** Receives (and deletes) every message now on the queue. */
async function drainQueue(): Promise<ChunkMessage[]> {
  const out: ChunkMessage[] = [];
  for (;;) {
    const answer = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 300 }),
    );
    const messages = answer.Messages ?? [];
    if (messages.length === 0) return out;
    for (const message of messages) out.push(JSON.parse(message.Body!) as ChunkMessage);
    await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
      }),
    );
  }
}

async function rejectedOf(jobId: string): Promise<RowOutcome[]> {
  const out: RowOutcome[] = [];
  for await (const outcome of jobs.outcomes(jobId)) out.push(outcome);
  return out;
}

async function objectText(key: string): Promise<string> {
  const answer = await s3.send(new GetObjectCommand({ Bucket: bucketName, Key: key }));
  return answer.Body!.transformToString('utf-8');
}

const byChunkId = (a: ChunkMessage, b: ChunkMessage) => a.chunkId.localeCompare(b.chunkId);

describe('ingest-upload handler against moto', () => {
  it('streams a CSV with spaces and accents in its key into chunk messages and rejected rows', async () => {
    const lines = ['\uFEFFID;EMAIL;NOTE'];
    for (let i = 1; i <= 25; i++) lines.push(`${i};user${i}@example.com;"a; b ""${i}""\r\nline 2"`);
    lines.push('26;only two');
    lines.push('27;x@example.com;"' + 'v'.repeat(4001) + '"');
    const object = await putUpload('uploads/1001/lista de marzo é.csv', lines.join('\r\n') + '\r\n');
    await invoke(s3PutEvent(bucketName, object));

    const jobId = uploadJobId({ bucket: bucketName, ...object });
    expect(await jobs.getJob(jobId)).toMatchObject({
      name: 'lista de marzo é.csv',
      source: 'upload',
      operation: { kind: 'batch', conversationId: 1001 },
      state: 'running',
      total: 27,
      rejected: 2,
      started: 0,
      failed: 0,
    });
    const chunks = (await drainQueue()).sort(byChunkId);
    expect(chunks.map((c) => c.chunkId)).toEqual([0, 1, 2].map((i) => `${jobId}#00000000${i}`));
    expect(chunks.map((c) => c.rows.length)).toEqual([10, 10, 5]);
    for (const c of chunks)
      expect(c).toMatchObject({ jobId, operation: { kind: 'batch', conversationId: 1001 } });
    expect(chunks.flatMap((c) => c.rows.map((r) => r.row))).toEqual(
      Array.from({ length: 25 }, (_, i) => i + 1),
    );
    expect(chunks[0]!.rows[0]).toEqual({
      row: 1,
      record: { ID: '1', EMAIL: 'user1@example.com', NOTE: 'a; b "1"\r\nline 2' },
    });
    expect(await rejectedOf(jobId)).toEqual([
      { row: 26, status: 'rejected', error: 'row 26: has 2 fields, header has 3' },
      { row: 27, status: 'rejected', error: 'row 27.NOTE: value is longer than 4000 characters' },
    ]);
  });

  it('sends nothing more when the same event is delivered twice', async () => {
    const object = await putUpload('uploads/77/twice.jsonl', '{"A":"1"}\n{"A":"2"}\n');
    await invoke(s3PutEvent(bucketName, object));
    await invoke(s3PutEvent(bucketName, object));
    const chunks = await drainQueue();
    expect(chunks).toHaveLength(1);
    expect(chunks[0]!.rows).toEqual([
      { row: 1, record: { A: '1' } },
      { row: 2, record: { A: '2' } },
    ]);
  });

  it('reads the version the event named, not the newest', async () => {
    const first = await putUpload('uploads/77/versioned.json', '[{"V":"first"}]');
    await putUpload('uploads/77/versioned.json', '[{"V":"second"}]');
    await invoke(s3PutEvent(bucketName, first));
    const chunks = await drainQueue();
    expect(chunks.map((c) => c.rows)).toEqual([[{ row: 1, record: { V: 'first' } }]]);
  });

  it('writes the report at once when every row is rejected (unusable header)', async () => {
    const object = await putUpload('uploads/77/bad header.csv', 'A,A\n1,2\n3,4\n');
    await invoke(s3PutEvent(bucketName, object));
    expect(await drainQueue()).toEqual([]);
    const jobId = uploadJobId({ bucket: bucketName, ...object });
    expect(await jobs.getJob(jobId)).toMatchObject({ state: 'done', total: 2, rejected: 2 });
    expect(await objectText('reports/77/bad header.csv.report.csv')).toBe(
      'row,status,idResult,error\r\n' +
        '1,rejected,,row 1: header columns 1 and 2: the same field code twice\r\n' +
        '2,rejected,,row 2: header columns 1 and 2: the same field code twice\r\n',
    );
    expect(JSON.parse(await objectText('reports/77/bad header.csv.summary.json'))).toMatchObject({
      jobId,
      total: 2,
      rejected: 2,
      started: 0,
      failed: 0,
    });
  });

  it('reports an empty file and a key without a conversation id, queueing nothing', async () => {
    await invoke(s3PutEvent(bucketName, await putUpload('uploads/77/empty.csv', '')));
    await invoke(s3PutEvent(bucketName, await putUpload('uploads/Ventas/q1.csv', 'A\n1\n')));
    expect(await drainQueue()).toEqual([]);
    expect(JSON.parse(await objectText('reports/77/empty.csv.summary.json'))).toMatchObject({
      total: 0,
      error: 'file is empty',
    });
    expect(await objectText('reports/_invalid/Ventas/q1.csv.report.csv')).toBe(
      'row,status,idResult,error\r\n',
    );
    expect(JSON.parse(await objectText('reports/_invalid/Ventas/q1.csv.summary.json')).error).toContain(
      'conversationId',
    );
  });
});
