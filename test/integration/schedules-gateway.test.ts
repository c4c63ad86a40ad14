/**
 * The schedules API through the local gateway (the same handler as in Lambda, over real HTTP) with the local
 * runner that `npm start` uses, in front of the sandbox:
 * - a one-time schedule in a non-UTC zone fires start-list at the right instant, exactly once, then deletes itself;
 * - create / list / read / replace / delete answer as documented, every schedule with its next runs;
 * - bad input on every schedule route gets a clean 4xx naming the field, and reaches nothing: not the sandbox, not
 *   the store.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { MemoryAliasStore } from '../../lambdas/adapters/memory-alias-store';
import { MemoryScheduleStore } from '../../lambdas/adapters/memory-schedule-store';
import { putAlias } from '../../lambdas/core/aliases';
import { wallClockOf, type Schedule } from '../../lambdas/core/schedules';
import { MAX_BODY_BYTES } from '../../lambdas/http/request';
import { startGateway, type Gateway } from '../../local/gateway';
import { startScheduleRunner, type ScheduleRunner } from '../../local/schedule-runner';
import { startSandbox, type Sandbox } from '../../local/sandbox/server';
import { rememberCredentialsSeenBy } from '../audit/sensitive';
import { rawRequest, sandboxEnv } from '../fixtures/http';

const JSON_TYPE = { 'Content-Type': 'application/json' };
const NEXT_YEAR = new Date().getUTCFullYear() + 1;
const SEEDED: Schedule = {
  name: 'seeded',
  conversation: 1002,
  cron: 'cron(0 9 ? * MON-FRI *)',
  timezone: 'America/Caracas',
  flexibleWindowMinutes: 0,
  enabled: false,
  description: 'present before every test',
};

let sandbox: Sandbox;
let gateway: Gateway;
let store: MemoryScheduleStore;
let runner: ScheduleRunner;
let aliases: MemoryAliasStore;

beforeAll(async () => {
  sandbox = await startSandbox();
  store = new MemoryScheduleStore();
  aliases = new MemoryAliasStore();
  vi.resetModules();
  gateway = await startGateway({
    port: 0,
    env: sandboxEnv(sandbox, '1.0'),
    schedules: store,
    jobs: { aliases },
    log: () => undefined,
  });
  runner = startScheduleRunner({ store, log: () => undefined });
});
afterAll(async () => {
  runner.close();
  rememberCredentialsSeenBy(sandbox);
  await gateway.close();
  await sandbox.close();
});
beforeEach(async () => {
  for (const { name } of store.all()) await store.delete(name);
  await store.create(SEEDED);
  sandbox.reset();
});

const call = async (
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = JSON_TYPE,
) => {
  const answer = await rawRequest(gateway.url, {
    method,
    path,
    headers: body === undefined ? {} : headers,
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  return {
    status: answer.status,
    headers: answer.headers,
    json: answer.text ? JSON.parse(answer.text) : undefined,
  };
};
const listStarts = () => sandbox.received().filter((r) => r.path.endsWith('/start/list'));

describe('a one-time schedule in a non-UTC zone (local runner)', () => {
  it('fires start-list at its instant, exactly once, and then deletes itself', async () => {
    // Caracas is UTC-4 all year: the local time 3 s ahead, to the second.
    const instant = Math.ceil((Date.now() + 3_000) / 1000) * 1000;
    const at = new Date(wallClockOf(instant, 'America/Caracas')).toISOString().slice(0, 19);
    const created = await call('POST', '/schedules', {
      name: 'soon',
      conversation: 1001,
      at,
      timezone: 'America/Caracas',
    });
    expect(created.status).toBe(201);
    expect(created.json.nextRuns).toEqual([{ utc: new Date(instant).toISOString(), local: `${at}-04:00` }]);
    await vi.waitFor(() => expect(listStarts()).toHaveLength(1), { timeout: 8_000, interval: 50 });
    const [start] = listStarts();
    expect(start!.path).toBe('/api/1.0/rest/conversation/1001/start/list');
    expect(start!.at).toBeGreaterThanOrEqual(instant);
    expect(start!.at).toBeLessThan(instant + 1_500);
    // Nothing more, ever: it ran once and is gone (Scheduler's ActionAfterCompletion DELETE).
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(listStarts()).toHaveLength(1);
    expect(runner.fired().soon).toBe(1);
    expect((await call('GET', '/schedules/soon')).status).toBe(404);
  });

  it('a disabled schedule does not fire; a deleted one neither', async () => {
    const instant = Math.ceil((Date.now() + 2_000) / 1000) * 1000;
    const at = new Date(wallClockOf(instant, 'Asia/Kolkata')).toISOString().slice(0, 19);
    expect(
      (
        await call('POST', '/schedules', {
          name: 'off',
          conversation: 1001,
          at,
          timezone: 'Asia/Kolkata',
          enabled: false,
        })
      ).status,
    ).toBe(201);
    expect(
      (await call('POST', '/schedules', { name: 'gone', conversation: 1001, at, timezone: 'Asia/Kolkata' }))
        .status,
    ).toBe(201);
    expect((await call('DELETE', '/schedules/gone')).status).toBe(204);
    await new Promise((resolve) => setTimeout(resolve, instant + 1_000 - Date.now()));
    expect(listStarts()).toEqual([]);
  });
});

describe('a schedule that names an alias', () => {
  /** A one-time schedule 2 s ahead (Lima, UTC-5), and the start/list calls it made once it ran. */
  async function runOnce(name: string): Promise<string[]> {
    const instant = Math.ceil((Date.now() + 2_000) / 1000) * 1000;
    const at = new Date(wallClockOf(instant, 'America/Lima')).toISOString().slice(0, 19);
    const created = await call('POST', '/schedules', {
      name,
      conversation: 'newsletter',
      at,
      timezone: 'America/Lima',
    });
    expect(created.status).toBe(201);
    await vi.waitFor(() => expect(runner.fired()[name]).toBe(1), { timeout: 8_000, interval: 50 });
    await vi.waitFor(() => expect(listStarts()).toHaveLength(1), { timeout: 3_000, interval: 50 });
    const paths = listStarts().map((r) => r.path);
    sandbox.reset();
    return paths;
  }

  it('reaches the conversation the alias names when it fires, and follows a PUT with no change to the schedule', async () => {
    await putAlias(aliases, 'newsletter', 1001);
    expect(await runOnce('alias-first')).toEqual(['/api/1.0/rest/conversation/1001/start/list']);
    await putAlias(aliases, 'newsletter', 1002);
    expect(await runOnce('alias-second')).toEqual(['/api/1.0/rest/conversation/1002/start/list']);
  });
});

