/**
 * Every route end to end over HTTP: fetch → local gateway → handler → client core → sandbox, with API 1.0 and
 * API 2.0 credentials, checking what the sandbox received (path, the GATEWAY's credentials, body) and what the
 * caller got back. Then the gateway's own behaviour: 404/405 envelopes, request ids, LOCAL_API_KEY, its log line.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Gateway } from '../../local/gateway';
import { DEMO_CLIENT, startSandbox, type ReceivedRequest, type Sandbox } from '../../local/sandbox/server';
import { rememberCredentialsSeenBy } from '../audit/sensitive';
import { basicAuthorization, DEMO_BASIC, freshGateway, rawRequest, type ApiVersion } from '../fixtures/http';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** What a caller of DANAConnect sends today; the gateway must neither forward nor need it. */
const CALLER_AUTHORIZATION = basicAuthorization('someone@ELSEWHERE', 'caller-password');

describe.each(['1.0', '2.0'] as ApiVersion[])(
  'every route, end to end, with API %s credentials',
  (version) => {
    let sandbox: Sandbox;
    let gateway: Gateway;
    const base = () => `${gateway.url}/api/1.0/rest/conversation`;
    const upstream = `/api/${version}/rest/conversation`;

    // Fresh for each test (a new DANAConnect and a new execution environment): the records, ids and tokens a test
    // sees are only its own, whatever ran before it.
    beforeEach(async () => {
      sandbox = await startSandbox();
      gateway = await freshGateway(sandbox, version);
    });
    afterEach(async () => {
      rememberCredentialsSeenBy(sandbox);
      await gateway.close();
      await sandbox.close();
    });

    /** The API calls (token calls aside) the sandbox received while `fn` ran. */
    async function callsDuring(fn: () => Promise<Response>): Promise<[Response, ReceivedRequest[]]> {
      const before = sandbox.received().length;
      const response = await fn();
      return [
        response,
        sandbox
          .received()
          .slice(before)
          .filter((r) => r.path.startsWith('/api/')),
      ];
    }

    function expectGatewayCredentials(calls: ReceivedRequest[]): void {
      for (const call of calls) {
        if (version === '1.0') expect(call.authorization).toBe(DEMO_BASIC);
        else expect(call.authorization).toMatch(/^Bearer \S+$/);
        expect(call.authorization).not.toBe(CALLER_AUTHORIZATION);
      }
    }

    const post = (path: string, body?: unknown, headers: Record<string, string> = {}) =>
      fetch(`${base()}${path}`, {
        method: 'POST',
        headers: {
          Authorization: CALLER_AUTHORIZATION,
          ...(body !== undefined && { 'Content-Type': 'application/json' }),
          ...headers,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });

    /** Record 3663 as start-data creates it, and as start-record then updates it. */
    const createAda = async () =>
      expect((await post('/1001/start/data', { NAME: 'Ada', EMAIL: 'ada@example.com' })).status).toBe(200);
    const updateAda = async () =>
      expect(
        (await post('/1001/start/record/3663', { PHONE_NUMBER: '+15550100123', VIP: true })).status,
      ).toBe(200);

    it('start-list', async () => {
      const [response, calls] = await callsDuring(() =>
        post('/1001/start/list', undefined, { 'X-DEBUG': '1' }),
      );
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('application/json');
      expect(response.headers.get('x-request-id')).toMatch(UUID);
      expect(await response.json()).toEqual({ wsResult: { idResult: 0, resultDescription: 'OK' } });
      expect(calls).toMatchObject([
        { method: 'POST', path: `${upstream}/1001/start/list`, debug: '1', rawBody: '' },
      ]);
      expectGatewayCredentials(calls);
    });

    it('start-data', async () => {
      const [response, calls] = await callsDuring(() =>
        post('/1001/start/data', { NAME: 'Ada', EMAIL: 'ada@example.com' }),
      );
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ wsResult: { idResult: 3663, resultDescription: 'OK' } });
      expect(calls).toMatchObject([
        {
          path: `${upstream}/1001/start/data`,
          contentType: 'application/json',
          body: { NAME: 'Ada', EMAIL: 'ada@example.com' },
        },
      ]);
      expect(calls[0]!.debug).toBeUndefined();
      expectGatewayCredentials(calls);
    });

    it('start-data-by-project', async () => {
      await createAda();
      const [response, calls] = await callsDuring(() => post('/ProjectID/77/start/data', { NAME: 'Grace' }));
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ wsResult: { idResult: 3664, resultDescription: 'OK' } });
      expect(calls).toMatchObject([{ path: `${upstream}/ProjectID/77/start/data`, body: { NAME: 'Grace' } }]);
      expectGatewayCredentials(calls);
    });

    it('start-record', async () => {
      await createAda();
      const [response, calls] = await callsDuring(() =>
        post('/1001/start/record/3663', { PHONE_NUMBER: '+15550100123', VIP: true }),
      );
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ wsResult: { idResult: 0, resultDescription: 'OK' } });
      expect(calls).toMatchObject([
        { path: `${upstream}/1001/start/record/3663`, body: { PHONE_NUMBER: '+15550100123', VIP: 'true' } },
      ]);
      expect(sandbox.records().get(3663)).toEqual({
        NAME: 'Ada',
        EMAIL: 'ada@example.com',
        PHONE_NUMBER: '+15550100123',
        VIP: 'true',
      });
      expectGatewayCredentials(calls);
    });

    it('start-batch', async () => {
      await createAda();
      expect((await post('/ProjectID/77/start/data', { NAME: 'Grace' })).status).toBe(200);
      const records = [{ NAME: 'Alan' }, { NAME: 'Joan', GENDER: 'F' }];
      const [response, calls] = await callsDuring(() => post('/1001/start/list/data', records));
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual([
        { wsResult: { idResult: 3665, resultDescription: 'OK' } },
        { wsResult: { idResult: 3666, resultDescription: 'OK' } },
      ]);
      expect(calls).toMatchObject([{ path: `${upstream}/1001/start/list/data`, body: records }]);
      expectGatewayCredentials(calls);
    });

    it('get-contact-data', async () => {
      await createAda();
      await updateAda();
      const [response, calls] = await callsDuring(() =>
        fetch(`${base()}/data/lc-3663?fields=NAME,PHONE_NUMBER,PLAN`, {
          headers: { Authorization: CALLER_AUTHORIZATION, Accept: 'application/json' },
        }),
      );
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({
        record: { NAME: 'Ada', PHONE_NUMBER: '+15550100123', PLAN: '' },
        requestID: expect.stringMatching(UUID),
      });
      expect(calls).toMatchObject([
        { method: 'GET', path: `${upstream}/data/lc-3663`, query: { fields: 'NAME,PHONE_NUMBER,PLAN' } },
      ]);
      expectGatewayCredentials(calls);
    });

    it('DANAConnect’s own refusal passes through unchanged', async () => {
      const [unknown, calls] = await callsDuring(() => post('/4242/start/list'));
      expect(unknown.status).toBe(400);
      expect(await unknown.json()).toEqual({
        wsError: { idError: 1001, errorDescription: 'Unknown conversation' },
      });
      expect(calls).toHaveLength(1);
    });

    if (version === '2.0') {
      it('fetched one OAuth2 token per function with the gateway’s client credentials, and used it for every call', async () => {
        // Every route, start-list twice.
        for (const path of ['/1001/start/list', '/1002/start/list'])
          expect((await post(path)).status).toBe(200);
        await createAda();
        expect((await post('/ProjectID/77/start/data', { NAME: 'Grace' })).status).toBe(200);
        await updateAda();
        expect((await post('/1001/start/list/data', [{ NAME: 'Alan' }])).status).toBe(200);
        const read = await fetch(`${base()}/data/lc-3663?fields=NAME`, {
          headers: { Accept: 'application/json' },
        });
        expect(read.status).toBe(200);
        const apiCalls = sandbox.received().filter((r) => r.path.startsWith('/api/'));
        expect(apiCalls).toHaveLength(7);
        expectGatewayCredentials(apiCalls);
        const tokenCalls = sandbox.received().filter((r) => r.path === '/oauth2/token');
        // Each route is its own function with its own cached token, as each Lambda is: one token per route, however
        // many calls (start-list was called twice).
        expect(tokenCalls).toHaveLength(6);
        for (const call of tokenCalls) {
          expect(call.authorization).toBe(basicAuthorization(DEMO_CLIENT.clientId, DEMO_CLIENT.clientSecret));
          expect(call.body).toEqual({ grant_type: 'client_credentials', scope: 'conversation:access2api' });
        }
      });
    }
  },
);

