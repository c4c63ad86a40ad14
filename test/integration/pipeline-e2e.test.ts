/**
 * The batch pipeline end to end against moto_server, with real AWS APIs at every step: a CSV uploaded to a real
 * (versioned) bucket -> S3's own event notification to an SQS queue (moto sends it; the test plays the Lambda
 * trigger by receiving it) -> the real ingest-upload handler -> chunk messages on a real SQS queue with a
 * dead-letter queue -> the real process-chunk handler, driven by SQS events built from received messages ->
 * the sandbox as DANAConnect -> the jobs table in DynamoDB -> the report CSV and summary in S3.
 *
 * Then the same with duplicates: the same S3 event delivered twice at once and once more after the job is done,
 * and every chunk message delivered twice. In each: total = started + rejected + failed, every row in the report
 * exactly once, and the sandbox saw no contact started twice.
 *
 * moto's notification differs from S3's in two ways the handler copes with either way: it percent-encodes the
 * key's slashes too (`uploads%2F1001%2F...`; S3 leaves them), and it carries no versionId on a versioned bucket.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import {
  CreateBucketCommand,
  PutBucketNotificationConfigurationCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { S3Event } from 'aws-lambda';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DynamoJobStore } from '../../lambdas/adapters/dynamo-job-store';
import { S3ObjectStore } from '../../lambdas/adapters/s3-object-store';
import { decodeS3Key, uploadJobId } from '../../lambdas/core/ingest';
import { reportKeys } from '../../lambdas/core/reports';
import { ingestDepsFromEnv, ingestUploadHandler } from '../../lambdas/ingest-upload/handler';
import { chunkHandlerFromEnv } from '../../lambdas/process-chunk/handler';
import { startSandbox, type Sandbox } from '../../local/sandbox/server';
import { rememberCredentialsSeenBy } from '../audit/sensitive';
import { createJobsTable, awsDynamo } from './job-store-table';
import { arnOf, createChunkQueues, depth, pump, type ChunkHandler, type TestQueue } from './sqs-harness';
import { batchCalls, expectCompleteReport, pipelineEnv } from './worker-harness';

const endpoint = inject('motoEndpoint');
const region = 'us-east-1';
const dynamo = awsDynamo(inject('awsEndpoint'));
const s3 = new S3Client({ endpoint, region, forcePathStyle: true });
const sqs = new SQSClient({ endpoint, region });
const suffix = randomUUID().slice(0, 8);
const tableName = `jobs-e2e-${suffix}`;
const bucketName = `uploads-e2e-${suffix}`;
const MAX_RECEIVE_COUNT = 3;

let sandbox: Sandbox;
let chunks: TestQueue;
let dlqUrl: string;
let notificationsUrl: string;
let ingest: (event: S3Event) => Promise<void>;
let worker: ChunkHandler;
const jobs = new DynamoJobStore({ client: dynamo, tableName });
const bucket = new S3ObjectStore(s3, { bucket: bucketName });

beforeAll(async () => {
  await createJobsTable(dynamo, tableName);
  await s3.send(new CreateBucketCommand({ Bucket: bucketName }));
  await s3.send(
    new PutBucketVersioningCommand({ Bucket: bucketName, VersioningConfiguration: { Status: 'Enabled' } }),
  );
  ({ chunks, dlqUrl } = await createChunkQueues(sqs, suffix, MAX_RECEIVE_COUNT));
  notificationsUrl = (await sqs.send(new CreateQueueCommand({ QueueName: `uploads-${suffix}` }))).QueueUrl!;
  await s3.send(
    new PutBucketNotificationConfigurationCommand({
      Bucket: bucketName,
      NotificationConfiguration: {
        QueueConfigurations: [
          {
            QueueArn: await arnOf(sqs, notificationsUrl),
            Events: ['s3:ObjectCreated:*'],
            Filter: { Key: { FilterRules: [{ Name: 'prefix', Value: 'uploads/' }] } },
          },
        ],
      },
    }),
  );
  sandbox = await startSandbox();

  const env = pipelineEnv({
    tableName,
    queueUrl: chunks.url,
    bucketName,
    maxReceiveCount: MAX_RECEIVE_COUNT,
    sandbox,
  });
  const clients = { dynamo, s3, sqs };
  // The handlers' own wiring from their environment, over clients pointed at moto (one DynamoDB request at a
  // time: moto's conditional writes are not atomic across its threads, DynamoDB's are).
  const ingestDeps = ingestDepsFromEnv(env, clients);
  ingest = ingestUploadHandler(() => ingestDeps, new Logger({ serviceName: 'e2e' }));
  worker = chunkHandlerFromEnv(env, {
    clients,
    worker: { redelivery: { baseDelayMs: 1_000, maxDelayMs: 2_000 } },
  }) as ChunkHandler;
});

afterAll(async () => {
  if (sandbox) {
    rememberCredentialsSeenBy(sandbox);
    await sandbox.close();
  }
  for (const client of [dynamo, s3, sqs]) client.destroy();
});

/** The next S3 event S3 put on the notification queue (its one-off s3:TestEvent is skipped), deleted. */
async function nextUploadEvent(): Promise<S3Event> {
  const deadline = Date.now() + 20_000; // a guard against a hang, not a timing assertion
  while (Date.now() < deadline) {
    const answer = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: notificationsUrl, MaxNumberOfMessages: 1, WaitTimeSeconds: 1 }),
    );
    for (const message of answer.Messages ?? []) {
      await sqs.send(
        new DeleteMessageCommand({ QueueUrl: notificationsUrl, ReceiptHandle: message.ReceiptHandle! }),
      );
      const body = JSON.parse(message.Body!) as Partial<S3Event> & { Event?: string };
      if (body.Records) return body as S3Event;
    }
  }
  throw new Error('S3 sent no notification');
}