describe('the schedules API', () => {
  it('create, read with ?from and ?count, list, replace, delete', async () => {
    const body = {
      name: 'weekday-reminders',
      conversation: 'newsletter',
      cron: 'cron(0 9 ? * MON-FRI *)',
      timezone: 'America/Caracas',
      flexibleWindowMinutes: 0,
      enabled: true,
      description: 'Weekdays at 9:00',
    };
    const created = await call('POST', '/schedules', body);
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject(body);
    expect(created.json.nextRuns).toHaveLength(5);
    const read = await call('GET', `/schedules/weekday-reminders?from=${NEXT_YEAR}-03-06T00:00:00Z&count=2`);
    expect(read.status).toBe(200);
    expect(read.json.nextRuns.map((r: { local: string }) => r.local.slice(11))).toEqual([
      '09:00:00-04:00',
      '09:00:00-04:00',
    ]);
    const page = await call('GET', '/schedules?limit=1');
    expect(page.json.schedules).toHaveLength(1);
    expect(page.json.schedules[0].nextRuns).toBeDefined();
    const rest = await call('GET', `/schedules?limit=1&cursor=${page.json.cursor}`);
    expect([page.json.schedules[0].name, rest.json.schedules[0].name].sort()).toEqual([
      'seeded',
      'weekday-reminders',
    ]);
    const replaced = await call('PUT', '/schedules/weekday-reminders', {
      ...body,
      name: undefined,
      enabled: false,
      timezone: 'America/Bogota',
    });
    expect(replaced.status).toBe(200);
    expect(replaced.json).toMatchObject({
      name: 'weekday-reminders',
      enabled: false,
      timezone: 'America/Bogota',
    });
    const deleted = await rawRequest(gateway.url, { method: 'DELETE', path: '/schedules/weekday-reminders' });
    expect(deleted.status).toBe(204);
    expect(deleted.text).toBe('');
    expect((await call('GET', '/schedules/weekday-reminders')).status).toBe(404);
    expect(sandbox.received()).toEqual([]);
  });
});

