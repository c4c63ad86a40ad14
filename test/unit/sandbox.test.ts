/** The sandbox itself, over loopback HTTP with plain fetch / node:http: the vendor's rules, faults and controls. */
import { request } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  DEMO_CLIENT,
  DEMO_USER,
  MAX_BODY_BYTES,
  startSandbox,
  type Sandbox,
} from '../../local/sandbox/server';

let sandbox: Sandbox;
const BASIC =
  'Basic ' +
  Buffer.from(`${DEMO_USER.username}@${DEMO_USER.companyCode}:${DEMO_USER.password}`).toString('base64');
const CLIENT_BASIC =
  'Basic ' + Buffer.from(`${DEMO_CLIENT.clientId}:${DEMO_CLIENT.clientSecret}`).toString('base64');
const TOKEN_FORM = 'grant_type=client_credentials&scope=conversation%3Aaccess2api';

function post(path: string, body?: unknown, headers: Record<string, string> = {}) {
  return fetch(`${sandbox.url}${path}`, {
    method: 'POST',
    headers: {
      Authorization: BASIC,
      ...(body !== undefined && { 'Content-Type': 'application/json' }),
      ...headers,
    },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
}

const get = (path: string, headers: Record<string, string> = { Authorization: BASIC }) =>
  fetch(`${sandbox.url}${path}`, { headers });

async function token(): Promise<string> {
  const resp = await fetch(sandbox.tokenUrl, {
    method: 'POST',
    headers: { Authorization: CLIENT_BASIC, 'Content-Type': 'application/x-www-form-urlencoded' },
    body: TOKEN_FORM,
  });
  return ((await resp.json()) as { access_token: string }).access_token;
}

/** A request with a path fetch (and a URL string) would normalize, sent byte for byte with node:http. */
function rawRequest(path: string): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(sandbox.url);
  return new Promise((resolve, reject) => {
    const req = request(
      { hostname, port, path, method: 'POST', headers: { Authorization: BASIC } },
      (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

const L1 = '/api/1.0/rest/conversation';

beforeAll(async () => {
  sandbox = await startSandbox();
});
afterAll(async () => {
  await sandbox.close();
});
beforeEach(() => sandbox.reset());

describe('authentication', () => {
  it('API 1.0 takes Basic user@company:password and refuses anything else with an empty 401', async () => {
    expect((await post(`${L1}/1001/start/list`)).status).toBe(200);
    const wrong = [
      'Basic ' + Buffer.from('demo@OTHER:demo-password').toString('base64'),
      'Basic ' + Buffer.from('demo:demo-password').toString('base64'),
      'Basic ' + Buffer.from('demo@DEMO:%demo-password').toString('base64'), // the page's typo
      `Bearer ${await token()}`,
      '',
    ];
    for (const authorization of wrong) {
      const resp = await post(`${L1}/1001/start/list`, undefined, { Authorization: authorization });
      expect(resp.status).toBe(401);
      expect(await resp.text()).toBe('');
    }
    expect(sandbox.started()).toHaveLength(1);
  });

  it('API 2.0 takes a Bearer token from the token endpoint, and not Basic', async () => {
    const bearer = `Bearer ${await token()}`;
    expect(
      (await post('/api/2.0/rest/conversation/1001/start/list', undefined, { Authorization: bearer })).status,
    ).toBe(200);
    expect((await post('/api/2.0/rest/conversation/1001/start/list')).status).toBe(401);
    expect(
      (
        await post('/api/2.0/rest/conversation/1001/start/list', undefined, {
          Authorization: 'Bearer made-up',
        })
      ).status,
    ).toBe(401);
  });

  it.each([
    [
      'a wrong secret',
      { Authorization: 'Basic ' + Buffer.from('demo-client:nope').toString('base64') },
      TOKEN_FORM,
      401,
      'invalid_client',
    ],
    ['no client', {}, TOKEN_FORM, 401, 'invalid_client'],
    [
      'another grant',
      { Authorization: CLIENT_BASIC },
      'grant_type=password&scope=conversation%3Aaccess2api',
      400,
      'unsupported_grant_type',
    ],
    ['no scope', { Authorization: CLIENT_BASIC }, 'grant_type=client_credentials', 400, 'invalid_scope'],
  ])('the token endpoint refuses %s', async (_name, headers, body, status, error) => {
    const resp = await fetch(sandbox.tokenUrl, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers },
      body,
    });
    expect(resp.status).toBe(status);
    expect(await resp.json()).toEqual({ error });
  });

  it('the token endpoint answers 405 to GET', async () => {
    expect((await fetch(sandbox.tokenUrl)).status).toBe(405);
  });

  it('tokens expire after tokenTtlSeconds, and die on revoke and on secret rotation', async () => {
    const expiring = await startSandbox({ tokenTtlSeconds: 0 });
    try {
      const resp = await fetch(expiring.tokenUrl, {
        method: 'POST',
        headers: { Authorization: CLIENT_BASIC, 'Content-Type': 'application/x-www-form-urlencoded' },
        body: TOKEN_FORM,
      });
      const { access_token, expires_in } = (await resp.json()) as {
        access_token: string;
        expires_in: number;
      };
      expect(expires_in).toBe(0);
      const call = await fetch(`${expiring.url}/api/2.0/rest/conversation/1001/start/list`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${access_token}` },
      });
      expect(call.status).toBe(401);
    } finally {
      await expiring.close();
    }
    const path = '/api/2.0/rest/conversation/1001/start/list';
    const revoked = `Bearer ${await token()}`;
    sandbox.revokeTokens();
    expect((await post(path, undefined, { Authorization: revoked })).status).toBe(401);
    const rotated = `Bearer ${await token()}`;
    sandbox.setClientSecret(DEMO_CLIENT.clientId, 'new-secret');
    try {
      expect((await post(path, undefined, { Authorization: rotated })).status).toBe(401);
    } finally {
      sandbox.setClientSecret(DEMO_CLIENT.clientId, DEMO_CLIENT.clientSecret);
    }
  });
});

describe('operations and validation', () => {
  it.each([
    ['an unknown conversation', `${L1}/999/start/list`, undefined, 400],
    ['a non-numeric conversation', `${L1}/abc/start/list`, undefined, 400],
    ['conversation 0', `${L1}/0/start/data`, { A: 'x' }, 400],
    ['an unknown project', `${L1}/ProjectID/78/start/data`, { A: 'x' }, 400],
    ['a body that is not JSON', `${L1}/1001/start/data`, '{"A":', 400],
    ['an array for start/data', `${L1}/1001/start/data`, [{ A: 'x' }], 400],
    ['an empty record', `${L1}/1001/start/data`, {}, 400],
    ['a non-string value', `${L1}/1001/start/data`, { A: 1 }, 400],
    ['no body for start/data', `${L1}/1001/start/data`, undefined, 400],
    ['an empty batch', `${L1}/1001/start/list/data`, [], 400],
    ['a batch of 11', `${L1}/1001/start/list/data`, Array.from({ length: 11 }, () => ({ A: 'x' })), 400],
    ['an object for a batch', `${L1}/1001/start/list/data`, { A: 'x' }, 400],
    ['an unknown record', `${L1}/1001/start/record/1`, undefined, 400],
    ['an unknown path', `${L1}/1001/start/everyone`, undefined, 404],
    ['a path outside the API', '/api/3.0/rest/conversation/1001/start/list', undefined, 404],
  ])('refuses %s with a wsError, starting nobody', async (_name, path, body, status) => {
    const resp = await post(path, body);
    expect(resp.status).toBe(status);
    expect(await resp.json()).toEqual({
      wsError: { idError: expect.any(Number), errorDescription: expect.any(String) },
    });
    expect(sandbox.started()).toEqual([]);
  });

  it('refuses a JSON body sent as another content type', async () => {
    const resp = await post(`${L1}/1001/start/data`, '{"A":"x"}', { 'Content-Type': 'text/plain' });
    expect(resp.status).toBe(400);
  });

  it('answers 405 to the wrong method, with Allow', async () => {
    const resp = await get(`${L1}/1001/start/list`);
    expect(resp.status).toBe(405);
    expect(resp.headers.get('allow')).toBe('POST');
    const data = await post(`${L1}/data/lc-1`);
    expect(data.status).toBe(405);
    expect(data.headers.get('allow')).toBe('GET');
  });

  it('a batch answers a wsError in the slot of a bad record and starts the others', async () => {
    const resp = await post(`${L1}/1002/start/list/data`, [{ A: '1' }, { A: 2 }, 'x', { B: '3' }]);
    const body = (await resp.json()) as Record<string, { idResult?: number }>[];
    expect(body.map((slot) => Object.keys(slot)[0])).toEqual(['wsResult', 'wsError', 'wsError', 'wsResult']);
    expect(sandbox.started().map((s) => s.fields)).toEqual([{ A: '1' }, { B: '3' }]);
  });

  it('numbers records, gives each a link code, and answers only the requested fields', async () => {
    const created = (await (await post(`${L1}/1001/start/data`, { NAME: 'N', EMAIL: 'e' })).json()) as {
      wsResult: { idResult: number };
    };
    const id = created.wsResult.idResult;
    expect(sandbox.records().get(id)).toEqual({ NAME: 'N', EMAIL: 'e' });
    const some = await (await get(`${L1}/data/lc-${id}?fields=EMAIL,MISSING`)).json();
    expect(some).toEqual({ record: { EMAIL: 'e', MISSING: '' }, requestID: expect.any(String) });
    const alias = await (await get(`${L1}/data/lc-${id}?fieldList=NAME`)).json();
    expect(alias).toMatchObject({ record: { NAME: 'N' } });
    expect((await get(`${L1}/data/lc-unknown`)).status).toBe(400);
  });

  it('start/record updates the record; its body is optional', async () => {
    const created = (await (await post(`${L1}/1001/start/data`, { NAME: 'N' })).json()) as {
      wsResult: { idResult: number };
    };
    const id = created.wsResult.idResult;
    expect(await (await post(`${L1}/1003/start/record/${id}`, { CITY: 'C' })).json()).toEqual({
      wsResult: { idResult: 0, resultDescription: 'OK' },
    });
    expect((await post(`${L1}/1003/start/record/${id}`)).status).toBe(200);
    expect(sandbox.records().get(id)).toEqual({ NAME: 'N', CITY: 'C' });
    expect(sandbox.startCounts().get(`record:${id}`)).toBe(2);
    expect(sandbox.duplicates()).toEqual([`record:${id}`]);
  });

  it('keys contacts by their sorted fields, and a list start by its conversation', async () => {
    await post(`${L1}/1001/start/data`, { B: '2', A: '1' });
    await post(`${L1}/ProjectID/77/start/data`, { A: '1', B: '2' });
    await post(`${L1}/1002/start/list`);
    await post(`${L1}/1003/start/list`);
    expect(Object.fromEntries(sandbox.startCounts())).toEqual({
      '{"A":"1","B":"2"}': 2,
      'list:1002': 1,
      'list:1003': 1,
    });
    expect(sandbox.duplicates()).toEqual(['{"A":"1","B":"2"}']);
  });

  it('records the raw path, query and headers it received, dot segments and escapes included', async () => {
    const resp = await rawRequest('/api/1.0/rest/conversation/1001/../1002/start/list');
    expect(resp.status).toBe(404);
    expect((await rawRequest('/api/1.0/rest/conversation/1%2F2/start/list')).status).toBe(400);
    await get(`${L1}/data/a%2Fb?fields=A`, { Authorization: BASIC, 'X-DEBUG': '1' });
    expect(sandbox.received().map((r) => [r.path, r.query, r.debug])).toEqual([
      ['/api/1.0/rest/conversation/1001/../1002/start/list', {}, undefined],
      ['/api/1.0/rest/conversation/1%2F2/start/list', {}, undefined],
      ['/api/1.0/rest/conversation/data/a%2Fb', { fields: 'A' }, '1'],
    ]);
    expect(sandbox.started()).toEqual([]);
  });

  it(`refuses bodies over ${MAX_BODY_BYTES} bytes with 413`, async () => {
    const resp = await post(`${L1}/1001/start/data`, JSON.stringify({ A: 'x'.repeat(MAX_BODY_BYTES) }));
    expect(resp.status).toBe(413);
    expect(sandbox.started()).toEqual([]);
  });

  it('keeps connections alive', async () => {
    const resp = await post(`${L1}/1001/start/list`);
    expect(resp.headers.get('connection')).toBe('keep-alive');
  });
});

describe('faults', () => {
  it('failNext answers the given status, Retry-After and body, without acting', async () => {
    sandbox.setFaults({ failNext: { count: 2, status: 429, retryAfterSeconds: 3 } });
    const first = await post(`${L1}/1001/start/list`);
    expect(first.status).toBe(429);
    expect(first.headers.get('retry-after')).toBe('3');
    expect(await first.json()).toMatchObject({ wsError: { idError: expect.any(Number) } });
    expect((await post(`${L1}/1001/start/list`)).status).toBe(429);
    expect((await post(`${L1}/1001/start/list`)).status).toBe(200);
    expect(sandbox.started()).toHaveLength(1);
  });

  it('failNext with body "" answers an empty body; afterProcessing acts first', async () => {
    sandbox.setFaults({ failNext: { count: 1, status: 502, body: '', afterProcessing: true } });
    const resp = await post(`${L1}/1001/start/list`);
    expect(resp.status).toBe(502);
    expect(await resp.text()).toBe('');
    expect(sandbox.started()).toHaveLength(1);
  });

  it('unauthorizedNext answers empty 401s even to good credentials', async () => {
    sandbox.setFaults({ unauthorizedNext: 1 });
    const resp = await post(`${L1}/1001/start/list`);
    expect(resp.status).toBe(401);
    expect(await resp.text()).toBe('');
    expect((await post(`${L1}/1001/start/list`)).status).toBe(200);
  });

  it('errorRate 1 answers errorStatus to every call without acting', async () => {
    sandbox.setFaults({ errorRate: 1, errorStatus: 503 });
    for (let i = 0; i < 3; i++) expect((await post(`${L1}/1001/start/list`)).status).toBe(503);
    expect(sandbox.started()).toEqual([]);
  });

  it('nonJsonNext answers 200 HTML after acting', async () => {
    sandbox.setFaults({ nonJsonNext: 1 });
    const resp = await post(`${L1}/1001/start/list`);
    expect(resp.status).toBe(200);
    expect(resp.headers.get('content-type')).toBe('text/html');
    const text = await resp.text();
    expect(text).toMatch(/^<html>/);
    expect(() => JSON.parse(text)).toThrow();
    expect(sandbox.started()).toHaveLength(1);
  });

  it.each([false, true])(
    'dropNext (afterProcessing %s) closes the connection without an answer',
    async (after) => {
      sandbox.setFaults({ dropNext: { count: 1, afterProcessing: after } });
      await expect(post(`${L1}/1001/start/list`)).rejects.toThrow();
      expect(sandbox.started()).toHaveLength(after ? 1 : 0);
    },
  );

  it.each([false, true])('hangNext (afterProcessing %s) never answers', async (after) => {
    sandbox.setFaults({ hangNext: { count: 1, afterProcessing: after } });
    const hung = fetch(`${sandbox.url}${L1}/1001/start/list`, {
      method: 'POST',
      headers: { Authorization: BASIC },
      signal: AbortSignal.timeout(200),
    });
    await expect(hung).rejects.toThrow(/timeout|aborted/i);
    expect(sandbox.started()).toHaveLength(after ? 1 : 0);
  });

  it('close() ends hung requests', async () => {
    const own = await startSandbox();
    own.setFaults({ hangNext: { count: 1 } });
    const hung = fetch(`${own.url}${L1}/1001/start/list`, {
      method: 'POST',
      headers: { Authorization: BASIC },
    });
    while (own.received().length === 0) await new Promise((r) => setTimeout(r, 5));
    await own.close();
    await expect(hung).rejects.toThrow();
  });

  it('latencyMs still answers', async () => {
    sandbox.setFaults({ latencyMs: 20 });
    expect((await post(`${L1}/1001/start/list`)).status).toBe(200);
  });

  it('faults apply to API calls, not to the token endpoint', async () => {
    sandbox.setFaults({ failNext: { count: 1, status: 500 } });
    expect(await token()).toEqual(expect.any(String));
    expect((await post(`${L1}/1001/start/list`)).status).toBe(500);
  });

  it('rateLimitPerSecond answers 429 + Retry-After: 1 beyond the limit', async () => {
    const limited = await startSandbox({ rateLimitPerSecond: 3 });
    try {
      const answers = await Promise.all(
        Array.from({ length: 6 }, () =>
          fetch(`${limited.url}${L1}/1001/start/list`, { method: 'POST', headers: { Authorization: BASIC } }),
        ),
      );
      const throttled = answers.filter((r) => r.status === 429);
      expect(answers.filter((r) => r.status === 200)).toHaveLength(3);
      expect(throttled).toHaveLength(3);
      expect(throttled.every((r) => r.headers.get('retry-after') === '1')).toBe(true);
      expect(limited.started()).toHaveLength(3);
    } finally {
      await limited.close();
    }
  });
});

describe('control endpoints over HTTP', () => {
  const control = (name: string, body?: unknown) =>
    fetch(`${sandbox.url}/__sandbox/${name}`, {
      method: body === undefined ? 'GET' : 'POST',
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  it('faults, received, started, duplicates and reset', async () => {
    expect((await control('faults', { failNext: { count: 1, status: 503 } })).status).toBe(204);
    expect((await post(`${L1}/1001/start/list`)).status).toBe(503);
    await post(`${L1}/1001/start/list`);
    await post(`${L1}/1001/start/list`);
    const received = (await (await control('received')).json()) as { path: string }[];
    expect(received.map((r) => r.path)).toEqual(Array(3).fill(`${L1}/1001/start/list`));
    expect(await (await control('started')).json()).toHaveLength(2);
    expect(await (await control('duplicates')).json()).toEqual(['list:1001']);
    expect((await control('reset', {})).status).toBe(204);
    expect(await (await control('received')).json()).toEqual([]);
    // Control calls are not API calls: they are not recorded.
    expect(sandbox.received()).toEqual([]);
  });

  it('link-codes and rotate', async () => {
    const created = (await (await post(`${L1}/1001/start/data`, { NAME: 'N' })).json()) as {
      wsResult: { idResult: number };
    };
    expect(
      (await control('link-codes', { code: 'my-code', recordId: created.wsResult.idResult })).status,
    ).toBe(204);
    expect(await (await get(`${L1}/data/my-code?fields=NAME`)).json()).toMatchObject({
      record: { NAME: 'N' },
    });
    expect((await control('link-codes', { code: 'x', recordId: 1 })).status).toBe(400);

    expect((await control('rotate', { username: DEMO_USER.username, password: 'p2' })).status).toBe(204);
    try {
      expect((await post(`${L1}/1001/start/list`)).status).toBe(401);
    } finally {
      sandbox.setUserPassword(DEMO_USER.username, DEMO_USER.password);
    }
    expect(
      (await control('rotate', { clientId: DEMO_CLIENT.clientId, clientSecret: DEMO_CLIENT.clientSecret }))
        .status,
    ).toBe(204);
    expect((await control('rotate', { nothing: 1 })).status).toBe(400);
    expect((await control('nope')).status).toBe(404);
  });

  it('reset keeps records and link codes', async () => {
    const created = (await (await post(`${L1}/1001/start/data`, { NAME: 'Kept' })).json()) as {
      wsResult: { idResult: number };
    };
    sandbox.reset();
    expect((await get(`${L1}/data/lc-${created.wsResult.idResult}`)).status).toBe(200);
  });
});
