/**
 * The jobs API on moto_server (issue 12 "Jobs list" and "Upload API", issue 14.1), through the real handler
 * modules with API Gateway events, over the real DynamoDB job store (through the fault proxy), S3 and SQS:
 * - GET /jobs across pages and states, newest first, each caller its own jobs (readers and operators the
 *   uploads), a tamper-safe cursor (forged, garbled, another caller's or another filter's: 400);
 * - POST /uploads → the presigned POST form sent with a real file to moto's S3 (its form upload) → the S3 event to
 *   the ingest handler → the worker over SQS against the sandbox → the job done → GET /jobs/{jobId}/report's 302
 *   followed to the report in S3;
 * - bad input on every new route: a clean 4xx.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import {
  CreateBucketCommand,
  HeadObjectCommand,
  PutBucketVersioningCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { APIGatewayProxyEvent, S3Event } from 'aws-lambda';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { DynamoJobStore } from '../../lambdas/adapters/dynamo-job-store';
import { useLocalJobDeps } from '../../lambdas/adapters/job-deps';
import { MemoryAliasStore } from '../../lambdas/adapters/memory-alias-store';
import { S3UploadSigner, useLocalUploadSigner } from '../../lambdas/adapters/upload-signer';
import { putAlias } from '../../lambdas/core/aliases';
import { listPosition, type JobState } from '../../lambdas/core/jobs';
import { ingestDepsFromEnv, ingestUploadHandler } from '../../lambdas/ingest-upload/handler';
import { chunkHandlerFromEnv } from '../../lambdas/process-chunk/handler';
import { startSandbox, type Sandbox } from '../../local/sandbox/server';
import { rememberCredentialsSeenBy } from '../audit/sensitive';
import { apiGatewayEvent, lambdaContext, s3PutEvent } from '../fixtures/events';
import { awsDynamo, createJobsTable } from './job-store-table';
import { createChunkQueues, depth, pump, type ChunkHandler, type TestQueue } from './sqs-harness';
import { pipelineEnv, reportRows } from './worker-harness';

const endpoint = inject('motoEndpoint');
const region = 'us-east-1';
const dynamo = awsDynamo(inject('awsEndpoint'));
const s3 = new S3Client({ endpoint, region, forcePathStyle: true });
const sqs = new SQSClient({ endpoint, region });
const suffix = randomUUID().slice(0, 8);
const tableName = `jobs-api-${suffix}`;
const bucketName = `jobs-api-${suffix}`;

const ALICE = 'arn:aws:iam::123456789012:user/alice';
const BOB = 'arn:aws:iam::123456789012:user/bob';
const READER = 'arn:aws:sts::123456789012:assumed-role/JobReader/session-7';

/** The store's clock, moved by the tests, so creation times (and so the order) are known. */
let clock = Date.parse('2026-11-01T08:00:00.000Z');
const store = new DynamoJobStore({ client: dynamo, tableName, now: () => clock });
const aliases = new MemoryAliasStore();

let sandbox: Sandbox;
let chunks: TestQueue;
let ingest: (event: S3Event) => Promise<void>;
let worker: ChunkHandler;
let uninstall: (() => void)[] = [];

beforeAll(async () => {
  await createJobsTable(dynamo, tableName);
  await s3.send(new CreateBucketCommand({ Bucket: bucketName }));
  await s3.send(
    new PutBucketVersioningCommand({ Bucket: bucketName, VersioningConfiguration: { Status: 'Enabled' } }),
  );
  ({ chunks } = await createChunkQueues(sqs, suffix, 3));
  sandbox = await startSandbox();
  const env = pipelineEnv({ tableName, queueUrl: chunks.url, bucketName, maxReceiveCount: 3, sandbox });
  const clients = { dynamo, s3, sqs };
  const ingestDeps = ingestDepsFromEnv(env, clients);
  ingest = ingestUploadHandler(() => ingestDeps, new Logger({ serviceName: 'jobs-api' }));
  worker = chunkHandlerFromEnv(env, { clients }) as ChunkHandler;
  await putAlias(aliases, 'newsletter', 1001);
  uninstall = [
    useLocalJobDeps({ jobs: store, aliases }),
    useLocalUploadSigner(new S3UploadSigner(s3, { bucket: bucketName })),
  ];
  vi.stubEnv('JOB_READERS', 'arn:aws:iam::123456789012:role/JobReader');
  vi.resetModules();
});

