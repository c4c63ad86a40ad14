/**
 * `Prefer: respond-async` and GET /jobs/{jobId} over HTTP through the local gateway, with the local pipeline's
 * job store and queue (the worker talks to the sandbox as DANAConnect): 202 with Location and body for each of the
 * three routes that create records, the job read until done, its outcomes with DANAConnect's idResults, exactly
 * the right starts in the sandbox, Idempotency-Key (scoped to caller, method and path; bound to the body's
 * fingerprint; job ids random), invalid input, unknown and malformed job ids. Then, with a
 * queue that only records: nothing reaches DANAConnect before the worker runs, and invalid input queues nothing.
 * Then a deployment without a job store (501), and the Location on API Gateway's execute-api domain.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { useLocalJobDeps } from '../../lambdas/adapters/job-deps';
import { MemoryJobStore } from '../../lambdas/adapters/memory-job-store';
import type { ChunkMessage, ChunkQueue } from '../../lambdas/core/jobs';
import type { Gateway } from '../../local/gateway';
import { startPipeline, type Pipeline } from '../../local/pipeline';
import { startSandbox, type Sandbox } from '../../local/sandbox/server';
import { rememberCredentialsSeenBy } from '../audit/sensitive';
import { apiGatewayEvent, lambdaContext, withHeader } from '../fixtures/events';
import { freshGateway, sandboxEnv } from '../fixtures/http';

const BASE = '/api/1.0/rest/conversation';
const JOB_PATH = /^\/jobs\/([0-9a-f]{32})$/;

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

async function call(
  url: string,
  method: string,
  path: string,
  options: { body?: unknown; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: {
      ...(options.body !== undefined && { 'Content-Type': 'application/json' }),
      ...options.headers,
    },
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as never };
}

const ASYNC = { Prefer: 'respond-async' };

/** A unique record per call, so the sandbox's duplicate check is exact. */
let serial = 0;
const person = () => {
  serial++;
  return { NAME: `Async ${serial}`, CODE: `a-${process.pid}-${serial}` };
};

interface RouteCase {
  route: string;
  path: string;
  body: () => unknown;
  /** Where the sandbox receives the start. */
  upstreamPath: string;
}

const ROUTE_CASES: RouteCase[] = [
  {
    route: 'start-data',
    path: `${BASE}/1001/start/data`,
    body: person,
    upstreamPath: `${BASE}/1001/start/data`,
  },
  {
    route: 'start-data-by-project',
    path: `${BASE}/ProjectID/77/start/data`,
    body: person,
    upstreamPath: `${BASE}/ProjectID/77/start/data`,
  },
  {
    route: 'start-batch',
    path: `${BASE}/1002/start/list/data`,
    body: () => [person(), person(), person()],
    upstreamPath: `${BASE}/1002/start/list/data`,
  },
];

