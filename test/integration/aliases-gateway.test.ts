/**
 * Conversation aliases through the local gateway and the local pipeline (the aliases live in the pipeline's
 * in-process store beside the jobs), against the sandbox as DANAConnect: PUT an alias, start through it on the
 * HTTP path (synchronous and `Prefer: respond-async`) and the upload path, PUT a new id, and the next start
 * reaches the new conversation. An unknown alias is 404 (9404) naming it and nothing reaches DANAConnect or the
 * queue; bad input on every alias route is a clean 4xx and reaches nothing upstream.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { useLocalJobDeps } from '../../lambdas/adapters/job-deps';
import { MemoryAliasStore } from '../../lambdas/adapters/memory-alias-store';
import type { Gateway } from '../../local/gateway';
import { startPipeline, type Pipeline } from '../../local/pipeline';
import { startSandbox, type Sandbox } from '../../local/sandbox/server';
import { rememberCredentialsSeenBy } from '../audit/sensitive';
import { apiGatewayEvent, lambdaContext, withBody, withHeader } from '../fixtures/events';
import { freshGateway, sandboxEnv } from '../fixtures/http';

const BASE = '/api/1.0/rest/conversation';

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown> | undefined;
}

async function call(
  gateway: Gateway,
  method: string,
  path: string,
  options: { body?: unknown; raw?: string; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const body = options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
  const response = await fetch(`${gateway.url}${path}`, {
    method,
    headers: {
      ...(options.body !== undefined && { 'Content-Type': 'application/json' }),
      ...options.headers,
    },
    body,
  });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body: text ? (JSON.parse(text) as never) : undefined,
  };
}

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what} did not happen`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

let sandbox: Sandbox;
let pipeline: Pipeline;
let gateway: Gateway;
let bucketDir: string;

beforeAll(async () => {
  sandbox = await startSandbox();
  bucketDir = mkdtempSync(join(tmpdir(), 'aliases-'));
  pipeline = await startPipeline({
    bucketDir,
    env: { ...process.env, ...sandboxEnv(sandbox, '1.0'), DANA_RATE_LIMIT_PER_SECOND: '200' },
    pollMs: 25,
    log: () => {},
  });
  gateway = await freshGateway(sandbox, '1.0', { jobs: pipeline.jobDeps, log: () => {} });
});
afterAll(async () => {
  rememberCredentialsSeenBy(sandbox);
  await gateway.close();
  await pipeline.close();
  await sandbox.close();
  rmSync(bucketDir, { recursive: true, force: true });
});
beforeEach(() => sandbox.reset());

const startPaths = () => sandbox.received().map((r) => `${r.method} ${r.path}`);

/** Drops a CSV into the local bucket and waits for its summary. */
async function upload(key: string, csv: string): Promise<Record<string, unknown>> {
  const file = join(bucketDir, key);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, csv);
  const summaryPath = join(bucketDir, key.replace(/^uploads\//, 'reports/') + '.summary.json');
  return until(`summary of ${key}`, () =>
    existsSync(summaryPath)
      ? (JSON.parse(readFileSync(summaryPath, 'utf8')) as Record<string, unknown>)
      : undefined,
  );
}

describe('starting through an alias follows its current conversation', () => {
  it('HTTP path: PUT, start, PUT a new id, the next start reaches the new one', async () => {
    const put = await call(gateway, 'PUT', '/aliases/newsletter', { body: { conversationId: 1001 } });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({
      name: 'newsletter',
      conversationId: 1001,
      history: [{ conversationId: 1001 }],
    });
    expect(Object.keys(put.body!)).toEqual(['name', 'conversationId', 'updatedAt', 'history']);

    const first = await call(gateway, 'POST', `${BASE}/newsletter/start/list`);
    expect(first.status).toBe(200);
    expect(startPaths()).toEqual([`POST ${BASE}/1001/start/list`]);

    const moved = await call(gateway, 'PUT', '/aliases/newsletter', { body: { conversationId: 1002 } });
    expect(moved.status).toBe(200);
    expect(
      (moved.body!.history as { conversationId: number; to: string | null }[]).map((h) => h.conversationId),
    ).toEqual([1002, 1001]);

    sandbox.reset();
    const second = await call(gateway, 'POST', `${BASE}/newsletter/start/list`);
    expect(second.status).toBe(200);
    expect(startPaths()).toEqual([`POST ${BASE}/1002/start/list`]);

    // The other conversation routes resolve it the same way.
    sandbox.reset();
    const data = await call(gateway, 'POST', `${BASE}/newsletter/start/data`, {
      body: { NAME: 'Ada', CODE: 'al-1' },
    });
    expect(data.status).toBe(200);
    const batch = await call(gateway, 'POST', `${BASE}/newsletter/start/list/data`, {
      body: [{ NAME: 'Bo', CODE: 'al-2' }],
    });
    expect(batch.status).toBe(200);
    expect(startPaths()).toEqual([`POST ${BASE}/1002/start/data`, `POST ${BASE}/1002/start/list/data`]);
  });

  it('async path: the job starts the id the alias held when it was accepted, and records the alias', async () => {
    await call(gateway, 'PUT', '/aliases/promo', { body: { conversationId: 1003 } });
    const accepted = await call(gateway, 'POST', `${BASE}/promo/start/data`, {
      body: { NAME: 'Async', CODE: 'al-3' },
      headers: { Prefer: 'respond-async' },
    });
    expect(accepted.status).toBe(202);
    const jobId = accepted.body!.jobId as string;
    await until('job done', async () =>
      (await pipeline.jobs.getJob(jobId))?.state === 'done' ? true : undefined,
    );
    expect(startPaths()).toEqual([`POST ${BASE}/1003/start/data`]);
    const job = await pipeline.jobs.getJob(jobId);
    expect(job?.operation).toEqual({ kind: 'data', conversationId: 1003 });
    expect(job?.alias).toBe('promo');
  });

  it('upload path: uploads/<alias>/… starts the current id; after a PUT the next upload reaches the new one', async () => {
    await call(gateway, 'PUT', '/aliases/monthly', { body: { conversationId: 1001 } });
    const march = await upload('uploads/monthly/march.csv', 'NAME,CODE\nAna,al-m1\n');
    expect(march).toMatchObject({ alias: 'monthly', conversationId: 1001, total: 1, started: 1 });
    expect(startPaths()).toEqual([`POST ${BASE}/1001/start/list/data`]);

    sandbox.reset();
    await call(gateway, 'PUT', '/aliases/monthly', { body: { conversationId: 1002 } });
    const april = await upload('uploads/monthly/april.csv', 'NAME,CODE\nBea,al-a1\n');
    expect(april).toMatchObject({ alias: 'monthly', conversationId: 1002, total: 1, started: 1 });
    expect(startPaths()).toEqual([`POST ${BASE}/1002/start/list/data`]);
  });
});

describe('an unknown alias is 404 naming it, and nothing goes upstream', () => {
  it.each([
    ['POST', `${BASE}/ghost/start/list`, undefined, {}],
    ['POST', `${BASE}/ghost/start/data`, { NAME: 'x' }, {}],
    ['POST', `${BASE}/ghost/start/data`, { NAME: 'x' }, { Prefer: 'respond-async' }],
    ['POST', `${BASE}/ghost/start/list/data`, [{ NAME: 'x' }], { Prefer: 'respond-async' }],
    ['POST', `${BASE}/ghost/start/record/3663`, { NAME: 'x' }, {}],
  ] as const)('%s %s %j %j', async (method, path, body, headers) => {
    const sent = vi.spyOn(pipeline.queue, 'sendChunks');
    const answer = await call(gateway, method, path, { body, headers });
    expect(answer.status).toBe(404);
    expect(answer.body).toEqual({
      wsError: {
        idError: 9404,
        errorDescription: 'No such resource: conversationId: no alias named "ghost"',
      },
    });
    expect(sandbox.received()).toEqual([]);
    expect(sent).not.toHaveBeenCalled();
    sent.mockRestore();
  });

  it('an upload under an unknown alias is rejected as a whole, naming it; nothing is started', async () => {
    const summary = await upload('uploads/ghost/x.csv', 'NAME\nAna\n');
    expect(summary).toMatchObject({ total: 0, error: expect.stringContaining('no alias named "ghost"') });
    expect(sandbox.received()).toEqual([]);
  });
});

describe('the alias routes', () => {
  it('GET one, GET the list (paged), DELETE → 204, then GET → 404', async () => {
    for (const [name, id] of [
      ['list-a', 1001],
      ['list-b', 1002],
      ['list-c', 1003],
    ] as const) {
      expect((await call(gateway, 'PUT', `/aliases/${name}`, { body: { conversationId: id } })).status).toBe(
        200,
      );
    }
    const one = await call(gateway, 'GET', '/aliases/list-b');
    expect(one).toMatchObject({ status: 200, body: { name: 'list-b', conversationId: 1002 } });

    const names: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await call(gateway, 'GET', `/aliases?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.status).toBe(200);
      names.push(...(page.body!.aliases as { name: string }[]).map((a) => a.name));
      cursor = page.body!.cursor as string | undefined;
    } while (cursor);
    expect(names.filter((n) => n.startsWith('list-'))).toEqual(['list-a', 'list-b', 'list-c']);

    const deleted = await call(gateway, 'DELETE', '/aliases/list-b');
    expect(deleted.status).toBe(204);
    expect(deleted.body).toBeUndefined();
    expect((await call(gateway, 'GET', '/aliases/list-b')).status).toBe(404);
    expect(sandbox.received()).toEqual([]);
  });

  it.each([
    ['PUT', '/aliases/Bad_Name', { body: { conversationId: 1001 } }, 400, 'name'],
    ['PUT', '/aliases/1001', { body: { conversationId: 1001 } }, 400, 'name'],
    ['PUT', `/aliases/${'a'.repeat(64)}`, { body: { conversationId: 1001 } }, 400, 'name'],
    ['PUT', '/aliases/ok', {}, 400, 'body'],
    ['PUT', '/aliases/ok', { body: [] }, 400, 'body'],
    ['PUT', '/aliases/ok', { body: { conversationId: 0 } }, 400, 'conversationId'],
    ['PUT', '/aliases/ok', { body: { conversationId: 'newsletter' } }, 400, 'conversationId'],
    ['PUT', '/aliases/ok', { body: { conversationId: 1001, owner: 'x' } }, 400, 'body.owner'],
    [
      'PUT',
      '/aliases/ok',
      { raw: '{"conversationId":', headers: { 'Content-Type': 'application/json' } },
      400,
      'body',
    ],
    [
      'PUT',
      '/aliases/ok',
      { raw: 'conversationId=1', headers: { 'Content-Type': 'text/plain' } },
      415,
      'Content-Type',
    ],
    ['GET', '/aliases?limit=0', {}, 400, 'limit'],
    ['GET', '/aliases?limit=1000', {}, 400, 'limit'],
    ['GET', '/aliases?cursor=forged', {}, 400, 'cursor'],
    ['GET', '/aliases/No', {}, 400, 'name'],
    ['GET', '/aliases/nobody', {}, 404, 'name'],
    ['DELETE', '/aliases/nobody', {}, 404, 'name'],
    ['DELETE', '/aliases/Bad', {}, 400, 'name'],
    ['DELETE', '/aliases/ok', { raw: '{}', headers: { 'Content-Type': 'application/json' } }, 400, 'body'],
    ['POST', '/aliases/ok', { body: { conversationId: 1 } }, 405, undefined],
  ] as const)('%s %s %j → %i naming %s; nothing upstream', async (method, path, options, status, target) => {
    const answer = await call(gateway, method, path, options);
    expect(answer.status).toBe(status);
    const wsError = (answer.body as { wsError: { idError: number; errorDescription: string } }).wsError;
    expect(wsError.idError).toBe(9000 + status);
    if (target) expect(wsError.errorDescription).toContain(`${target}:`);
    expect(sandbox.received()).toEqual([]);
    expect((await call(gateway, 'GET', '/aliases/ok')).status).toBe(404);
  });
});

describe('the alias function as API Gateway invokes it', () => {
  /** An API Gateway event for `resource` (as API Gateway names the matched resource), from the get-job fixture. */
  const eventFor = (method: string, resource: string, path: string, name?: string, body?: string) => {
    const event = apiGatewayEvent('get-job');
    event.httpMethod = method;
    event.resource = resource;
    event.path = path;
    event.requestContext.resourcePath = resource;
    event.requestContext.path = `/prod${path}`;
    event.pathParameters = name === undefined ? null : { name };
    if (body !== undefined) {
      withBody(event, body);
      withHeader(event, 'Content-Type', 'application/json');
    }
    return event;
  };

  it('answers its routes also where the operator console mounts them (/console/api/aliases/…)', async () => {
    const aliases = new MemoryAliasStore();
    const uninstall = useLocalJobDeps({ aliases });
    try {
      const { handler } = await import('../../lambdas/aliases/handler');
      for (const prefix of ['', '/console/api']) {
        const put = await handler(
          eventFor(
            'PUT',
            `${prefix}/aliases/{name}`,
            `${prefix}/aliases/direct`,
            'direct',
            '{"conversationId":1002}',
          ),
          lambdaContext(),
        );
        expect(put.statusCode, prefix).toBe(200);
        const list = await handler(
          eventFor('GET', `${prefix}/aliases`, `${prefix}/aliases`),
          lambdaContext(),
        );
        expect(JSON.parse(list.body), prefix).toMatchObject({
          aliases: [{ name: 'direct', conversationId: 1002 }],
        });
        const deleted = await handler(
          eventFor('DELETE', `${prefix}/aliases/{name}`, `${prefix}/aliases/direct`, 'direct'),
          lambdaContext(),
        );
        expect(deleted.statusCode, prefix).toBe(204);
      }
      await expect(handler(eventFor('GET', '/jobs/{jobId}', '/jobs/x'), lambdaContext())).rejects.toThrow(
        'not an alias route',
      );
    } finally {
      uninstall();
    }
  });
});