afterAll(async () => {
  for (const undo of uninstall) undo();
  vi.unstubAllEnvs();
  if (sandbox) {
    rememberCredentialsSeenBy(sandbox);
    await sandbox.close();
  }
  for (const client of [dynamo, s3, sqs]) client.destroy();
});

type Caller = { iam: string } | { operator: string };
interface Answer {
  status: number;
  headers: Record<string, string>;
  body: Record<string, unknown>;
}

/** An API Gateway event for `method resource`, as API Gateway sends it for this caller. */
function event(
  method: string,
  resource: string,
  caller: Caller,
  parts: { path?: Record<string, string>; query?: Record<string, string>; body?: string } = {},
): APIGatewayProxyEvent {
  const e = apiGatewayEvent('get-job');
  let path = resource;
  for (const [name, value] of Object.entries(parts.path ?? {})) path = path.replace(`{${name}}`, value);
  Object.assign(e, {
    httpMethod: method,
    resource,
    path,
    pathParameters: parts.path ?? null,
    queryStringParameters: parts.query ?? null,
    multiValueQueryStringParameters: parts.query
      ? Object.fromEntries(Object.entries(parts.query).map(([k, v]) => [k, [v]]))
      : null,
    body: parts.body ?? null,
  });
  e.requestContext.path = `/prod${path}`;
  if (parts.body !== undefined) e.headers['Content-Type'] = 'application/json';
  if ('iam' in caller) e.requestContext.identity.userArn = caller.iam;
  else {
    e.requestContext.identity.userArn = null;
    e.requestContext.authorizer = {
      claims: { sub: caller.operator, iss: 'https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Ops' },
    };
  }
  return e;
}

async function invoke(folder: string, e: APIGatewayProxyEvent): Promise<Answer> {
  const { handler } = (await import(`../../lambdas/${folder}/handler.ts`)) as {
    handler: (
      e: APIGatewayProxyEvent,
      c: unknown,
    ) => Promise<{ statusCode: number; headers: Record<string, string>; body: string }>;
  };
  const result = await handler(e, lambdaContext());
  return { status: result.statusCode, headers: result.headers, body: JSON.parse(result.body) as never };
}

const listJobs = (caller: Caller, query: Record<string, string> = {}) =>
  invoke('list-jobs', event('GET', '/jobs', caller, { query }));

/** Every page of a caller's list: the job ids in order, and the page sizes. */
async function allPages(caller: Caller, query: Record<string, string>) {
  const ids: string[] = [];
  const sizes: number[] = [];
  let cursor: string | undefined;
  do {
    const page = await listJobs(caller, { ...query, ...(cursor && { cursor }) });
    expect(page.status).toBe(200);
    const jobs = page.body.jobs as { jobId: string }[];
    ids.push(...jobs.map((j) => j.jobId));
    sizes.push(jobs.length);
    cursor = page.body.nextCursor as string | undefined;
  } while (cursor !== undefined);
  return { ids, sizes };
}

const hex = (n: number, tag: string) => `${tag}${String(n).padStart(32 - tag.length, '0')}`;

/** A job in the given state, created at the store's clock (one second after the last). */
async function seed(jobId: string, owner: string | undefined, state: JobState): Promise<string> {
  clock += 1000;
  await store.createJob({
    jobId,
    source: owner === undefined ? 'upload' : 'api',
    operation: { kind: 'batch', conversationId: 1001 },
    name: owner === undefined ? 'seeded' : 'start-batch',
    ...(owner !== undefined && { owner: `iam:${owner}` }),
    ...(owner === undefined && { uploadKey: `uploads/1001/seeded-${jobId}.csv` }),
  });
  if (state !== 'ingesting')
    await store.finishIngest(jobId, { total: state === 'done' ? 0 : 1, rejected: 0 });
  if (state === 'done') expect(await store.markDone(jobId)).toBe(true);
  return jobId;
}