/** Reads the job until it is done (a deadline guards against a hang; nothing here asserts timing). */
async function untilDone(url: string, location: string): Promise<Answer> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const answer = await call(url, 'GET', location);
    expect(answer.status).toBe(200);
    if (answer.body.state === 'done') return answer;
    if (Date.now() > deadline) throw new Error(`job not done: ${JSON.stringify(answer.body)}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

function expectAccepted(answer: Answer): { jobId: string; location: string } {
  expect(answer.status).toBe(202);
  const location = answer.headers.get('location')!;
  const jobId = JOB_PATH.exec(location)?.[1];
  expect(jobId, `Location ${location}`).toBeTruthy();
  expect(answer.headers.get('preference-applied')).toBe('respond-async');
  expect(answer.headers.get('x-request-id')).toBeTruthy();
  expect(answer.body).toEqual({ jobId, state: expect.stringMatching(/^(running|done)$/), location });
  return { jobId: jobId!, location };
}

const startCalls = (sandbox: Sandbox) => sandbox.received().filter((r) => r.path.includes('/start/'));

/** The contacts the sandbox started, by the CODE field that makes each test record unique. */
const startedCodes = (sandbox: Sandbox) => sandbox.started().map((s) => s.fields.CODE);

/** A job id derived from the key, as the gateway did before keys were scoped (sha256 of route and key). */
const derivedFromKey = (route: string, key: string) =>
  createHash('sha256')
    .update(JSON.stringify(['api', route, key]))
    .digest('hex')
    .slice(0, 32);

describe('async API through the local gateway and the local pipeline', () => {
  let sandbox: Sandbox;
  let pipeline: Pipeline;
  let gateway: Gateway;
  let bucketDir: string;

  beforeAll(async () => {
    sandbox = await startSandbox();
    bucketDir = mkdtempSync(join(tmpdir(), 'async-api-'));
    pipeline = await startPipeline({
      bucketDir,
      env: { ...process.env, ...sandboxEnv(sandbox, '1.0'), DANA_RATE_LIMIT_PER_SECOND: '100' },
    });
    gateway = await freshGateway(sandbox, '1.0', { jobs: pipeline.jobDeps });
  });
  afterAll(async () => {
    rememberCredentialsSeenBy(sandbox);
    await gateway.close();
    await pipeline.close();
    await sandbox.close();
    rmSync(bucketDir, { recursive: true, force: true });
  });
  beforeEach(() => sandbox.reset());

  it.each(ROUTE_CASES.map((c) => [c.route, c] as const))(
    '%s: 202 with Location, then GET /jobs/{jobId} until done, with idResults; exactly its starts upstream',
    async (_route, c) => {
      const body = c.body();
      const { jobId, location } = expectAccepted(
        await call(gateway.url, 'POST', c.path, { body, headers: ASYNC }),
      );

      const done = await untilDone(gateway.url, location);
      const records = Array.isArray(body) ? body : [body];
      expect(done.body).toMatchObject({
        jobId,
        state: 'done',
        total: records.length,
        started: records.length,
        rejected: 0,
        failed: 0,
        truncated: false,
      });
      expect(Date.parse(done.body.startedAt as string)).not.toBeNaN();
      expect(Date.parse(done.body.finishedAt as string)).not.toBeNaN();
      const outcomes = done.body.outcomes as { row: number; status: string; idResult: number }[];
      expect(outcomes.map((o) => [o.row, o.status])).toEqual(records.map((_, i) => [i + 1, 'started']));

      // One call to DANAConnect's own route with the records as sent, each record started once; the
      // idResults are the records DANAConnect created from them.
      expect(startCalls(sandbox)).toMatchObject([{ method: 'POST', path: c.upstreamPath, body }]);
      expect(sandbox.duplicates()).toEqual([]);
      const created = sandbox.records();
      outcomes.forEach((o, i) => expect(created.get(o.idResult)).toEqual(records[i]));
    },
  );

  it('Idempotency-Key: retries (one after the other, at once, after done) get the same job and start once', async () => {
    const body = person();
    const path = `${BASE}/1001/start/data`;
    const key = `order-${process.pid}-1`;
    const headers = { ...ASYNC, 'Idempotency-Key': key };
    const [a, b] = await Promise.all([
      call(gateway.url, 'POST', path, { body, headers }),
      call(gateway.url, 'POST', path, { body, headers }),
    ]);
    const first = expectAccepted(a);
    expect(expectAccepted(b)).toEqual(first);
    const c = expectAccepted(await call(gateway.url, 'POST', path, { body, headers }));
    expect(c).toEqual(first);
    // The job id is random: nobody can compute it from the key.
    expect(first.jobId).not.toBe(derivedFromKey('start-data', key));

    const done = await untilDone(gateway.url, first.location);
    expect(done.body).toMatchObject({ total: 1, started: 1 });
    const afterDone = await call(gateway.url, 'POST', path, { body, headers });
    expect(expectAccepted(afterDone)).toEqual(first);
    expect(afterDone.body.state).toBe('done');

    expect(startCalls(sandbox)).toHaveLength(1);
    expect(sandbox.duplicates()).toEqual([]);

    // The key is per path: the same key on another route is another request.
    const other = expectAccepted(
      await call(gateway.url, 'POST', `${BASE}/1001/start/list/data`, { body: [person()], headers }),
    );
    expect(other.jobId).not.toBe(first.jobId);
    await untilDone(gateway.url, other.location);
    expect(startCalls(sandbox)).toHaveLength(2);
  });

  it('defect 4: the reported repro, k1 on conversation 1001 then k1 on 1002 with another contact: both contacts start', async () => {
    const [ada, grace] = [person(), person()];
    const headers = { ...ASYNC, 'Idempotency-Key': `k1-${process.pid}` };
    const first = expectAccepted(
      await call(gateway.url, 'POST', `${BASE}/1001/start/data`, { body: ada, headers }),
    );
    await untilDone(gateway.url, first.location);
    // Another path is another request (the key is scoped to method and path): its own job, its contact started.
    // Before, this answered 202 with the first job, already done, and never started the second contact.
    const second = expectAccepted(
      await call(gateway.url, 'POST', `${BASE}/1002/start/data`, { body: grace, headers }),
    );
    expect(second.jobId).not.toBe(first.jobId);
    await untilDone(gateway.url, second.location);
    expect(startedCodes(sandbox)).toEqual([ada.CODE, grace.CODE]);
    expect(sandbox.started().map((s) => s.conversationId)).toEqual([1001, 1002]);
  });

  it('the same key on another path with the same body is independent too: two jobs, both started', async () => {
    const body = person();
    const headers = { ...ASYNC, 'Idempotency-Key': `k-paths-${process.pid}` };
    const a = expectAccepted(await call(gateway.url, 'POST', `${BASE}/1001/start/data`, { body, headers }));
    const b = expectAccepted(await call(gateway.url, 'POST', `${BASE}/1003/start/data`, { body, headers }));
    expect(b.jobId).not.toBe(a.jobId);
    await untilDone(gateway.url, a.location);
    await untilDone(gateway.url, b.location);
    expect(
      sandbox
        .started()
        .map((s) => s.conversationId)
        .sort(),
    ).toEqual([1001, 1003]);
  });

  it('defect 4: the same key on the same path with another contact: 422 (9422), and the other contact is never started', async () => {
    const [ada, grace] = [person(), person()];
    const path = `${BASE}/1001/start/data`;
    const headers = { ...ASYNC, 'Idempotency-Key': `k-reuse-${process.pid}` };
    const first = expectAccepted(await call(gateway.url, 'POST', path, { body: ada, headers }));
    const reused = await call(gateway.url, 'POST', path, { body: grace, headers });
    expect(reused.status).toBe(422);
    expect(reused.headers.get('location')).toBeNull();
    expect(reused.body).toEqual({
      wsError: {
        idError: 9422,
        errorDescription:
          'Idempotency-Key already used for another request: Idempotency-Key: was already used with a ' +
          'different body on this path; use a new key for a new request',
      },
    });
    await untilDone(gateway.url, first.location);
    // At once, each is judged against the record: the other contact is refused again, the first one joins its job.
    const again = await Promise.all([
      call(gateway.url, 'POST', path, { body: grace, headers }),
      call(gateway.url, 'POST', path, { body: ada, headers }),
    ]);
    expect(again.map((answer) => answer.status)).toEqual([422, 202]);
    expect(startedCodes(sandbox)).toEqual([ada.CODE]);
  });

  it('a retry that serialises the same body differently (key order, whitespace) is the same request', async () => {
    const path = `${BASE}/1001/start/data`;
    const code = `a-${process.pid}-reordered`;
    const send = (raw: string) =>
      fetch(`${gateway.url}${path}`, {
        method: 'POST',
        headers: {
          ...ASYNC,
          'Idempotency-Key': `k-order-${process.pid}`,
          'Content-Type': 'application/json',
        },
        body: raw,
      }).then(async (r) => ({ status: r.status, headers: r.headers, body: (await r.json()) as never }));
    const first = expectAccepted(await send(`{"NAME":"Ordered","CODE":"${code}"}`));
    const retry = expectAccepted(await send(`{\n  "CODE" : "${code}",\n\t"NAME":"Ordered"\n}`));
    expect(retry.jobId).toBe(first.jobId);
    // A value changed is another body: refused.
    expect((await send(`{"NAME":"Ordered!","CODE":"${code}"}`)).status).toBe(422);
    await untilDone(gateway.url, first.location);
    expect(startedCodes(sandbox)).toEqual([code]);
  });

  it('the same key and body from another caller is another request: two jobs, both started', async () => {
    // The local gateway has one caller; two callers are two API Gateway events (as API Gateway fills in the
    // SigV4 principal) handed to the same handler, over the same local job store, queue and worker.
    vi.resetModules();
    const { handler } = await import('../../lambdas/start-data/handler');
    const body = person();
    const post = async (userArn: string) => {
      const event = withHeader(apiGatewayEvent('start-data'), 'Prefer', 'respond-async');
      withHeader(event, 'Idempotency-Key', `k-callers-${process.pid}`);
      event.body = JSON.stringify(body);
      event.requestContext.identity.userArn = userArn;
      const result = (await handler(event, lambdaContext())) as { statusCode: number; body: string };
      expect(result.statusCode).toBe(202);
      return JSON.parse(result.body) as { jobId: string };
    };
    const alice = await post('arn:aws:iam::123456789012:user/alice');
    const bob = await post('arn:aws:iam::123456789012:user/bob');
    expect(bob.jobId).not.toBe(alice.jobId);
    expect((await post('arn:aws:iam::123456789012:user/alice')).jobId).toBe(alice.jobId);
    // Each job is its caller's: the local gateway's own caller reads neither, so the store is asked directly.
    expect((await call(gateway.url, 'GET', `/jobs/${alice.jobId}`)).status).toBe(404);
    await expect
      .poll(async () => (await pipeline.jobs.getJob(alice.jobId))?.state, { timeout: 20_000 })
      .toBe('done');
    await expect
      .poll(async () => (await pipeline.jobs.getJob(bob.jobId))?.state, { timeout: 20_000 })
      .toBe('done');
    expect(startedCodes(sandbox)).toEqual([body.CODE, body.CODE]);
  });

  it('without Prefer the same routes still answer synchronously with DANAConnect’s answer', async () => {
    const answer = await call(gateway.url, 'POST', `${BASE}/1001/start/data`, { body: person() });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ wsResult: { resultDescription: 'OK' } });
    expect(answer.headers.get('location')).toBeNull();
  });

  it('GET /jobs/{jobId}: 404 envelope for an unknown job, 400 for a malformed id', async () => {
    const unknown = await call(gateway.url, 'GET', `/jobs/${'0'.repeat(32)}`);
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual({
      wsError: { idError: 9404, errorDescription: 'No such resource: jobId: no such job' },
    });
    for (const bad of ['x', '0'.repeat(31), 'A'.repeat(32), `${'0'.repeat(32)}%2F..`]) {
      const answer = await call(gateway.url, 'GET', `/jobs/${bad}`);
      expect(answer.status, bad).toBe(400);
      expect(
        (answer.body.wsError as { idError: number; errorDescription: string }).errorDescription,
      ).toContain('jobId');
    }
    expect(sandbox.received()).toEqual([]);
  });
});

/** A queue that only records: the worker never runs, so anything upstream came from the HTTP request itself. */
class RecordingQueue implements ChunkQueue {
  readonly sent: ChunkMessage[] = [];
  async sendChunks(chunks: ChunkMessage[]): Promise<void> {
    this.sent.push(...structuredClone(chunks));
  }
}

describe('async API: nothing reaches DANAConnect synchronously; invalid input queues nothing', () => {
  let sandbox: Sandbox;
  let gateway: Gateway;
  const jobs = new MemoryJobStore();
  const queue = new RecordingQueue();

  beforeAll(async () => {
    sandbox = await startSandbox();
    gateway = await freshGateway(sandbox, '1.0', { jobs: { jobs, queue } });
  });
  afterAll(async () => {
    rememberCredentialsSeenBy(sandbox);
    await gateway.close();
    await sandbox.close();
  });
  beforeEach(() => {
    sandbox.reset();
    queue.sent.length = 0;
  });

  it('a 202 leaves one chunk on the queue and no call upstream; the job is running with no outcome yet', async () => {
    const records = [person(), person()];
    const { jobId, location } = expectAccepted(
      await call(gateway.url, 'POST', `${BASE}/1001/start/list/data`, { body: records, headers: ASYNC }),
    );
    expect(sandbox.received()).toEqual([]);
    expect(queue.sent).toEqual([
      {
        jobId,
        chunkId: `${jobId}#000000000`,
        operation: { kind: 'batch', conversationId: 1001 },
        rows: records.map((record, i) => ({ row: i + 1, record })),
      },
    ]);
    const project = expectAccepted(
      await call(gateway.url, 'POST', `${BASE}/ProjectID/77/start/data`, { body: person(), headers: ASYNC }),
    );
    expect(queue.sent[1]).toMatchObject({
      jobId: project.jobId,
      operation: { kind: 'project', projectId: 77 },
    });
    expect(sandbox.received()).toEqual([]);

    const job = await call(gateway.url, 'GET', location);
    expect(job.status).toBe(200);
    expect(job.body).toMatchObject({
      jobId,
      state: 'running',
      total: 2,
      started: 0,
      outcomes: [],
      truncated: false,
    });
  });

  const INVALID: [string, string, unknown, Record<string, string>, number, string][] = [
    ['a bad conversationId', `${BASE}/0/start/data`, { NAME: 'x' }, {}, 400, 'conversationId'],
    ['a bad projectId', `${BASE}/ProjectID/abc/start/data`, { NAME: 'x' }, {}, 400, 'projectId'],
    ['a body that is not a record', `${BASE}/1001/start/data`, ['x'], {}, 400, 'body'],
    ['a nested value', `${BASE}/1001/start/data`, { NAME: { a: 1 } }, {}, 400, 'body.NAME'],
    ['11 records', `${BASE}/1001/start/list/data`, Array.from({ length: 11 }, person), {}, 400, 'not 11'],
    ['0 records', `${BASE}/1001/start/list/data`, [], {}, 400, 'not 0'],
    [
      'an Idempotency-Key with a space',
      `${BASE}/1001/start/data`,
      { NAME: 'x' },
      { 'Idempotency-Key': 'a b' },
      400,
      'Idempotency-Key',
    ],
    [
      'a 256-character Idempotency-Key',
      `${BASE}/1001/start/data`,
      { NAME: 'x' },
      { 'Idempotency-Key': 'k'.repeat(256) },
      400,
      'Idempotency-Key',
    ],
  ];
  it.each(INVALID)(
    'with Prefer, %s is still a 400 naming it, and nothing is queued',
    async (_what, path, body, headers, status, names) => {
      const answer = await call(gateway.url, 'POST', path, { body, headers: { ...ASYNC, ...headers } });
      expect(answer.status).toBe(status);
      const wsError = answer.body.wsError as { idError: number; errorDescription: string };
      expect(wsError.idError).toBe(9400);
      expect(wsError.errorDescription).toContain(names);
      expect(queue.sent).toEqual([]);
      expect(sandbox.received()).toEqual([]);
    },
  );

  it('with Prefer, a wrong Content-Type is still a 415 and nothing is queued', async () => {
    const response = await fetch(`${gateway.url}${BASE}/1001/start/data`, {
      method: 'POST',
      headers: { ...ASYNC, 'Content-Type': 'text/plain' },
      body: '{"NAME":"x"}',
    });
    expect(response.status).toBe(415);
    expect(queue.sent).toEqual([]);
  });

  it('routes that do not create records ignore Prefer and answer synchronously', async () => {
    const answer = await call(gateway.url, 'POST', `${BASE}/1003/start/list`, { headers: ASYNC });
    expect(answer.status).toBe(200);
    expect(queue.sent).toEqual([]);
    expect(startCalls(sandbox)).toHaveLength(1);
  });
});

