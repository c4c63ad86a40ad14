/**
 * Job Finished events and signed webhooks on moto_server, through the fault proxy (`inject('awsEndpoint')`,
 * which forwards EventBridge, SQS, DynamoDB and Secrets Manager byte for byte): the worker finishes a job in the
 * DynamoDB job store, EventBridge (a rule shaped as the stack's) puts the event on an SQS delivery queue, and the
 * deliver-webhook handler posts it, signed, to a loopback receiver that verifies it with node:crypto alone.
 * Also: a stop between `done` and the event publishes on the redelivery, with the same id.
 */
import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  CreateEventBusCommand,
  EventBridgeClient,
  PutRuleCommand,
  PutTargetsCommand,
} from '@aws-sdk/client-eventbridge';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { CreateQueueCommand, ReceiveMessageCommand, SQSClient, type Message } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { awsClientConfig } from '../../lambdas/adapters/aws-clients';
import { DynamoJobStore } from '../../lambdas/adapters/dynamo-job-store';
import { EventBridgePublisher } from '../../lambdas/adapters/eventbridge-publisher';
import { deliverHandlerFromEnv } from '../../lambdas/deliver-webhook/handler';
import type { JobEventDeps } from '../../lambdas/core/job-events';
import type { ChunkMessage } from '../../lambdas/core/jobs';
import { processChunk, type WorkerDeps } from '../../lambdas/core/worker';
import { MemoryBucket } from '../harness/memory-bucket';
import { awsDynamo, createJobsTable } from './job-store-table';
import { arnOf, sqsEvent } from './sqs-harness';

const endpoint = inject('awsEndpoint');
const at = { endpoint, region: 'us-east-1' };
const eventbridge = new EventBridgeClient({ ...awsClientConfig('eventbridge'), ...at });
const sqs = new SQSClient({ ...awsClientConfig('sqs'), ...at });
const secrets = new SecretsManagerClient({ ...awsClientConfig('secretsmanager'), ...at });
const dynamo = awsDynamo(endpoint);

const suffix = randomUUID().slice(0, 8);
const busName = `jobs-${suffix}`;
const tableName = `jobs-events-${suffix}`;
const SECRET = `whsec_${randomBytes(32).toString('base64')}`;
let deliveryUrl: string;
let deliveryArn: string;
let deadLetterUrl: string;

/** A loopback receiver: records each request and answers with the next status of `statuses` (then 204). */
interface Receiver {
  url: string;
  requests: { headers: IncomingHttpHeaders; body: string }[];
  statuses: number[];
  server: Server;
}