describe('GET /jobs on DynamoDB (its owner index)', () => {
  const states: JobState[] = ['done', 'running', 'done', 'ingesting', 'done', 'running', 'done'];
  const alice: { id: string; state: JobState }[] = [];
  const bob: string[] = [];
  const uploads: string[] = [];

  beforeAll(async () => {
    for (let i = 0; i < 12; i++) {
      const state = states[i % states.length]!;
      alice.push({ id: await seed(hex(i, 'a'), ALICE, state), state });
      if (i % 4 === 0) bob.push(await seed(hex(i, 'b'), BOB, 'done'));
      if (i % 3 === 0) uploads.push(await seed(hex(i, 'c'), undefined, 'running'));
    }
  });

  it('a caller’s own jobs, newest first, across pages; the last page has no cursor', async () => {
    const { ids, sizes } = await allPages({ iam: ALICE }, { limit: '5' });
    expect(sizes).toEqual([5, 5, 2]);
    expect(ids).toEqual(alice.map((j) => j.id).reverse());
    const first = await listJobs({ iam: ALICE }, { limit: '1' });
    expect(first.body.jobs).toEqual([
      expect.objectContaining({
        jobId: alice[11]!.id,
        source: { kind: 'api', route: 'start-batch' },
        conversationId: 1001,
        state: alice[11]!.state,
        createdAt: expect.stringMatching(/^2026-11-01T08:00:\d\d\.000Z$/),
      }),
    ]);
  });

  it('by state, across pages: exactly the jobs in that state', async () => {
    for (const state of ['done', 'running', 'ingesting'] as const) {
      const { ids } = await allPages({ iam: ALICE }, { limit: '2', state });
      const expected = alice
        .filter((j) => j.state === state)
        .map((j) => j.id)
        .reverse();
      expect(ids, state).toEqual(expected);
    }
  });

  it('a page is bounded by the entries it reads: a rare state gives short pages, and nothing is skipped', async () => {
    const running = alice
      .filter((j) => j.state === 'running')
      .map((j) => j.id)
      .reverse();
    const seen: string[] = [];
    let before: string | undefined;
    let calls = 0;
    do {
      const page = await store.listJobs({
        owners: [`iam:${ALICE}`],
        limit: 10,
        state: 'running',
        budget: 3,
        ...(before !== undefined && { before }),
      });
      seen.push(...page.jobs.map((j) => j.jobId));
      before = page.lastPosition;
      calls++;
    } while (before !== undefined);
    expect(seen).toEqual(running);
    expect(calls).toBeGreaterThan(2);
  });

  it('other callers’ jobs never appear; readers and operators list the uploads (and their own)', async () => {
    expect((await allPages({ iam: BOB }, {})).ids).toEqual([...bob].reverse());
    expect((await allPages({ iam: READER }, { limit: '3' })).ids).toEqual([...uploads].reverse());
    const operator = await allPages({ operator: 'op-1' }, { limit: '2', state: 'running' });
    expect(operator.ids).toEqual([...uploads].reverse());
    const upload = (await listJobs({ operator: 'op-1' }, { limit: '1' })).body.jobs as unknown[];
    expect(upload[0]).toMatchObject({
      source: { kind: 'upload', key: expect.stringMatching(/^uploads\/1001\//) },
    });
  });

  it('a cursor is tamper-safe: forged, garbled, another caller’s or another filter’s → 400', async () => {
    const page = await listJobs({ iam: ALICE }, { limit: '2', state: 'done' });
    const cursor = page.body.nextCursor as string;
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    // Nothing readable inside: no job id, no time.
    expect(Buffer.from(cursor, 'base64url').toString('latin1')).not.toMatch(/2026|[0-9a-f]{32}/);
    const flipped = cursor.slice(0, 20) + (cursor[20] === 'A' ? 'B' : 'A') + cursor.slice(21);
    const forged = Buffer.from(
      `1:${listPosition({ startedAt: '2026-11-01T08:00:05.000Z', jobId: hex(3, 'b') })}`,
    ).toString('base64url');
    const refusals = [
      await listJobs({ iam: ALICE }, { limit: '2', state: 'done', cursor: flipped }),
      await listJobs({ iam: ALICE }, { limit: '2', state: 'done', cursor: forged }),
      await listJobs({ iam: ALICE }, { limit: '2', state: 'done', cursor: 'not a cursor!' }),
      await listJobs({ iam: ALICE }, { limit: '2', state: 'done', cursor: cursor.slice(0, 30) }),
      await listJobs({ iam: BOB }, { limit: '2', state: 'done', cursor }),
      await listJobs({ iam: ALICE }, { limit: '2', state: 'running', cursor }),
    ];
    for (const answer of refusals) {
      expect(answer.status).toBe(400);
      expect(answer.body).toEqual({
        wsError: {
          idError: 9400,
          errorDescription: 'Invalid input: cursor: is not a cursor this API handed out',
        },
      });
    }
    expect((await listJobs({ iam: ALICE }, { limit: '2', state: 'done', cursor })).status).toBe(200);
  });

  it('bad limit or state → 400 naming it', async () => {
    const queries: Record<string, string>[] = [
      { limit: '0' },
      { limit: '101' },
      { limit: 'ten' },
      { limit: '05' },
      { state: 'failed' },
    ];
    for (const query of queries) {
      const answer = await listJobs({ iam: ALICE }, query);
      expect(answer.status, JSON.stringify(query)).toBe(400);
      expect(JSON.stringify(answer.body)).toContain(Object.keys(query)[0]);
    }
  });
});

describe('POST /uploads → presigned POST to S3 → the job runs → GET /jobs/{jobId}/report', () => {
  const createUpload = (caller: Caller, body: string) =>
    invoke('create-upload', event('POST', '/uploads', caller, { body }));
  const report = (caller: Caller, jobId: string) =>
    invoke('get-job-report', event('GET', '/jobs/{jobId}/report', caller, { path: { jobId } }));

  it('a form for one key and size; the file posted through it runs as an upload; the report link works', async () => {
    const csv = `NAME,EMAIL\r\nAda,ada.${suffix}@example.com\r\nGrace,grace.${suffix}@example.com\r\n`;
    const created = await createUpload(
      { iam: ALICE },
      JSON.stringify({ conversation: 'newsletter', fileName: 'march.csv', contentLength: csv.length }),
    );
    expect(created.status).toBe(201);
    const { key, upload, expiresAt } = created.body as {
      key: string;
      upload: { url: string; fields: Record<string, string> };
      expiresAt: string;
    };
    expect(key).toMatch(/^uploads\/newsletter\/\d{8}T\d{6}Z-[0-9a-f]{8}\/march\.csv$/);
    expect(Date.parse(expiresAt) - Date.now()).toBeGreaterThan(14 * 60_000);
    const policy = JSON.parse(Buffer.from(upload.fields.Policy!, 'base64').toString()) as {
      conditions: unknown[];
    };
    expect(policy.conditions).toContainEqual({ key });
    expect(policy.conditions).toContainEqual({ bucket: bucketName });
    expect(policy.conditions).toContainEqual(['content-length-range', 1, csv.length]);

    // The client's part: a multipart form, every field, then the file.
    const form = new FormData();
    for (const [name, value] of Object.entries(upload.fields)) form.append(name, value);
    form.append('file', new Blob([csv], { type: 'text/csv' }), 'march.csv');
    const posted = await fetch(upload.url, { method: 'POST', body: form });
    expect(posted.status).toBeLessThan(300);

    const head = await s3.send(new HeadObjectCommand({ Bucket: bucketName, Key: key }));
    const s3Event = s3PutEvent(bucketName, {
      key,
      versionId: head.VersionId!,
      etag: head.ETag!,
      size: head.ContentLength!,
    });
    await ingest(s3Event);
    const listed = (await listJobs({ operator: 'op-1' }, { limit: '1' })).body.jobs as { jobId: string }[];
    const jobId = listed[0]!.jobId;
    expect(listed[0]).toMatchObject({
      source: { kind: 'upload', key },
      conversationId: 1001,
      alias: 'newsletter',
    });

    // Not done yet: no report.
    expect((await report({ operator: 'op-1' }, jobId)).status).toBe(404);
    await pump(
      sqs,
      chunks,
      worker,
      async () => (await store.getJob(jobId))?.state === 'done' && (await depth(sqs, chunks.url)) === 0,
    );

    // An API caller does not read an upload job; an operator and a reader do.
    const stranger = await report({ iam: ALICE }, jobId);
    expect(stranger.status).toBe(404);
    expect(stranger.body).toEqual({
      wsError: { idError: 9404, errorDescription: 'No such resource: jobId: no such job' },
    });
    expect((await report({ iam: READER }, jobId)).status).toBe(302);
    const redirect = await report({ operator: 'op-1' }, jobId);
    expect(redirect.status).toBe(302);
    const location = redirect.headers.Location!;
    expect(location).toContain('X-Amz-Expires=300');
    const followed = await fetch(location);
    expect(followed.status).toBe(200);
    const rows = reportRows(await followed.text());
    expect(rows.map((r) => [r.row, r.status])).toEqual([
      [1, 'started'],
      [2, 'started'],
    ]);
    const done = (await listJobs({ operator: 'op-1' }, { limit: '1', state: 'done' })).body.jobs as unknown[];
    expect(done[0]).toMatchObject({ jobId, state: 'done', total: 2, started: 2, rejected: 0, failed: 0 });
  });

  it('two uploads of the same file name get two keys', async () => {
    const body = JSON.stringify({ conversation: 1001, fileName: 'same.csv', contentLength: 10 });
    const a = await createUpload({ iam: ALICE }, body);
    const b = await createUpload({ iam: ALICE }, body);
    expect(a.body.key).not.toBe(b.body.key);
  });

  it('bad input → clean 4xx, nothing signed', async () => {
    const cases: [unknown, number, string][] = [
      [{ conversation: '1001', fileName: '../march.csv', contentLength: 10 }, 400, 'fileName'],
      [{ conversation: '1001', fileName: 'a/b.csv', contentLength: 10 }, 400, 'fileName'],
      [{ conversation: '1001', fileName: 'a\\b.csv', contentLength: 10 }, 400, 'fileName'],
      [{ conversation: '1001', fileName: 'march.txt', contentLength: 10 }, 400, 'fileName'],
      [{ conversation: '1001', fileName: 'ma\u0000rch.csv', contentLength: 10 }, 400, 'fileName'],
      [{ conversation: '1001', fileName: '.csv', contentLength: 10 }, 400, 'fileName'],
      [{ conversation: '1001', fileName: `${'x'.repeat(197)}.csv`, contentLength: 10 }, 400, 'fileName'],
      [{ conversation: '1001', fileName: 'march.csv', contentLength: 0 }, 400, 'contentLength'],
      [{ conversation: '1001', fileName: 'march.csv', contentLength: '10' }, 400, 'contentLength'],
      [
        { conversation: '1001', fileName: 'march.csv', contentLength: 2 * 1024 ** 3 + 1 },
        413,
        'contentLength',
      ],
      [{ conversation: '0', fileName: 'march.csv', contentLength: 10 }, 400, 'conversation'],
      [{ conversation: 'nobody', fileName: 'march.csv', contentLength: 10 }, 404, 'conversation'],
      [{ fileName: 'march.csv', contentLength: 10 }, 400, 'conversation'],
      [{ conversation: '1001', fileName: 'march.csv', contentLength: 10, extra: 1 }, 400, 'body'],
      [[1, 2], 400, 'body'],
    ];
    for (const [body, status, target] of cases) {
      const answer = await createUpload({ iam: ALICE }, JSON.stringify(body));
      expect(answer.status, JSON.stringify(body)).toBe(status);
      expect(JSON.stringify(answer.body), JSON.stringify(body)).toContain(target);
    }
    expect((await createUpload({ iam: ALICE }, '{"conversation":')).status).toBe(400);
    expect((await createUpload({ iam: ALICE }, '')).status).toBe(400);
  });

  it('GET /jobs/{jobId}/report: 400 for a malformed id, 404 for an unknown one or an API job', async () => {
    expect((await report({ operator: 'op-1' }, 'not-a-job')).status).toBe(400);
    expect((await report({ operator: 'op-1' }, 'f'.repeat(32))).status).toBe(404);
    const apiJob = await seed(hex(99, 'd'), ALICE, 'done');
    expect((await report({ iam: ALICE }, apiJob)).status).toBe(404);
  });
});
