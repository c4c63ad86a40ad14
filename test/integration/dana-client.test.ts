/**
 * The DanaClient against a real sandbox over loopback HTTP: every operation in both API versions, every error
 * class, the retry policy (a start never reaches DANAConnect twice) and hostile path input.
 */
import { createServer } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  CachedCredentialSource,
  type CredentialSource,
  type DanaCredentials,
} from '../../lambdas/core/credentials';
import { DanaClient, type DanaClientOptions, type UpstreamCallInfo } from '../../lambdas/core/dana-client';
import { DanaError, InvalidInputError, type DanaErrorKind } from '../../lambdas/core/errors';
import { DEMO_CLIENT, DEMO_USER, startSandbox, type Faults, type Sandbox } from '../../local/sandbox/server';

const BASIC: DanaCredentials = { apiVersion: '1.0', ...DEMO_USER };
const OAUTH: DanaCredentials = { apiVersion: '2.0', ...DEMO_CLIENT };

const fixed = (credentials: DanaCredentials): CredentialSource => ({ get: async () => credentials });

let sandbox: Sandbox;

function clientFor(
  credentials: DanaCredentials | CredentialSource,
  options: Partial<DanaClientOptions> = {},
) {
  return new DanaClient({
    credentials: 'get' in credentials ? credentials : fixed(credentials),
    baseUrl: sandbox.url,
    tokenUrl: sandbox.tokenUrl,
    timeoutMs: 2_000,
    random: () => 0,
    ...options,
  });
}

const apiCalls = () => sandbox.received().filter((r) => r.path.startsWith('/api/'));
const tokenCalls = () => sandbox.received().filter((r) => r.path === '/oauth2/token');

/** Runs `call` and returns the DanaError it must throw. */
async function danaErrorOf(call: Promise<unknown>): Promise<DanaError> {
  const error = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DanaError);
  return error as DanaError;
}

/** A port nothing listens on: bound once, then closed. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

let contactSeq = 0;
/** A record no other test starts, so its start key is its own. */
const newContact = () => ({ NAME: 'Test', EMAIL: `contact-${++contactSeq}@example.test` });

beforeAll(async () => {
  sandbox = await startSandbox();
});
afterAll(async () => {
  await sandbox.close();
});
beforeEach(() => sandbox.reset());
// Also after: the faults a test set must not reach a describe's beforeAll, which runs before the next beforeEach.
afterEach(() => sandbox.reset());