interface BadCase {
  name: string;
  method: string;
  path: string;
  body?: unknown;
  headers?: Record<string, string>;
  status: number;
  idError: number;
  names: string;
}
const valid = {
  name: 'new-one',
  conversation: 1001,
  cron: 'cron(0 9 ? * MON-FRI *)',
  timezone: 'America/Caracas',
};
const BAD: BadCase[] = [
  {
    name: 'POST unknown time zone',
    method: 'POST',
    path: '/schedules',
    body: { ...valid, timezone: 'America/Atlantis' },
    status: 400,
    idError: 9400,
    names: 'timezone',
  },
  {
    name: 'POST malformed cron',
    method: 'POST',
    path: '/schedules',
    body: { ...valid, cron: 'cron(0 24 ? * MON-FRI *)' },
    status: 400,
    idError: 9400,
    names: 'hours',
  },
  {
    name: 'POST at in the past',
    method: 'POST',
    path: '/schedules',
    body: { ...valid, cron: undefined, at: '2020-12-24T08:00:00' },
    status: 400,
    idError: 9400,
    names: 'at',
  },
  {
    name: 'POST both cron and at',
    method: 'POST',
    path: '/schedules',
    body: { ...valid, at: `${NEXT_YEAR}-12-24T08:00:00` },
    status: 400,
    idError: 9400,
    names: 'at',
  },
  {
    name: 'POST neither cron nor at',
    method: 'POST',
    path: '/schedules',
    body: { ...valid, cron: undefined },
    status: 400,
    idError: 9400,
    names: 'cron',
  },
  {
    name: 'POST bad name',
    method: 'POST',
    path: '/schedules',
    body: { ...valid, name: 'a/b' },
    status: 400,
    idError: 9400,
    names: 'name',
  },
  {
    name: 'POST bad conversation',
    method: 'POST',
    path: '/schedules',
    body: { ...valid, conversation: '-1' },
    status: 400,
    idError: 9400,
    names: 'conversation',
  },
  {
    name: 'POST unknown field',
    method: 'POST',
    path: '/schedules',
    body: { ...valid, owner: 'me' },
    status: 400,
    idError: 9400,
    names: 'owner',
  },
  {
    name: 'POST existing name',
    method: 'POST',
    path: '/schedules',
    body: { ...valid, name: 'seeded' },
    status: 409,
    idError: 9409,
    names: 'seeded',
  },
  {
    name: 'POST not JSON',
    method: 'POST',
    path: '/schedules',
    body: '{"name":',
    status: 400,
    idError: 9400,
    names: 'body',
  },
  { name: 'POST no body', method: 'POST', path: '/schedules', status: 400, idError: 9400, names: 'body' },
  {
    name: 'POST text/plain',
    method: 'POST',
    path: '/schedules',
    body: valid,
    headers: { 'Content-Type': 'text/plain' },
    status: 415,
    idError: 9415,
    names: 'Content-Type',
  },
  {
    name: 'POST body over the cap',
    method: 'POST',
    path: '/schedules',
    body: { ...valid, description: 'x'.repeat(MAX_BODY_BYTES) },
    status: 413,
    idError: 9413,
    names: 'body',
  },
  {
    name: 'GET list limit=0',
    method: 'GET',
    path: '/schedules?limit=0',
    status: 400,
    idError: 9400,
    names: 'limit',
  },
  {
    name: 'GET list limit=51',
    method: 'GET',
    path: '/schedules?limit=51',
    status: 400,
    idError: 9400,
    names: 'limit',
  },
  {
    name: 'GET list bad cursor',
    method: 'GET',
    path: '/schedules?cursor=%3Cx%3E',
    status: 400,
    idError: 9400,
    names: 'cursor',
  },
  {
    name: 'GET list forged cursor',
    method: 'GET',
    path: '/schedules?cursor=zz',
    status: 400,
    idError: 9400,
    names: 'cursor',
  },
  {
    name: 'GET bad name',
    method: 'GET',
    path: '/schedules/a%20b',
    status: 400,
    idError: 9400,
    names: 'name',
  },
  {
    name: 'GET count=51',
    method: 'GET',
    path: '/schedules/seeded?count=51',
    status: 400,
    idError: 9400,
    names: 'count',
  },
  {
    name: 'GET from not an instant',
    method: 'GET',
    path: '/schedules/seeded?from=tomorrow',
    status: 400,
    idError: 9400,
    names: 'from',
  },
  {
    name: 'GET unknown',
    method: 'GET',
    path: '/schedules/nobody',
    status: 404,
    idError: 9404,
    names: 'nobody',
  },
  {
    name: 'GET with a body',
    method: 'GET',
    path: '/schedules/seeded',
    body: {},
    status: 400,
    idError: 9400,
    names: 'body',
  },
  {
    name: 'PUT renaming',
    method: 'PUT',
    path: '/schedules/seeded',
    body: valid,
    status: 400,
    idError: 9400,
    names: 'name',
  },
  {
    name: 'PUT unknown',
    method: 'PUT',
    path: '/schedules/nobody',
    body: { ...valid, name: undefined },
    status: 404,
    idError: 9404,
    names: 'nobody',
  },
  {
    name: 'PUT bad cron',
    method: 'PUT',
    path: '/schedules/seeded',
    body: { ...valid, name: undefined, cron: 'cron(0 9 * * *)' },
    status: 400,
    idError: 9400,
    names: 'cron',
  },
  {
    name: 'DELETE unknown',
    method: 'DELETE',
    path: '/schedules/nobody',
    status: 404,
    idError: 9404,
    names: 'nobody',
  },
  {
    name: 'DELETE bad name',
    method: 'DELETE',
    path: '/schedules/..',
    status: 400,
    idError: 9400,
    names: 'name',
  },
  {
    name: 'DELETE with a body',
    method: 'DELETE',
    path: '/schedules/seeded',
    body: {},
    status: 400,
    idError: 9400,
    names: 'body',
  },
];

describe('bad input on every schedule route: a clean 4xx, nothing reached', () => {
  it.each(BAD.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const answer = await call(c.method, c.path, c.body, c.headers);
    expect(answer.status).toBe(c.status);
    expect(answer.headers['content-type']).toBe('application/json');
    expect(answer.json.wsError.idError).toBe(c.idError);
    expect(answer.json.wsError.errorDescription).toContain(c.names);
    expect(store.all()).toEqual([SEEDED]);
    expect(sandbox.received()).toEqual([]);
  });

  it('covers every schedule route', () => {
    const hit = new Set(
      BAD.map((c) => `${c.method} ${c.path.startsWith('/schedules/') ? '/schedules/{name}' : '/schedules'}`),
    );
    expect([...hit].sort()).toEqual([
      'DELETE /schedules/{name}',
      'GET /schedules',
      'GET /schedules/{name}',
      'POST /schedules',
      'PUT /schedules/{name}',
    ]);
  });
});