interface Upload {
  key: string;
  csv: string;
  /** Row numbers that are invalid, and the emails of the valid rows by row. */
  invalid: number[];
  tooLong?: number;
  emails: Map<number, string>;
}

/**
 * A CSV with `total` data rows, each unique (the sandbox's duplicate check is exact): row `ragged` has one cell
 * too many, row `tooLong` a value over 4000 characters. Quoted cells hold commas, quotes and a line break.
 */
function csvUpload(key: string, total: number, ragged: number, tooLong?: number): Upload {
  const lines = ['NAME,EMAIL,NOTE'];
  const emails = new Map<number, string>();
  for (let row = 1; row <= total; row++) {
    const email = ['c', row, '.', suffix, '@', 'example.com'].join('');
    if (row === ragged) lines.push(`Person ${row},${email},note,extra`);
    else if (row === tooLong) lines.push(`${'x'.repeat(4001)},${email},note`);
    else {
      lines.push(`Person ${row},${email},"says ""hi"", then
leaves"`);
      emails.set(row, email);
    }
  }
  const invalid = tooLong === undefined ? [ragged] : [ragged, tooLong].sort((a, b) => a - b);
  return { key, csv: lines.join('\r\n') + '\r\n', invalid, tooLong, emails };
}

async function put(upload: Upload): Promise<void> {
  await s3.send(
    new PutObjectCommand({ Bucket: bucketName, Key: upload.key, Body: Buffer.from(upload.csv, 'utf8') }),
  );
}

function jobIdOf(event: S3Event): string {
  const object = event.Records[0]!.s3.object;
  return uploadJobId({
    bucket: bucketName,
    key: decodeS3Key(object.key),
    versionId: object.versionId,
    etag: object.eTag,
  });
}

const isDone = async (jobId: string) =>
  (await jobs.getJob(jobId))?.state === 'done' && (await depth(sqs, chunks.url)) === 0;

/** What both tests check once the job is done: counts, the report in S3, and what the sandbox started. */
async function expectFinished(upload: Upload, jobId: string, name: string, total: number) {
  const { rows, summary } = await expectCompleteReport(jobs, bucket, jobId, '1001', name, total);
  expect(await jobs.getJob(jobId)).toMatchObject({
    state: 'done',
    source: 'upload',
    total,
    rejected: upload.invalid.length,
    started: total - upload.invalid.length,
    failed: 0,
  });
  expect(summary.finishedAt).toBeTruthy();
  for (const row of rows) {
    if (upload.invalid.includes(row.row)) {
      expect(row).toMatchObject({ status: 'rejected' });
      // Reasons name the row, the field and the rule, never the value.
      expect(row.error).toBe(
        row.row === upload.tooLong
          ? `row ${row.row}.NAME: value is longer than 4000 characters`
          : `row ${row.row}: has 4 fields, header has 3`,
      );
    } else {
      expect(row.status).toBe('started');
      expect(row.idResult).toBeGreaterThan(0);
    }
  }
  const ids = rows.filter((r) => r.status === 'started').map((r) => r.idResult);
  expect(new Set(ids).size).toBe(ids.length);

  // Every valid row started exactly once, through start/list/data on its conversation, with its own fields.
  expect(sandbox.duplicates()).toEqual([]);
  const started = sandbox.started();
  expect(started.every((s) => s.via === 'batch' && s.conversationId === 1001)).toBe(true);
  expect(started.map((s) => s.fields.EMAIL).sort()).toEqual([...upload.emails.values()].sort());
  expect(await depth(sqs, dlqUrl)).toBe(0);
  return rows;
}