describe.each([
  ['1.0', BASIC],
  ['2.0', OAUTH],
] as const)('every operation with API %s', (version, credentials) => {
  const prefix = `/api/${version}/rest`;
  let client: DanaClient;
  beforeAll(() => {
    client = clientFor(credentials);
  });

  it('starts a conversation for its preloaded list', async () => {
    const answer = await client.startList(1001);
    expect(answer).toEqual({ status: 200, body: { wsResult: { idResult: 0, resultDescription: 'OK' } } });
    const [call] = apiCalls();
    expect(call).toMatchObject({
      method: 'POST',
      path: `${prefix}/conversation/1001/start/list`,
      rawBody: '',
    });
    expect(sandbox.started()).toEqual([{ via: 'list', conversationId: 1001, recordId: 0, fields: {} }]);
  });

  it('starts for one new record and answers its id', async () => {
    const record = newContact();
    const answer = await client.startData(1002, record);
    expect(answer.status).toBe(200);
    const id = (answer.body as { wsResult: { idResult: number } }).wsResult.idResult;
    expect(sandbox.records().get(id)).toEqual(record);
    const [call] = apiCalls();
    expect(call).toMatchObject({
      method: 'POST',
      path: `${prefix}/conversation/1002/start/data`,
      contentType: 'application/json',
      body: record,
    });
    expect(sandbox.started()).toEqual([{ via: 'data', conversationId: 1002, recordId: id, fields: record }]);
  });

  it('starts by project id, reaching the project’s current conversation', async () => {
    const record = newContact();
    const answer = await client.startDataByProject(77, record);
    const id = (answer.body as { wsResult: { idResult: number } }).wsResult.idResult;
    expect(apiCalls()[0]!.path).toBe(`${prefix}/conversation/ProjectID/77/start/data`);
    expect(sandbox.started()).toEqual([
      { via: 'project', conversationId: 1001, recordId: id, fields: record },
    ]);
  });

  it('starts for an existing record, updating its fields first', async () => {
    const created = await client.startData(1001, newContact());
    const id = (created.body as { wsResult: { idResult: number } }).wsResult.idResult;
    sandbox.reset();
    const answer = await client.startRecord(1003, id, { PHONE_NUMBER: '+10000000000' });
    expect(answer.body).toEqual({ wsResult: { idResult: 0, resultDescription: 'OK' } });
    expect(apiCalls()[0]!.path).toBe(`${prefix}/conversation/1003/start/record/${id}`);
    expect(sandbox.records().get(id)).toMatchObject({ PHONE_NUMBER: '+10000000000' });
    expect(sandbox.started()).toEqual([
      { via: 'record', conversationId: 1003, recordId: id, fields: { PHONE_NUMBER: '+10000000000' } },
    ]);
    // Without fields, the record is started as it is.
    await client.startRecord(1003, id);
    expect(sandbox.startCounts().get(`record:${id}`)).toBe(2);
  });

  it('starts a batch and answers one envelope per record, in order', async () => {
    const records = [newContact(), newContact(), newContact()];
    const answer = await client.startBatch(1001, records);
    expect(answer.status).toBe(200);
    expect(answer.body).toHaveLength(3);
    const ids = answer.body.map((item) => ('wsResult' in item ? item.wsResult.idResult : -1));
    expect(ids.map((id) => sandbox.records().get(id))).toEqual(records);
    expect(apiCalls()[0]).toMatchObject({
      path: `${prefix}/conversation/1001/start/list/data`,
      body: records,
    });
  });

  it('fetches a contact’s data from its link code, only the fields asked for', async () => {
    const created = await client.startData(1001, { NAME: 'Test', EMAIL: 'x@example.test', CITY: '' });
    const id = (created.body as { wsResult: { idResult: number } }).wsResult.idResult;
    sandbox.reset();
    const answer = await client.getContactData(`lc-${id}`, ['EMAIL', 'CITY']);
    expect(answer.status).toBe(200);
    expect(answer.body.record).toEqual({ EMAIL: 'x@example.test', CITY: '' });
    expect(answer.body.requestID).toMatch(/^[0-9a-f-]{36}$/);
    const [call] = apiCalls();
    expect(call).toMatchObject({
      method: 'GET',
      path: `${prefix}/conversation/data/lc-${id}`,
      query: { fields: 'EMAIL,CITY' },
    });
    const all = await client.getContactData(`lc-${id}`);
    expect(all.body.record).toEqual({ NAME: 'Test', EMAIL: 'x@example.test', CITY: '' });
  });

  it('sends X-DEBUG only when asked, as 1 or 0', async () => {
    await client.startList(1001, { debug: true });
    await client.startList(1002, { debug: false });
    await client.startList(1003);
    expect(apiCalls().map((r) => r.debug)).toEqual(['1', '0', undefined]);
  });
});