describe('the local gateway itself', () => {
  let sandbox: Sandbox;
  let gateway: Gateway;
  const lines: string[] = [];

  beforeAll(async () => {
    sandbox = await startSandbox();
    // Kept for the test to read, and printed as the gateway would (for the log audit).
    gateway = await freshGateway(sandbox, '1.0', {
      log: (line) => {
        lines.push(line);
        console.log(line);
      },
    });
  });
  afterAll(async () => {
    rememberCredentialsSeenBy(sandbox);
    await gateway.close();
    await sandbox.close();
  });
  // Each test sees only what it sent upstream, whatever ran before it.
  beforeEach(() => {
    rememberCredentialsSeenBy(sandbox);
    sandbox.reset();
  });

  it('answers an unknown route with the 404 envelope', async () => {
    const response = await fetch(`${gateway.url}/api/1.0/rest/conversation/1001/stop`, { method: 'POST' });
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(response.headers.get('x-request-id')).toMatch(UUID);
    expect(await response.json()).toEqual({
      wsError: {
        idError: 9404,
        errorDescription: 'No such resource: no route for POST /api/1.0/rest/conversation/1001/stop',
      },
    });
  });

  it('answers a known path with the wrong method with the 405 envelope and Allow', async () => {
    const response = await fetch(`${gateway.url}/api/1.0/rest/conversation/data/lc-1`, { method: 'POST' });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('GET');
    expect(await response.json()).toEqual({
      wsError: { idError: 9405, errorDescription: 'Method not allowed: this path takes GET' },
    });
    expect(sandbox.received()).toEqual([]);
  });

  it('decodes path parameters as API Gateway does, and keeps an encoded slash inside its segment', async () => {
    sandbox.reset();
    const created = await fetch(`${gateway.url}/api/1.0/rest/conversation/1001/start/data`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: '{"NAME":"Ada"}',
    });
    const id = ((await created.json()) as { wsResult: { idResult: number } }).wsResult.idResult;
    const encoded = await rawRequest(gateway.url, {
      method: 'GET',
      path: `/api/1.0/rest/conversation/data/lc%2D${id}`,
    });
    expect(encoded.status).toBe(200);
    expect(sandbox.received().at(-1)!.path).toBe(`/api/1.0/rest/conversation/data/lc-${id}`);
    const slash = await rawRequest(gateway.url, {
      method: 'GET',
      path: '/api/1.0/rest/conversation/data/lc%2F1',
    });
    expect(slash.status).toBe(400);
    expect(JSON.parse(slash.text).wsError.errorDescription).toContain('danaparam');
  });

  it('passes a body that is not UTF-8 base64-encoded, which the handler then refuses', async () => {
    sandbox.reset();
    const answer = await rawRequest(gateway.url, {
      method: 'POST',
      path: '/api/1.0/rest/conversation/1001/start/data',
      headers: { 'Content-Type': 'application/json' },
      body: Buffer.from([0x7b, 0x22, 0x4e, 0x22, 0x3a, 0x22, 0xf1, 0x22, 0x7d]), // {"N":"ñ"} in Latin-1
    });
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.text).wsError.errorDescription).toBe('Invalid input: body: is not valid UTF-8');
    expect(sandbox.received()).toEqual([]);
  });

  it('serves concurrent requests, each with its own request id', async () => {
    const responses = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        fetch(`${gateway.url}/api/1.0/rest/conversation/1002/start/data`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ NAME: `Person ${i}` }),
        }),
      ),
    );
    const ids = await Promise.all(
      responses.map(async (r) => ((await r.json()) as { wsResult: { idResult: number } }).wsResult.idResult),
    );
    expect(new Set(ids).size).toBe(10);
    expect(new Set(responses.map((r) => r.headers.get('x-request-id'))).size).toBe(10);
  });

  it('logs one readable line per request: method, path (link codes masked), status, ms; no query values', async () => {
    // A record of its own to read back, whatever ran before.
    const created = await fetch(`${gateway.url}/api/1.0/rest/conversation/1001/start/data`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: '{"NAME":"Ada"}',
    });
    const id = ((await created.json()) as { wsResult: { idResult: number } }).wsResult.idResult;
    lines.length = 0;
    await fetch(`${gateway.url}/api/1.0/rest/conversation/1001/start/list`, { method: 'POST' });
    await fetch(`${gateway.url}/api/1.0/rest/conversation/data/lc-${id}?fields=NAME`);
    // Neither an id nor an alias name (`abc` would be an alias): 400.
    await fetch(`${gateway.url}/api/1.0/rest/conversation/ABC/start/list`, { method: 'POST' });
    await fetch(`${gateway.url}/nowhere/ada@example.com`);
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/^POST \/api\/1\.0\/rest\/conversation\/1001\/start\/list 200 \d+ms$/);
    expect(lines[1]).toMatch(/^GET \/api\/1\.0\/rest\/conversation\/data\/\{danaparam\} 200 \d+ms$/);
    expect(lines[2]).toMatch(
      /^POST \/api\/1\.0\/rest\/conversation\/\{conversationId\}\/start\/list 400 \d+ms$/,
    );
    expect(lines[3]).toMatch(/^GET \(no route\) 404 \d+ms$/);
  });
});