describe('async API on a deployment without a job store and queue', () => {
  let sandbox: Sandbox;
  let gateway: Gateway;

  beforeAll(async () => {
    sandbox = await startSandbox();
    gateway = await freshGateway(sandbox, '1.0', {
      env: { JOBS_TABLE_NAME: undefined, QUEUE_URL: undefined },
    });
  });
  afterAll(async () => {
    rememberCredentialsSeenBy(sandbox);
    await gateway.close();
    await sandbox.close();
  });

  it('Prefer: respond-async gets a 501 envelope and nothing upstream; without it the route works', async () => {
    const refused = await call(gateway.url, 'POST', `${BASE}/1001/start/data`, {
      body: person(),
      headers: ASYNC,
    });
    expect(refused.status).toBe(501);
    expect(refused.body).toEqual({
      wsError: {
        idError: 9501,
        errorDescription:
          'Not implemented: Prefer: respond-async is not available on this deployment (no job queue)',
      },
    });
    expect(sandbox.received()).toEqual([]);
    // Invalid input is still refused as such first.
    const invalid = await call(gateway.url, 'POST', `${BASE}/0/start/data`, {
      body: person(),
      headers: ASYNC,
    });
    expect(invalid.status).toBe(400);

    const sync = await call(gateway.url, 'POST', `${BASE}/1001/start/data`, { body: person() });
    expect(sync.status).toBe(200);
  });

  it('GET /jobs/{jobId} without a job store is a 500 envelope, not a crash', async () => {
    const answer = await call(gateway.url, 'GET', `/jobs/${'0'.repeat(32)}`);
    expect(answer.status).toBe(500);
    expect(answer.body).toEqual({ wsError: { idError: 9500, errorDescription: 'Internal gateway error' } });
  });
});