describe('authentication', () => {
  it('API 1.0 sends HTTP Basic user@company:password', async () => {
    await clientFor(BASIC).startList(1001);
    const expected = Buffer.from('demo@DEMO:demo-password').toString('base64');
    expect(apiCalls()[0]!.authorization).toBe(`Basic ${expected}`);
    expect(tokenCalls()).toHaveLength(0);
  });

  it('API 2.0 fetches the token once, caches it, and sends it as Bearer', async () => {
    const client = clientFor(OAUTH);
    await Promise.allSettled([client.startList(1001), client.startList(1002), client.getContactData('lc-1')]);
    await client.startList(1003);
    const [token] = tokenCalls();
    expect(tokenCalls()).toHaveLength(1);
    expect(token).toMatchObject({
      method: 'POST',
      contentType: 'application/x-www-form-urlencoded',
      body: { grant_type: 'client_credentials', scope: 'conversation:access2api' },
    });
    const basic = Buffer.from('demo-client:demo-client-secret').toString('base64');
    expect(token!.authorization).toBe(`Basic ${basic}`);
    const bearers = new Set(apiCalls().map((r) => r.authorization));
    expect(bearers.size).toBe(1);
    expect([...bearers][0]).toMatch(/^Bearer \S+$/);
  });

  it('API 2.0 URL-encodes the client id and secret before Basic (RFC 6749)', async () => {
    const odd = { clientId: 'client:with space', clientSecret: 'sec+ret/é' };
    const own = await startSandbox({ clients: [odd] });
    try {
      const client = new DanaClient({
        credentials: fixed({ apiVersion: '2.0', ...odd }),
        baseUrl: own.url,
        tokenUrl: own.tokenUrl,
      });
      await expect(client.startList(1001)).resolves.toMatchObject({ status: 200 });
    } finally {
      await own.close();
    }
  });

  it('API 2.0 fetches a new token after a 401 (revoked tokens), and the start happens once', async () => {
    const client = clientFor(OAUTH);
    await client.startList(1001);
    sandbox.revokeTokens();
    await client.startData(1001, newContact());
    expect(sandbox.received().map((r) => r.path)).toEqual([
      '/oauth2/token',
      '/api/2.0/rest/conversation/1001/start/list',
      '/api/2.0/rest/conversation/1001/start/data',
      '/oauth2/token',
      '/api/2.0/rest/conversation/1001/start/data',
    ]);
    expect(sandbox.started().map((s) => s.via)).toEqual(['list', 'data']);
    const [first, second] = apiCalls().slice(1);
    expect(first!.authorization).not.toBe(second!.authorization);
  });

  it('API 1.0: a 401 reloads the credentials once and succeeds with the rotated password', async () => {
    let stored = { ...DEMO_USER };
    const load = vi.fn(async (): Promise<DanaCredentials> => ({ apiVersion: '1.0', ...stored }));
    const client = clientFor(new CachedCredentialSource(load, 60_000));
    await client.startList(1001);
    expect(load).toHaveBeenCalledTimes(1);

    // Rotation: the secret store and DANAConnect change together; the cache still holds the old password.
    stored = { ...DEMO_USER, password: 'rotated-password' };
    sandbox.setUserPassword(DEMO_USER.username, 'rotated-password');
    try {
      const contact = newContact();
      await expect(client.startData(1001, contact)).resolves.toMatchObject({ status: 200 });
      expect(load).toHaveBeenCalledTimes(2);
      const starts = apiCalls().filter((r) => r.path.endsWith('/start/data'));
      expect(starts).toHaveLength(2);
      expect(starts[1]!.authorization).toBe(
        `Basic ${Buffer.from('demo@DEMO:rotated-password').toString('base64')}`,
      );
      expect(sandbox.duplicates()).toEqual([]);
      // The fresh password is cached again: no further load.
      await client.startList(1002);
      expect(load).toHaveBeenCalledTimes(2);
    } finally {
      sandbox.setUserPassword(DEMO_USER.username, DEMO_USER.password);
    }
  });

  it('API 2.0: a rotated client secret is picked up after the 401', async () => {
    let stored = { ...DEMO_CLIENT };
    const load = vi.fn(async (): Promise<DanaCredentials> => ({ apiVersion: '2.0', ...stored }));
    const client = clientFor(new CachedCredentialSource(load, 60_000));
    await client.startList(1001);
    stored = { ...DEMO_CLIENT, clientSecret: 'rotated-secret' };
    sandbox.setClientSecret(DEMO_CLIENT.clientId, 'rotated-secret');
    try {
      await expect(client.startData(1001, newContact())).resolves.toMatchObject({ status: 200 });
      expect(load).toHaveBeenCalledTimes(2);
      expect(sandbox.received().map((r) => r.path)).toEqual([
        '/oauth2/token',
        '/api/2.0/rest/conversation/1001/start/list',
        '/api/2.0/rest/conversation/1001/start/data',
        '/oauth2/token',
        '/api/2.0/rest/conversation/1001/start/data',
      ]);
      expect(sandbox.started().map((s) => s.via)).toEqual(['list', 'data']);
    } finally {
      sandbox.setClientSecret(DEMO_CLIENT.clientId, DEMO_CLIENT.clientSecret);
    }
  });

  it('still 401 after the refresh: unauthorized error, empty body, nothing started', async () => {
    const load = vi.fn(async (): Promise<DanaCredentials> => ({ ...BASIC, password: 'wrong' }));
    const client = clientFor(new CachedCredentialSource(load, 60_000));
    const error = await danaErrorOf(client.startData(1001, newContact()));
    expect(error).toMatchObject({ kind: 'unauthorized', status: 401, delivery: 'no', body: undefined });
    expect(error.wsError).toBeUndefined();
    expect(load).toHaveBeenCalledTimes(2);
    expect(apiCalls()).toHaveLength(2);
    expect(sandbox.started()).toEqual([]);
    expect(error.message).not.toContain('wrong');
  });

  it('API 2.0 with a wrong client secret: unauthorized from the token endpoint, no API call', async () => {
    const error = await danaErrorOf(clientFor({ ...OAUTH, clientSecret: 'nope' }).startList(1001));
    expect(error).toMatchObject({ kind: 'unauthorized', status: 401, body: { error: 'invalid_client' } });
    expect(tokenCalls()).toHaveLength(2);
    expect(apiCalls()).toHaveLength(0);
  });
});