async function startReceiver(): Promise<Receiver> {
  const receiver = { requests: [], statuses: [] } as unknown as Receiver;
  receiver.server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (piece: string) => (body += piece));
    req.on('end', () => {
      receiver.requests.push({ headers: req.headers, body });
      res.writeHead(receiver.statuses.shift() ?? 204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(receiver.server.address() as AddressInfo).port}/hooks/dana`;
  return receiver;
}

/** Standard Webhooks verification with node:crypto alone, as docs/EVENTS.md shows a receiver. */
function verify(secret: string, headers: IncomingHttpHeaders, body: string): boolean {
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  const signed = `${headers['webhook-id']}.${headers['webhook-timestamp']}.${body}`;
  const expected = createHmac('sha256', key).update(signed).digest();
  return String(headers['webhook-signature'])
    .split(' ')
    .some((entry) => {
      const [version, signature] = entry.split(',');
      const given = Buffer.from(signature ?? '', 'base64');
      return version === 'v1' && given.length === expected.length && timingSafeEqual(given, expected);
    });
}

beforeAll(async () => {
  await createJobsTable(dynamo, tableName);
  await eventbridge.send(new CreateEventBusCommand({ Name: busName }));
  deadLetterUrl = (await sqs.send(new CreateQueueCommand({ QueueName: `webhooks-dlq-${suffix}` }))).QueueUrl!;
  deliveryUrl = (await sqs.send(new CreateQueueCommand({ QueueName: `webhooks-${suffix}` }))).QueueUrl!;
  deliveryArn = await arnOf(sqs, deliveryUrl);
  // The stack's rule (infra/constructs/job-events.ts): Job Finished events -> {"webhook":"crm","detail":…}.
  await eventbridge.send(
    new PutRuleCommand({
      Name: `crm-${suffix}`,
      EventBusName: busName,
      EventPattern: JSON.stringify({ source: ['dana.gateway'], 'detail-type': ['Job Finished'] }),
    }),
  );
  await eventbridge.send(
    new PutTargetsCommand({
      Rule: `crm-${suffix}`,
      EventBusName: busName,
      Targets: [
        {
          Id: 'delivery',
          Arn: deliveryArn,
          InputTransformer: {
            InputPathsMap: { detail: '$.detail' },
            InputTemplate: '{"webhook":"crm","detail":<detail>}',
          },
        },
      ],
    }),
  );
});

afterAll(() => {
  for (const client of [eventbridge, sqs, secrets, dynamo]) client.destroy();
});

async function receiveAll(url: string, wantAtLeast: number): Promise<Message[]> {
  const messages: Message[] = [];
  for (let i = 0; i < 10 && messages.length < wantAtLeast; i++) {
    const answer = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: url,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
        MessageSystemAttributeNames: ['All'],
        MessageAttributeNames: ['All'],
      }),
    );
    messages.push(...(answer.Messages ?? []));
  }
  return messages;
}

/** A new upload job in the DynamoDB store, running, with its one chunk. */
async function runningJob(jobs: DynamoJobStore): Promise<ChunkMessage> {
  const jobId = randomBytes(16).toString('hex');
  const operation = { kind: 'batch', conversationId: 1001 } as const;
  await jobs.createJob({ jobId, source: 'upload', operation, name: `list-${suffix}` });
  await jobs.finishIngest(jobId, { total: 1, rejected: 0 });
  return { jobId, chunkId: `${jobId}#000000000`, operation, rows: [{ row: 1, record: { NAME: 'Ada' } }] };
}

function worker(jobs: WorkerDeps['jobs'], events: JobEventDeps): WorkerDeps {
  return {
    client: {
      startBatch: async () => ({ status: 200, body: [{ wsResult: { idResult: 3663 } }] }),
    } as unknown as WorkerDeps['client'],
    jobs,
    bucket: new MemoryBucket(),
    limiter: { acquire: async () => undefined },
    events,
    leaseMs: 60_000,
    maxReceiveCount: 5,
  };
}

const bodies = (messages: Message[]) =>
  messages.map((m) => JSON.parse(m.Body!) as { webhook: string; detail: Record<string, unknown> });

describe('Job Finished on EventBridge (moto)', () => {
  it('a finished job reaches the rule’s queue once; a stop after `done` publishes on the redelivery, same id', async () => {
    const jobs = new DynamoJobStore({ client: dynamo, tableName });
    const bus = new EventBridgePublisher(eventbridge, busName);
    let refuse = true;
    const events: JobEventDeps = {
      reportBucket: 'jobs-bucket',
      publisher: {
        publishJobFinished: async (detail) => {
          if (refuse) throw new Error('stopped between done and the event');
          await bus.publishJobFinished(detail);
        },
      },
    };
    const message = await runningJob(jobs);
    await expect(processChunk(worker(jobs, events), message, 1)).rejects.toThrow('stopped between');
    expect((await jobs.getJob(message.jobId))?.state).toBe('done');
    refuse = false;
    await processChunk(worker(jobs, events), message, 2); // the redelivery
    await processChunk(worker(jobs, events), message, 3); // a duplicate: nothing more
    const received = bodies(await receiveAll(deliveryUrl, 1)).filter((b) => b.detail.jobId === message.jobId);
    expect(received).toHaveLength(1);
    expect(received[0]).toEqual({
      webhook: 'crm',
      detail: expect.objectContaining({
        eventId: message.jobId,
        jobId: message.jobId,
        source: { kind: 'upload', key: `uploads/1001/list-${suffix}` },
        conversationId: 1001,
        total: 1,
        started: 1,
        report: { bucket: 'jobs-bucket', key: `reports/1001/list-${suffix}.report.csv` },
      }),
    });
    expect(JSON.stringify(received[0])).not.toContain('Ada');
    expect((await jobs.getJob(message.jobId))?.eventPublished).toBe(true);
  });

  it('a stop after the put but before the flag publishes again with the same event id', async () => {
    const jobs = new DynamoJobStore({ client: dynamo, tableName });
    const events: JobEventDeps = {
      reportBucket: 'b',
      publisher: new EventBridgePublisher(eventbridge, busName),
    };
    const message = await runningJob(jobs);
    const stopsBeforeFlag = Object.assign(Object.create(jobs) as DynamoJobStore, {
      markEventPublished: async () => {
        throw new Error('stopped before the flag');
      },
    });
    await expect(processChunk(worker(stopsBeforeFlag, events), message, 1)).rejects.toThrow(
      'before the flag',
    );
    await processChunk(worker(jobs, events), message, 2);
    const received = bodies(await receiveAll(deliveryUrl, 2)).filter((b) => b.detail.jobId === message.jobId);
    expect(received.map((b) => b.detail.eventId)).toEqual([message.jobId, message.jobId]);
  });
});

describe('signed webhooks from the delivery queue (moto + a loopback receiver)', () => {
  let receiver: Receiver;
  let secretArn: string;
  beforeAll(async () => {
    receiver = await startReceiver();
    secretArn = (
      await secrets.send(new CreateSecretCommand({ Name: `webhook-crm-${suffix}`, SecretString: SECRET }))
    ).ARN!;
  });
  afterAll(() => new Promise<void>((resolve) => receiver.server.close(() => resolve())));

  const handler = () =>
    deliverHandlerFromEnv(
      {
        WEBHOOKS: JSON.stringify([{ name: 'crm', url: receiver.url, secretArn }]),
        QUEUE_URL: deliveryUrl,
        DEAD_LETTER_QUEUE_URL: deadLetterUrl,
        POWERTOOLS_METRICS_DISABLED: 'true',
      },
      { sqs, secrets, rules: { allowLoopback: true } },
    );

  it('posts the event signed per Standard Webhooks; a 500 comes back later, a 2xx ends it', async () => {
    const jobs = new DynamoJobStore({ client: dynamo, tableName });
    const events: JobEventDeps = {
      reportBucket: 'b',
      publisher: new EventBridgePublisher(eventbridge, busName),
    };
    const message = await runningJob(jobs);
    await processChunk(worker(jobs, events), message, 1);
    const queued = (await receiveAll(deliveryUrl, 1)).filter((m) => m.Body!.includes(message.jobId));
    expect(queued).toHaveLength(1);

    receiver.statuses.push(500);
    const first = await handler()(sqsEvent(queued, deliveryArn), {} as never);
    expect(first.batchItemFailures).toEqual([{ itemIdentifier: queued[0]!.MessageId }]);
    const second = await handler()(sqsEvent(queued, deliveryArn), {} as never);
    expect(second.batchItemFailures).toEqual([]);

    const got = receiver.requests.filter((r) => r.body.includes(message.jobId));
    expect(got).toHaveLength(2);
    for (const request of got) {
      expect(verify(SECRET, request.headers, request.body)).toBe(true);
      expect(request.headers['webhook-id']).toBe(`msg_${message.jobId}_crm`);
      expect(request.headers['content-type']).toBe('application/json');
      expect(Math.abs(Number(request.headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(300);
      expect(JSON.parse(request.body)).toMatchObject({
        type: 'job.finished',
        data: { eventId: message.jobId, total: 1, started: 1 },
      });
    }
    expect(got[1]!.body).toBe(got[0]!.body);
    // Tampering is caught: the same check refuses another body or another secret.
    expect(verify(SECRET, got[0]!.headers, got[0]!.body.replace('"total":1', '"total":2'))).toBe(false);
    expect(verify(`whsec_${randomBytes(32).toString('base64')}`, got[0]!.headers, got[0]!.body)).toBe(false);
  });

  it('a 410 moves the message to the dead-letter queue with its reason; nothing is retried', async () => {
    const jobs = new DynamoJobStore({ client: dynamo, tableName });
    const events: JobEventDeps = {
      reportBucket: 'b',
      publisher: new EventBridgePublisher(eventbridge, busName),
    };
    const message = await runningJob(jobs);
    await processChunk(worker(jobs, events), message, 1);
    const queued = (await receiveAll(deliveryUrl, 1)).filter((m) => m.Body!.includes(message.jobId));
    receiver.statuses.push(410);
    const answer = await handler()(sqsEvent(queued, deliveryArn), {} as never);
    expect(answer.batchItemFailures).toEqual([]);
    const dead = (await receiveAll(deadLetterUrl, 1)).filter((m) => m.Body!.includes(message.jobId));
    expect(dead).toHaveLength(1);
    expect(dead[0]!.MessageAttributes?.reason?.StringValue).toBe('gone');
  });

  it('refuses a receiver on a private address at delivery, whatever the configuration says', async () => {
    const refused = deliverHandlerFromEnv(
      {
        WEBHOOKS: JSON.stringify([{ name: 'crm', url: receiver.url, secretArn }]),
        QUEUE_URL: deliveryUrl,
        DEAD_LETTER_QUEUE_URL: deadLetterUrl,
        POWERTOOLS_METRICS_DISABLED: 'true',
      },
      { sqs, secrets }, // the stack's rules: no loopback
    );
    const before = receiver.requests.length;
    const body = JSON.stringify({
      webhook: 'crm',
      detail: { eventId: 'c'.repeat(32), jobId: 'c'.repeat(32), finishedAt: '2026-12-01T00:00:00Z' },
    });
    const fake: Message = {
      MessageId: randomUUID(),
      ReceiptHandle: 'not-a-real-handle',
      Body: body,
      MD5OfBody: 'x',
      Attributes: { ApproximateReceiveCount: '1', SentTimestamp: String(Date.now()) },
    };
    const answer = await refused(sqsEvent([fake], deliveryArn), {} as never);
    expect(answer.batchItemFailures).toHaveLength(1);
    expect(receiver.requests.length).toBe(before);
  });
});
