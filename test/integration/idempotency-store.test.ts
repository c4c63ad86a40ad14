/**
 * The IdempotencyStore contract, run against the DynamoDB store on moto_server and against its memory twin (both
 * must behave the same), the DynamoDB item's layout in the jobs table, the IAM actions it needs, and a keyed
 * async request through the start-data handler with both stores on DynamoDB. Time is a fake clock, so records
 * expire without waiting.
 */
import { DeleteTableCommand, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { TABLE_ACCESS } from '../../infra/constructs/table-access';
import { DynamoIdempotencyStore, idempotencyPk } from '../../lambdas/adapters/dynamo-idempotency-store';
import { DynamoJobStore } from '../../lambdas/adapters/dynamo-job-store';
import { useLocalJobDeps } from '../../lambdas/adapters/job-deps';
import { MemoryIdempotencyStore } from '../../lambdas/adapters/memory-idempotency-store';
import type { IdempotencyStore } from '../../lambdas/core/idempotency';
import type { ChunkMessage, ChunkQueue } from '../../lambdas/core/jobs';
import type { HttpHandler } from '../../lambdas/http/doorway';
import { apiGatewayEvent, lambdaContext, withBody, withHeader } from '../fixtures/events';
import { createJobsTable, awsDynamo } from './job-store-table';

const clock = { now: Date.UTC(2026, 0, 2, 3, 4, 5) };
const dynamo = awsDynamo(inject('awsEndpoint'));
const tableName = `jobs-idempotency-${randomUUID()}`;

beforeAll(() => createJobsTable(dynamo, tableName));
afterAll(async () => {
  await dynamo.send(new DeleteTableCommand({ TableName: tableName }));
  dynamo.destroy();
});

const stores: [string, () => IdempotencyStore][] = [
  [
    'DynamoIdempotencyStore',
    () => new DynamoIdempotencyStore({ client: dynamo, tableName, now: () => clock.now }),
  ],
  ['MemoryIdempotencyStore', () => new MemoryIdempotencyStore(() => clock.now)],
];

const scope = () => randomUUID().replace(/-/g, '').repeat(2);
const record = (digit: string, fingerprint = 'f'.repeat(64)) => ({ jobId: digit.repeat(32), fingerprint });

describe.each(stores)('%s', (_, makeStore) => {
  const store = makeStore();

  it('stores the first claim; every later claim gets the stored record, whatever it proposed', async () => {
    const s = scope();
    expect(await store.claim(s, record('1'))).toEqual({ stored: true });
    expect(await store.claim(s, record('2'))).toEqual({ stored: false, existing: record('1') });
    expect(await store.claim(s, record('3', 'e'.repeat(64)))).toEqual({
      stored: false,
      existing: record('1'),
    });
    expect(await store.claim(scope(), record('4'))).toEqual({ stored: true });
  });

  it('of concurrent claims on one scope exactly one is stored, and all see its record', async () => {
    const s = scope();
    const claims = await Promise.all(['1', '2', '3', '4', '5'].map((d) => store.claim(s, record(d))));
    const stored = claims.findIndex((c) => c.stored);
    expect(claims.filter((c) => c.stored)).toHaveLength(1);
    const winner = record(String(stored + 1));
    for (const claim of claims) if (!claim.stored) expect(claim.existing).toEqual(winner);
  });

  it('a record lives as long as the jobs (30 days); an expired one is replaced even before TTL deletes it', async () => {
    const s = scope();
    const start = clock.now;
    try {
      expect(await store.claim(s, record('1'))).toEqual({ stored: true });
      clock.now = start + 30 * 86_400_000 - 1000;
      expect(await store.claim(s, record('2'))).toEqual({ stored: false, existing: record('1') });
      clock.now = start + 30 * 86_400_000;
      expect(await store.claim(s, record('2'))).toEqual({ stored: true });
      expect(await store.claim(s, record('3'))).toEqual({ stored: false, existing: record('2') });
    } finally {
      clock.now = start;
    }
  });
});

describe('DynamoIdempotencyStore on the jobs table', () => {
  const store = new DynamoIdempotencyStore({ client: dynamo, tableName, now: () => clock.now });

  it('one item per scope: pk idem#<scope>, sk idem, jobId, fingerprint, createdAt and the TTL attribute', async () => {
    const s = scope();
    await store.claim(s, record('7'));
    const { Item } = await dynamo.send(
      new GetItemCommand({ TableName: tableName, Key: { pk: { S: `idem#${s}` }, sk: { S: 'idem' } } }),
    );
    expect(idempotencyPk(s)).toBe(`idem#${s}`);
    expect(Item).toEqual({
      pk: { S: `idem#${s}` },
      sk: { S: 'idem' },
      jobId: { S: '7'.repeat(32) },
      fingerprint: { S: 'f'.repeat(64) },
      createdAt: { S: new Date(clock.now).toISOString() },
      expiresAt: { N: String(Math.floor(clock.now / 1000) + 30 * 86_400) },
    });
  });

  it('a damaged item (no job id) is never taken for a record: the claim fails instead of inventing a job', async () => {
    const s = scope();
    await dynamo.send(
      new PutItemCommand({
        TableName: tableName,
        Item: { pk: { S: `idem#${s}` }, sk: { S: 'idem' }, expiresAt: { N: String(2 ** 40) } },
      }),
    );
    await expect(store.claim(s, record('1'))).rejects.toThrow('kept changing');
  });

  it('sends only commands that the async HTTP functions are granted on the jobs table', () => {
    const source = readFileSync(
      new URL('../../lambdas/adapters/dynamo-idempotency-store.ts', import.meta.url),
      'utf8',
    );
    const commands = [...source.matchAll(/new (\w+)Command\(/g)].map((m) => `dynamodb:${m[1]}`);
    expect(commands.sort()).toEqual(['dynamodb:GetItem', 'dynamodb:PutItem']);
    const granted = new Set<string>(TABLE_ACCESS['async-http'].actions);
    for (const action of commands) expect(granted, action).toContain(action);
  });
});

class RecordingQueue implements ChunkQueue {
  readonly sent: ChunkMessage[] = [];
  async sendChunks(chunks: ChunkMessage[]): Promise<void> {
    this.sent.push(...structuredClone(chunks));
  }
}

describe('a keyed async request through the start-data handler, jobs and keys on DynamoDB', () => {
  const queue = new RecordingQueue();
  let uninstall: () => void;
  let handler: HttpHandler;

  beforeAll(async () => {
    uninstall = useLocalJobDeps({
      jobs: new DynamoJobStore({ client: dynamo, tableName }),
      queue,
      idempotency: new DynamoIdempotencyStore({ client: dynamo, tableName }),
    });
    vi.resetModules();
    ({ handler } = await import('../../lambdas/start-data/handler'));
  });
  afterAll(() => uninstall());

  const post = async (key: string, body: string, userArn = 'arn:aws:iam::123456789012:user/dana-caller') => {
    const event = withBody(withHeader(apiGatewayEvent('start-data'), 'Prefer', 'respond-async'), body);
    withHeader(event, 'Idempotency-Key', key);
    event.requestContext.identity.userArn = userArn;
    const result = (await handler(event, lambdaContext())) as APIGatewayProxyResult;
    return { status: result.statusCode, body: JSON.parse(result.body) as Record<string, unknown> };
  };

  it('same request (even at once, even reordered) → one job, one chunk; another body → 422; another caller → its own job', async () => {
    const key = `k-${randomUUID()}`;
    const answers = await Promise.all([
      post(key, '{"NAME":"Ada","CODE":"c1"}'),
      post(key, '{"CODE":"c1","NAME":"Ada"}'),
      post(key, '{ "NAME" : "Ada", "CODE" : "c1" }'),
    ]);
    expect(answers.map((a) => a.status)).toEqual([202, 202, 202]);
    const jobId = answers[0]!.body.jobId as string;
    expect(new Set(answers.map((a) => a.body.jobId))).toEqual(new Set([jobId]));
    expect(new Set(queue.sent.map((c) => c.chunkId))).toEqual(new Set([`${jobId}#000000000`]));

    const reused = await post(key, '{"NAME":"Grace","CODE":"c2"}');
    expect(reused.status).toBe(422);
    expect((reused.body.wsError as { idError: number }).idError).toBe(9422);
    expect(new Set(queue.sent.map((c) => c.jobId))).toEqual(new Set([jobId]));

    const other = await post(
      key,
      '{"NAME":"Ada","CODE":"c1"}',
      'arn:aws:iam::123456789012:user/someone-else',
    );
    expect(other.status).toBe(202);
    expect(other.body.jobId).not.toBe(jobId);
  });
});