describe('error classes', () => {
  const client = () => clientFor(BASIC);

  it('400 illegal_argument carries DANAConnect’s wsError', async () => {
    const error = await danaErrorOf(client().startList(4242));
    expect(error).toMatchObject({ kind: 'illegal_argument', status: 400, delivery: 'no' });
    expect(error.wsError).toEqual({ idError: expect.any(Number), errorDescription: 'Unknown conversation' });
    expect(error.body).toEqual({ wsError: error.wsError });
    const batch = await danaErrorOf(client().startRecord(1001, 999_999));
    expect(batch).toMatchObject({ kind: 'illegal_argument', status: 400 });
    const link = await danaErrorOf(client().getContactData('no-such-code'));
    expect(link).toMatchObject({ kind: 'illegal_argument', status: 400 });
    expect(apiCalls()).toHaveLength(3);
  });

  it('401 unauthorized with an empty body (after one refresh)', async () => {
    sandbox.setFaults({ unauthorizedNext: 2 });
    const error = await danaErrorOf(client().startList(1001));
    expect(error).toMatchObject({ kind: 'unauthorized', status: 401, body: undefined, wsError: undefined });
    expect(apiCalls()).toHaveLength(2);
  });

  it('403 is treated as 401: one refresh, then unauthorized', async () => {
    sandbox.setFaults({ failNext: { count: 9, status: 403 } });
    const error = await danaErrorOf(client().startList(1001));
    expect(error).toMatchObject({ kind: 'unauthorized', status: 403 });
    expect(apiCalls()).toHaveLength(2);
  });

  it('one 401 then success: the refresh is enough', async () => {
    sandbox.setFaults({ unauthorizedNext: 1 });
    await expect(client().startList(1001)).resolves.toMatchObject({ status: 200 });
    expect(apiCalls()).toHaveLength(2);
    expect(sandbox.started()).toHaveLength(1);
  });

  it('429 throttled with retryAfterMs from Retry-After', async () => {
    sandbox.setFaults({ failNext: { count: 1, status: 429, retryAfterSeconds: 7 } });
    const error = await danaErrorOf(clientFor(BASIC, { retry: { maxAttempts: 1 } }).startList(1001));
    expect(error).toMatchObject({ kind: 'throttled', status: 429, retryAfterMs: 7_000, delivery: 'no' });
    expect(sandbox.started()).toEqual([]);
  });

  it('429 is retried after Retry-After, and the contact starts once', async () => {
    const timers = vi.spyOn(globalThis, 'setTimeout');
    try {
      sandbox.setFaults({ failNext: { count: 1, status: 429, retryAfterSeconds: 1 } });
      const contact = newContact();
      await expect(client().startData(1001, contact)).resolves.toMatchObject({ status: 200 });
      expect(apiCalls()).toHaveLength(2);
      expect(sandbox.started()).toHaveLength(1);
      // With zero jitter the only wait is the one DANAConnect asked for.
      expect(timers.mock.calls.some(([, ms]) => ms === 1_000)).toBe(true);
    } finally {
      timers.mockRestore();
    }
  });

  it('a Retry-After beyond the retry budget is not waited for', async () => {
    sandbox.setFaults({ failNext: { count: 1, status: 429, retryAfterSeconds: 1 } });
    const error = await danaErrorOf(clientFor(BASIC, { retry: { budgetMs: 500 } }).startList(1001));
    expect(error).toMatchObject({ kind: 'throttled', retryAfterMs: 1_000 });
    expect(apiCalls()).toHaveLength(1);
  });

  it('5xx upstream_internal, with or without a body', async () => {
    sandbox.setFaults({ failNext: { count: 1, status: 503 } });
    const withBody = await danaErrorOf(client().startList(1001));
    expect(withBody).toMatchObject({ kind: 'upstream_internal', status: 503, delivery: 'unknown' });
    expect(withBody.wsError).toMatchObject({ idError: expect.any(Number) });
    sandbox.setFaults({ failNext: { count: 1, status: 500, body: '' } });
    const empty = await danaErrorOf(client().startList(1001));
    expect(empty).toMatchObject({ kind: 'upstream_internal', status: 500, body: undefined });
  });

  it('timeout when no answer comes within timeoutMs', async () => {
    sandbox.setFaults({ hangNext: { count: 1 } });
    const error = await danaErrorOf(clientFor(BASIC, { timeoutMs: 150 }).startList(1001));
    expect(error).toMatchObject({ kind: 'timeout', delivery: 'unknown', status: undefined });
    expect(error.message).toContain('150 ms');
  });

  it('network when the connection drops without an answer', async () => {
    sandbox.setFaults({ dropNext: { count: 1 } });
    const error = await danaErrorOf(client().startList(1001));
    expect(error).toMatchObject({ kind: 'network', delivery: 'unknown' });
  });

  it('network, never sent, when the port is closed: retried, and delivery is "no"', async () => {
    const calls: UpstreamCallInfo[] = [];
    const port = await closedPort();
    const client = new DanaClient({
      credentials: fixed(BASIC),
      baseUrl: `http://127.0.0.1:${port}`,
      random: () => 0,
      onUpstreamCall: (info) => calls.push(info),
    });
    const error = await danaErrorOf(client.startData(1001, newContact()));
    expect(error).toMatchObject({ kind: 'network', delivery: 'no' });
    expect(error.message).toContain('ECONNREFUSED');
    expect(calls.map((c) => [c.attempt, c.errorKind])).toEqual([
      [1, 'network'],
      [2, 'network'],
      [3, 'network'],
    ]);
  });

  it('a connect timeout (never sent) is retried for a start too', async () => {
    let attempts = 0;
    const connectTimeout: typeof fetch = async (input, init) => {
      if (++attempts === 1) {
        throw new TypeError('fetch failed', {
          cause: Object.assign(new Error('Connect Timeout Error'), { code: 'UND_ERR_CONNECT_TIMEOUT' }),
        });
      }
      return fetch(input, init);
    };
    const answer = await clientFor(BASIC, { fetch: connectTimeout }).startData(1001, newContact());
    expect(answer.status).toBe(200);
    expect(attempts).toBe(2);
    expect(apiCalls()).toHaveLength(1);
  });

  it('unexpected_answer when a 2xx is not JSON', async () => {
    sandbox.setFaults({ nonJsonNext: 1 });
    const error = await danaErrorOf(client().startList(1001));
    expect(error).toMatchObject({ kind: 'unexpected_answer', status: 200, delivery: 'unknown' });
    // The sandbox acted on it: the answer, not the start, was lost.
    expect(sandbox.started()).toHaveLength(1);
    expect(apiCalls()).toHaveLength(1);
  });

  it('reports each attempt to onUpstreamCall without values', async () => {
    const calls: UpstreamCallInfo[] = [];
    await clientFor(BASIC, { onUpstreamCall: (info) => calls.push(info) }).startList(1001);
    expect(calls).toEqual([
      {
        operation: 'startList',
        durationMs: expect.any(Number),
        status: 200,
        errorKind: undefined,
        attempt: 1,
      },
    ]);
  });
});