describe('on the execute-api domain (the handler with an API Gateway event)', () => {
  it('Location carries the stage, so it resolves on the execute-api URL; no DANAConnect client is needed', async () => {
    const jobs = new MemoryJobStore();
    const queue = new RecordingQueue();
    const uninstall = useLocalJobDeps({ jobs, queue });
    try {
      vi.resetModules();
      // No DANA_* variables in this process: building a DANAConnect client would fail.
      const { handler } = await import('../../lambdas/start-data/handler');
      const event = withHeader(apiGatewayEvent('start-data'), 'Prefer', 'respond-async');
      const result = (await handler(event, lambdaContext())) as {
        statusCode: number;
        headers: Record<string, string>;
        body: string;
      };
      expect(result.statusCode).toBe(202);
      const jobId = queue.sent[0]!.jobId;
      expect(result.headers.Location).toBe(`/prod/jobs/${jobId}`);
      expect(result.headers['X-Request-Id']).toBe(event.requestContext.requestId);
      expect(JSON.parse(result.body)).toEqual({ jobId, state: 'running', location: `/prod/jobs/${jobId}` });

      const { handler: getJob } = await import('../../lambdas/get-job/handler');
      const read = apiGatewayEvent('get-job');
      read.pathParameters = { jobId };
      const job = (await getJob(read, lambdaContext())) as { statusCode: number; body: string };
      expect(job.statusCode).toBe(200);
      expect(JSON.parse(job.body)).toMatchObject({ jobId, state: 'running', total: 1 });
    } finally {
      uninstall();
    }
  });
});