describe('S3 notification -> ingest -> SQS -> worker -> DANAConnect -> jobs table -> report in S3 (moto)', () => {
  it('processes an upload with valid and invalid rows, its key holding a space', async () => {
    sandbox.reset();
    const upload = csvUpload('uploads/1001/march contacts.csv', 23, 4, 17);
    await put(upload);

    const event = await nextUploadEvent();
    expect(event.Records).toHaveLength(1);
    const record = event.Records[0]!;
    expect(record.eventName).toMatch(/^ObjectCreated:/);
    expect(record.s3.bucket.name).toBe(bucketName);
    expect(record.s3.object.key).not.toContain(' '); // URL-encoded, a space as '+'
    expect(decodeS3Key(record.s3.object.key)).toBe(upload.key);

    await ingest(event);
    const jobId = jobIdOf(event);
    expect(await jobs.getJob(jobId)).toMatchObject({ state: 'running', total: 23, rejected: 2 });
    expect(await depth(sqs, chunks.url)).toBe(3); // 21 valid rows in chunks of at most 10

    await pump(sqs, chunks, worker, () => isDone(jobId));
    await expectFinished(upload, jobId, 'march contacts.csv', 23);
    expect(batchCalls(sandbox)).toHaveLength(3);
    expect(sandbox.started()).toHaveLength(21);
  });

  it('the same S3 event twice (at once, and again after the job is done) and every chunk message twice: nothing started twice', async () => {
    sandbox.reset();
    const upload = csvUpload('uploads/1001/dupes/ñandú list.csv', 15, 9);
    await put(upload);
    const event = await nextUploadEvent();
    const jobId = jobIdOf(event);

    // Two deliveries of one event at once: both may ingest (the second finds the job `ingesting`) and send the
    // same deterministic chunks again, or the second finds it `running` and sends nothing.
    await Promise.all([ingest(event), ingest(event)]);
    expect(await jobs.getJob(jobId)).toMatchObject({ state: 'running', total: 15, rejected: 1 });
    const queued = await depth(sqs, chunks.url);
    expect([2, 4]).toContain(queued);

    // Every received message is delivered twice (a lost delete); one message per receive, so that duplicate
    // messages of one chunk arrive one after the other, as separate deliveries.
    const invocations = await pump(sqs, chunks, worker, () => isDone(jobId), {
      deliverTwice: true,
      maxMessages: 1,
    });
    expect(invocations.length).toBeGreaterThanOrEqual(2 * queued);
    expect(invocations.every((i) => i.failures === 0)).toBe(true);
    const rows = await expectFinished(upload, jobId, 'dupes/ñandú list.csv', 15);
    expect(batchCalls(sandbox)).toHaveLength(2);
    expect(sandbox.started()).toHaveLength(14);

    // A third delivery of the event, after the job is done: no new chunk, the same report.
    const keys = reportKeys('1001', 'dupes/ñandú list.csv');
    const readText = async (key: string) => {
      let text = '';
      for await (const piece of await bucket.read(key)) text += Buffer.from(piece).toString('utf8');
      return text;
    };
    const reportBefore = await readText(keys.csv);
    await ingest(event);
    expect(await depth(sqs, chunks.url)).toBe(0);
    expect(await readText(keys.csv)).toBe(reportBefore);
    expect((await jobs.getJob(jobId))!.state).toBe('done');
    expect(rows).toHaveLength(15);
    expect(sandbox.duplicates()).toEqual([]);
    expect(batchCalls(sandbox)).toHaveLength(2);
  });
});