describe('retry policy: a start never reaches DANAConnect twice', () => {
  type Op = 'startList' | 'startData' | 'startDataByProject' | 'startRecord' | 'startBatch';
  const ops: Op[] = ['startList', 'startData', 'startDataByProject', 'startRecord', 'startBatch'];
  let recordId: number;
  beforeAll(async () => {
    const answer = await clientFor(BASIC).startData(1001, newContact());
    recordId = (answer.body as { wsResult: { idResult: number } }).wsResult.idResult;
  });

  function run(client: DanaClient, op: Op) {
    switch (op) {
      case 'startList':
        return client.startList(1002);
      case 'startData':
        return client.startData(1001, newContact());
      case 'startDataByProject':
        return client.startDataByProject(77, newContact());
      case 'startRecord':
        return client.startRecord(1001, recordId, { NOTE: `n${++contactSeq}` });
      case 'startBatch':
        return client.startBatch(1001, [newContact(), newContact()]);
    }
  }

  // Faults that last longer than the client's attempts, so any retry would show as a second call.
  const faults: [string, Faults, DanaErrorKind, { acted: boolean }][] = [
    ['500 before acting', { failNext: { count: 9, status: 500 } }, 'upstream_internal', { acted: false }],
    [
      '502 after acting (answer lost)',
      { failNext: { count: 9, status: 502, afterProcessing: true } },
      'upstream_internal',
      { acted: true },
    ],
    [
      '503, empty body',
      { failNext: { count: 9, status: 503, body: '' } },
      'upstream_internal',
      { acted: false },
    ],
    ['random 500s (errorRate 1)', { errorRate: 1 }, 'upstream_internal', { acted: false }],
    ['400 refused', { failNext: { count: 9, status: 400 } }, 'illegal_argument', { acted: false }],
    ['dropped before acting', { dropNext: { count: 9 } }, 'network', { acted: false }],
    ['dropped after acting', { dropNext: { count: 9, afterProcessing: true } }, 'network', { acted: true }],
    ['hung before acting', { hangNext: { count: 9 } }, 'timeout', { acted: false }],
    ['hung after acting', { hangNext: { count: 9, afterProcessing: true } }, 'timeout', { acted: true }],
    ['non-JSON 200 after acting', { nonJsonNext: 9 }, 'unexpected_answer', { acted: true }],
  ];

  /**
   * The calls of this test's own request: an earlier test's request, cut by its 100 ms timeout on a loaded machine
   * before the sandbox read it, can reach the sandbox after the reset. Records carry numbers drawn after
   * `seqBefore`; start/list, which has no body, is the only call on its path.
   */
  function ownCalls(op: Op, seqBefore: number) {
    return apiCalls().filter((r) => {
      if (op === 'startList') return r.path.endsWith('/start/list');
      const seqs = [...JSON.stringify(r.body ?? '').matchAll(/(?:contact-|"n)(\d+)/g)].map((m) =>
        Number(m[1]),
      );
      return seqs.some((n) => n > seqBefore);
    });
  }

  describe.each(faults)('%s', (_name, fault, kind, { acted }) => {
    it.each(ops)('%s: one call, no retry, no duplicate', async (op) => {
      sandbox.setFaults(fault);
      const seqBefore = contactSeq;
      const error = await danaErrorOf(run(clientFor(BASIC, { timeoutMs: 100 }), op));
      expect(error.kind).toBe(kind);
      expect(ownCalls(op, seqBefore)).toHaveLength(1);
      expect(sandbox.started().length > 0).toBe(acted);
      expect(sandbox.duplicates()).toEqual([]);
    });
  });

  it.each(ops)('%s: 401 twice is two refused calls and no start', async (op) => {
    sandbox.setFaults({ unauthorizedNext: 9 });
    const error = await danaErrorOf(run(clientFor(BASIC), op));
    expect(error.kind).toBe('unauthorized');
    expect(apiCalls()).toHaveLength(2);
    expect(sandbox.started()).toEqual([]);
  });

  it.each(ops)('%s: 429 is retried and the contact starts once', async (op) => {
    sandbox.setFaults({ failNext: { count: 2, status: 429, retryAfterSeconds: 0 } });
    await expect(run(clientFor(BASIC), op)).resolves.toMatchObject({ status: 200 });
    expect(apiCalls()).toHaveLength(3);
    expect(sandbox.duplicates()).toEqual([]);
    expect(sandbox.started().length).toBeGreaterThan(0);
  });

  it('the sandbox rate limit (429 + Retry-After: 1) never causes a duplicate under concurrency', async () => {
    const limited = await startSandbox({ rateLimitPerSecond: 4 });
    try {
      const client = new DanaClient({
        credentials: fixed(BASIC),
        baseUrl: limited.url,
        random: () => 0,
        retry: { maxAttempts: 5 },
      });
      const contacts = Array.from({ length: 8 }, newContact);
      await Promise.all(contacts.map((c) => client.startData(1001, c)));
      expect(limited.started()).toHaveLength(8);
      expect(limited.duplicates()).toEqual([]);
      expect(limited.received().length).toBeGreaterThan(8);
    } finally {
      await limited.close();
    }
  });
});

describe('retry policy: reads are retried', () => {
  let code: string;
  beforeAll(async () => {
    const answer = await clientFor(BASIC).startData(1001, { NAME: 'Reader' });
    code = `lc-${(answer.body as { wsResult: { idResult: number } }).wsResult.idResult}`;
  });

  it.each([
    ['500', { failNext: { count: 2, status: 500 } }],
    ['a dropped connection', { dropNext: { count: 2 } }],
    ['a hung answer', { hangNext: { count: 1 } }],
  ] as [string, Faults][])('after %s', async (_name, fault) => {
    sandbox.setFaults(fault);
    const answer = await clientFor(BASIC, { timeoutMs: 150 }).getContactData(code, ['NAME']);
    expect(answer.body.record).toEqual({ NAME: 'Reader' });
    expect(apiCalls().length).toBeGreaterThan(1);
  });

  it('but a 400 or a non-JSON answer is not', async () => {
    sandbox.setFaults({ failNext: { count: 9, status: 400 } });
    expect((await danaErrorOf(clientFor(BASIC).getContactData(code))).kind).toBe('illegal_argument');
    expect(apiCalls()).toHaveLength(1);
    sandbox.reset();
    sandbox.setFaults({ nonJsonNext: 9 });
    expect((await danaErrorOf(clientFor(BASIC).getContactData(code))).kind).toBe('unexpected_answer');
    expect(apiCalls()).toHaveLength(1);
  });

  it('the token fetch is retried like a read', async () => {
    const own = await startSandbox();
    try {
      let calls = 0;
      // The sandbox's faults apply to API calls only; fail the token endpoint's first answer here.
      const flakyToken: typeof fetch = async (input, init) => {
        if (String(input).endsWith('/oauth2/token') && ++calls === 1) {
          return new Response('', { status: 503 });
        }
        return fetch(input, init);
      };
      const client = new DanaClient({
        credentials: fixed(OAUTH),
        baseUrl: own.url,
        tokenUrl: own.tokenUrl,
        random: () => 0,
        fetch: flakyToken,
      });
      await expect(client.startList(1001)).resolves.toMatchObject({ status: 200 });
      expect(calls).toBe(2);
    } finally {
      await own.close();
    }
  });
});

describe('hostile input never changes the path', () => {
  const client = () => clientFor(BASIC);
  afterEach(() => {
    expect(sandbox.received()).toEqual([]);
  });

  const badIds: unknown[] = [
    '1/../2',
    '1%2F2',
    -1,
    0,
    2147483648,
    '1e3',
    ' 1',
    1.5,
    Number.NaN,
    '',
    '0x10',
    null,
  ];

  it.each(badIds.map((raw) => [typeof raw === 'string' ? JSON.stringify(raw) : String(raw), raw]))(
    'id %s is refused before any request',
    async (_label, raw) => {
      const id = raw as number;
      const calls = [
        () => client().startList(id),
        () => client().startData(id, { NAME: 'x' }),
        () => client().startDataByProject(id, { NAME: 'x' }),
        () => client().startBatch(id, [{ NAME: 'x' }]),
        () => client().startRecord(id, 1),
        () => client().startRecord(1001, id),
      ];
      for (const call of calls) {
        await expect(call()).rejects.toBeInstanceOf(InvalidInputError);
      }
    },
  );

  it.each(['../x', 'a/b', 'a?b', '%2e%2e', '..', '.', '', 'a#b', 'a b', 'a\\b', 'é', 'x'.repeat(513)])(
    'danaparam %j is refused before any request',
    async (danaparam) => {
      const error = await client()
        .getContactData(danaparam)
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidInputError);
      expect((error as InvalidInputError).target).toBe('danaparam');
    },
  );
});

describe('a valid danaparam reaches exactly its own path', () => {
  it.each(['ab~c=d', 'Zm9v-YmFy_==', '.a.', 'a..b'])('%j', async (danaparam) => {
    const created = await clientFor(BASIC).startData(1001, { NAME: 'Linked' });
    const id = (created.body as { wsResult: { idResult: number } }).wsResult.idResult;
    sandbox.addLinkCode(danaparam, id);
    sandbox.reset();
    const answer = await clientFor(BASIC).getContactData(danaparam, ['NAME']);
    expect(answer.body.record).toEqual({ NAME: 'Linked' });
    expect(apiCalls().map((r) => r.path)).toEqual([
      `/api/1.0/rest/conversation/data/${encodeURIComponent(danaparam)}`,
    ]);
  });
});

describe('one retry budget per call', () => {
  it('the loop after a credential refresh gets only what is left of the budget', async () => {
    // The refresh "takes" longer than the whole budget (the clock jumps), so after it there is one attempt only.
    let offset = 0;
    const credentials: CredentialSource = {
      get: async (options) => {
        if (options?.refresh) offset += 60_000;
        return BASIC;
      },
    };
    // random 0.5: every backoff delay is above zero, so no retry fits into an exhausted budget.
    const client = clientFor(credentials, { now: () => Date.now() + offset, random: () => 0.5 });
    sandbox.setFaults({ unauthorizedNext: 1, failNext: { count: 10, status: 503 } });
    const error = await danaErrorOf(client.getContactData('lc-1'));
    expect(error.kind).toBe('upstream_internal');
    // 401, then one read after the refresh: not the three a fresh budget would allow.
    expect(apiCalls()).toHaveLength(2);
  });
});

describe('token fetches during a rotation of API 2.0 clients', () => {
  it('a call with the new client never shares the old client’s token fetch', async () => {
    const OLD = { clientId: 'client-old', clientSecret: 'old-client-secret' };
    const NEW = { clientId: 'client-new', clientSecret: 'new-client-secret' };
    const rotating = await startSandbox({ clients: [OLD, NEW] });
    try {
      const handedOut: DanaCredentials[] = [
        { apiVersion: '2.0', ...OLD },
        { apiVersion: '2.0', ...NEW },
      ];
      let next = 0;
      const client = new DanaClient({
        credentials: { get: async () => handedOut[Math.min(next++, 1)]! },
        baseUrl: rotating.url,
        tokenUrl: rotating.tokenUrl,
        timeoutMs: 2_000,
      });
      // Both calls start before either token fetch ends: the second reads the rotated credentials.
      await Promise.all([client.startList(1001), client.startList(1002)]);
      const tokenRequests = rotating.received().filter((r) => r.path === '/oauth2/token');
      const basicOf = (c: { clientId: string; clientSecret: string }) =>
        'Basic ' + Buffer.from(`${c.clientId}:${c.clientSecret}`).toString('base64');
      expect(tokenRequests.map((r) => r.authorization).sort()).toEqual([basicOf(NEW), basicOf(OLD)].sort());
    } finally {
      await rotating.close();
    }
  });
});