describe('LOCAL_API_KEY', () => {
  let sandbox: Sandbox;
  let gateway: Gateway;

  beforeAll(async () => {
    sandbox = await startSandbox();
    gateway = await freshGateway(sandbox, '1.0', { env: { LOCAL_API_KEY: 'local-key-123' } });
  });
  afterAll(async () => {
    rememberCredentialsSeenBy(sandbox);
    await gateway.close();
    await sandbox.close();
  });
  beforeEach(() => {
    rememberCredentialsSeenBy(sandbox);
    sandbox.reset();
  });

  it('refuses a request without the key or with a wrong one, before anything goes upstream', async () => {
    for (const headers of [{}, { 'x-api-key': 'wrong' }] as Record<string, string>[]) {
      const response = await fetch(`${gateway.url}/api/1.0/rest/conversation/1001/start/list`, {
        method: 'POST',
        headers,
      });
      expect(response.status).toBe(403);
      expect(((await response.json()) as { wsError: { idError: number } }).wsError.idError).toBe(9403);
    }
    expect(sandbox.received()).toEqual([]);
  });

  it('serves a request with the key', async () => {
    const response = await fetch(`${gateway.url}/api/1.0/rest/conversation/1001/start/list`, {
      method: 'POST',
      headers: { 'x-api-key': 'local-key-123' },
    });
    expect(response.status).toBe(200);
  });
});
