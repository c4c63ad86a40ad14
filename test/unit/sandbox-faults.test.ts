/**
 * The sandbox's faults that a vendor behind a load balancer gives: errors after acting (bodiless 502/504),
 * batches failing midway, idle keep-alive connections reset, and a seeded random mix with its statistics.
 */
import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DEMO_CLIENT, DEMO_USER, startSandbox, type Faults, type Sandbox } from '../../local/sandbox/server';

let sandbox: Sandbox;
const BASIC =
  'Basic ' +
  Buffer.from(`${DEMO_USER.username}@${DEMO_USER.companyCode}:${DEMO_USER.password}`).toString('base64');
const L1 = '/api/1.0/rest/conversation';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function post(path: string, body?: unknown, base = sandbox.url) {
  return fetch(`${base}${path}`, {
    method: 'POST',
    headers: { Authorization: BASIC, ...(body !== undefined && { 'Content-Type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

const control = (name: string, body?: unknown) =>
  fetch(`${sandbox.url}/__sandbox/${name}`, {
    method: body === undefined ? 'GET' : 'POST',
    body: body === undefined ? undefined : JSON.stringify(body),
  });

const batchOf = (n: number, tag = 'R') => Array.from({ length: n }, (_, i) => ({ NAME: `${tag}${i}` }));

beforeAll(async () => {
  sandbox = await startSandbox();
});
afterAll(async () => {
  await sandbox.close();
});
beforeEach(() => sandbox.reset());

describe('errors after acting', () => {
  it.each([
    ['500 with a wsError', 500, undefined],
    ['500 bodiless', 500, ''],
    ['502 bodiless', 502, ''],
    ['504 bodiless', 504, ''],
  ])(
    'failNext %s after acting: the record is created and started, then the error answered',
    async (_name, status, body) => {
      sandbox.setFaults({
        failNext: { count: 1, status, afterProcessing: true, ...(body !== undefined && { body }) },
      });
      const resp = await post(`${L1}/1001/start/data`, { NAME: 'Ann' });
      expect(resp.status).toBe(status);
      const text = await resp.text();
      if (body === '') {
        expect(text).toBe('');
        expect(resp.headers.get('content-type')).toBeNull();
      } else {
        expect(JSON.parse(text)).toEqual({
          wsError: { idError: 1500, errorDescription: expect.any(String) },
        });
      }
      const [contact] = sandbox.started();
      expect(contact).toMatchObject({ via: 'data', conversationId: 1001, fields: { NAME: 'Ann' } });
      expect(sandbox.records().get(contact!.recordId)).toEqual({ NAME: 'Ann' });
      expect(sandbox.faultStats()).toEqual({
        injected: { failNext: 1 },
        ambiguousCalls: 1,
        ambiguousRows: 1,
        startedByAmbiguous: 1,
      });
      // The next call is answered normally.
      expect((await post(`${L1}/1001/start/data`, { NAME: 'Bob' })).status).toBe(200);
    },
  );

  it('a bodiless 504 after acting on a batch started all of its records', async () => {
    sandbox.setFaults({ failNext: { count: 1, status: 504, body: '', afterProcessing: true } });
    const resp = await post(`${L1}/1002/start/list/data`, batchOf(4));
    expect(resp.status).toBe(504);
    expect(await resp.text()).toBe('');
    expect(sandbox.started().map((s) => s.fields.NAME)).toEqual(['R0', 'R1', 'R2', 'R3']);
    expect(sandbox.faultStats()).toMatchObject({
      ambiguousCalls: 1,
      ambiguousRows: 4,
      startedByAmbiguous: 4,
    });
  });

  it('errors before acting are not ambiguous', async () => {
    sandbox.setFaults({ failNext: { count: 1, status: 502, body: '' } });
    expect((await post(`${L1}/1001/start/data`, { NAME: 'Ann' })).status).toBe(502);
    expect(sandbox.started()).toEqual([]);
    expect(sandbox.faultStats()).toEqual({
      injected: { failNext: 1 },
      ambiguousCalls: 0,
      ambiguousRows: 0,
      startedByAmbiguous: 0,
    });
  });
});

describe('partialBatchNext', () => {
  it('starts only the first startFirst records of a batch, then answers 500 with a wsError', async () => {
    sandbox.setFaults({ partialBatchNext: { count: 1, startFirst: 2 } });
    const resp = await post(`${L1}/1002/start/list/data`, batchOf(5, 'partial-'));
    expect(resp.status).toBe(500);
    expect(await resp.json()).toEqual({ wsError: { idError: 1500, errorDescription: expect.any(String) } });
    const started = sandbox.started();
    expect(started.map((s) => [s.via, s.fields.NAME])).toEqual([
      ['batch', 'partial-0'],
      ['batch', 'partial-1'],
    ]);
    expect([...sandbox.records().values()].filter((r) => r.NAME?.startsWith('partial-'))).toEqual([
      { NAME: 'partial-0' },
      { NAME: 'partial-1' },
    ]);
    expect(sandbox.faultStats()).toEqual({
      injected: { partialBatchNext: 1 },
      ambiguousCalls: 1,
      ambiguousRows: 5,
      startedByAmbiguous: 2,
    });
  });

  it('takes the given status and body ("" = empty), and startFirst 0 starts nobody', async () => {
    sandbox.setFaults({ partialBatchNext: { count: 2, startFirst: 0, status: 502, body: '' } });
    for (let i = 0; i < 2; i++) {
      const resp = await post(`${L1}/1001/start/list/data`, batchOf(3));
      expect(resp.status).toBe(502);
      expect(await resp.text()).toBe('');
    }
    expect(sandbox.started()).toEqual([]);
    expect(sandbox.faultStats()).toMatchObject({
      ambiguousCalls: 2,
      ambiguousRows: 6,
      startedByAmbiguous: 0,
    });
  });

  it('leaves other operations alone: they neither take it nor consume its count', async () => {
    sandbox.setFaults({ partialBatchNext: { count: 1, startFirst: 1 } });
    expect((await post(`${L1}/1001/start/data`, { NAME: 'One' })).status).toBe(200);
    expect((await post(`${L1}/1001/start/list`)).status).toBe(200);
    expect((await post(`${L1}/ProjectID/77/start/data`, { NAME: 'Two' })).status).toBe(200);
    expect((await post(`${L1}/1001/start/list/data`, batchOf(3, 'A'))).status).toBe(500);
    const full = await post(`${L1}/1001/start/list/data`, batchOf(3, 'B'));
    expect(full.status).toBe(200);
    expect(sandbox.started().map((s) => s.fields.NAME ?? 'list')).toEqual([
      'One',
      'list',
      'Two',
      'A0',
      'B0',
      'B1',
      'B2',
    ]);
    expect(sandbox.faultStats().injected).toEqual({ partialBatchNext: 1 });
  });

  it('is set through POST /__sandbox/faults and read back through GET /__sandbox/fault-stats', async () => {
    expect((await control('faults', { partialBatchNext: { count: 1, startFirst: 3 } })).status).toBe(204);
    expect((await post(`${L1}/1003/start/list/data`, batchOf(10))).status).toBe(500);
    expect(await (await control('fault-stats')).json()).toEqual({
      injected: { partialBatchNext: 1 },
      ambiguousCalls: 1,
      ambiguousRows: 10,
      startedByAmbiguous: 3,
    });
    expect((await control('faults', { partialBatchNext: { count: 1, startFirst: -1 } })).status).toBe(400);
  });
});

describe('idleResetMs', () => {
  /** A POST through `agent` with node:http; rejects with the socket error (e.g. ECONNRESET). */
  function agentPost(agent: Agent, path: string, base = sandbox.url) {
    const { hostname, port } = new URL(base);
    return new Promise<{ status: number; reused: boolean }>((resolve, reject) => {
      const req = request(
        {
          hostname,
          port,
          path,
          method: 'POST',
          agent,
          headers: { Authorization: BASIC, 'Content-Length': 0 },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket }));
        },
      );
      req.on('error', (error: NodeJS.ErrnoException) =>
        reject(Object.assign(error, { reused: req.reusedSocket })),
      );
      req.end();
    });
  }

  it('resets a keep-alive connection reused after more than N ms idle, unprocessed; a new connection works', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      sandbox.setFaults({ idleResetMs: 60_000 });
      expect(await agentPost(agent, `${L1}/1001/start/list`)).toEqual({ status: 200, reused: false });
      expect(await agentPost(agent, `${L1}/1002/start/list`)).toEqual({ status: 200, reused: true });
      sandbox.setFaults({ idleResetMs: 20 });
      await sleep(100);
      await expect(agentPost(agent, `${L1}/1003/start/list`)).rejects.toMatchObject({
        code: 'ECONNRESET',
        reused: true,
      });
      expect(sandbox.idleResets()).toBe(1);
      expect(sandbox.faultStats().injected).toEqual({ idleReset: 1 });
      // The reset request never reached the vendor.
      expect(sandbox.received().map((r) => r.path)).toEqual([
        `${L1}/1001/start/list`,
        `${L1}/1002/start/list`,
      ]);
      expect(sandbox.started().map((s) => s.conversationId)).toEqual([1001, 1002]);
      // The agent dropped the dead socket: the retry goes out on a new connection and is processed.
      expect(await agentPost(agent, `${L1}/1003/start/list`)).toEqual({ status: 200, reused: false });
      expect(sandbox.idleResets()).toBe(1);
    } finally {
      agent.destroy();
    }
  });

  it("always processes a fresh connection's first request, however long the connection waited", async () => {
    sandbox.setFaults({ idleResetMs: 20 });
    const { port } = new URL(sandbox.url);
    const socket = connect(Number(port), '127.0.0.1');
    try {
      await new Promise((resolve) => socket.once('connect', resolve));
      await sleep(100);
      const answer = new Promise<string>((resolve) => {
        let text = '';
        socket.on('data', (chunk: Buffer) => {
          text += chunk.toString('utf8');
          if (text.includes('\r\n\r\n')) resolve(text);
        });
      });
      socket.write(
        `POST ${L1}/1001/start/list HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${BASIC}\r\nContent-Length: 0\r\n\r\n`,
      );
      expect(await answer).toMatch(/^HTTP\/1\.1 200 /);
    } finally {
      socket.destroy();
    }
    expect(sandbox.idleResets()).toBe(0);
    expect(sandbox.started()).toHaveLength(1);
  });

  it('as a startSandbox option it survives reset(); control endpoints are never reset', async () => {
    const own = await startSandbox({ idleResetMs: 20 });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      own.reset();
      expect((await agentPost(agent, `${L1}/1001/start/list`, own.url)).status).toBe(200);
      await sleep(100);
      expect((await agentPost(agent, '/__sandbox/reset', own.url)).status).toBe(204);
      await sleep(100);
      await expect(agentPost(agent, `${L1}/1001/start/list`, own.url)).rejects.toMatchObject({
        code: 'ECONNRESET',
      });
      expect(own.idleResets()).toBe(1);
      expect(await agentPost(agent, `${L1}/1001/start/list`, own.url)).toMatchObject({ status: 200 });
    } finally {
      agent.destroy();
      await own.close();
    }
  });

  it('is refused when not a number >= 0', async () => {
    expect(() => sandbox.setFaults({ idleResetMs: -1 })).toThrow(/idleResetMs/);
    expect((await control('faults', { idleResetMs: 'soon' })).status).toBe(400);
  });
});

describe('mix', () => {
  type Outcome = number | 'dropped';
  async function outcome(path: string, body: unknown): Promise<Outcome> {
    try {
      const resp = await post(path, body);
      await resp.arrayBuffer();
      return resp.status;
    } catch {
      return 'dropped';
    }
  }

  const everything: Faults['mix'] = {
    seed: 42,
    p: {
      status429: 0.1,
      status503: 0.1,
      status500AfterActing: 0.1,
      status502AfterActing: 0.1,
      status504AfterActing: 0.1,
      partialBatch: 0.1,
      dropAfterActing: 0.1,
      dropBeforeActing: 0.1,
    },
  };

  it('the same seed gives the same faults to the same calls', async () => {
    const run = async () => {
      sandbox.setFaults({ mix: everything });
      const outcomes: Outcome[] = [];
      for (let i = 0; i < 40; i++) outcomes.push(await outcome(`${L1}/1001/start/list/data`, batchOf(3)));
      return outcomes;
    };
    const first = await run();
    const second = await run();
    expect(second).toEqual(first);
    expect(new Set(first).size).toBeGreaterThan(3);
  });

  it('counts every kind it injects, and what the ambiguous calls carried and started', async () => {
    sandbox.setFaults({ mix: { ...everything, seed: 7 } });
    const calls = 120;
    let knownStarted = 0;
    const seen: Record<string, number> = {};
    for (let i = 0; i < calls; i++) {
      const result = await outcome(`${L1}/1001/start/list/data`, batchOf(3, `c${i}-`));
      seen[String(result)] = (seen[String(result)] ?? 0) + 1;
      if (result === 200) knownStarted += 3;
    }
    const { injected, ambiguousCalls, ambiguousRows, startedByAmbiguous } = sandbox.faultStats();
    const n = (kind: string) => injected[kind] ?? 0;
    expect(Object.keys(injected).every((k) => k in everything!.p)).toBe(true);
    expect(n('status429')).toBe(seen['429'] ?? 0);
    expect(n('status503')).toBe(seen['503'] ?? 0);
    expect(n('status500AfterActing') + n('partialBatch')).toBe(seen['500'] ?? 0);
    expect(n('status502AfterActing')).toBe(seen['502'] ?? 0);
    expect(n('status504AfterActing')).toBe(seen['504'] ?? 0);
    expect(n('dropAfterActing') + n('dropBeforeActing')).toBe(seen.dropped ?? 0);
    expect(Object.values(injected).reduce((a, b) => a + b, 0)).toBe(calls - (seen['200'] ?? 0));
    const acted = ['status500AfterActing', 'status502AfterActing', 'status504AfterActing', 'partialBatch'];
    expect(ambiguousCalls).toBe(acted.reduce((sum, kind) => sum + n(kind), n('dropAfterActing')));
    expect(ambiguousCalls).toBeGreaterThan(0);
    expect(ambiguousRows).toBe(3 * ambiguousCalls);
    // What the client knows started, plus what the ambiguous calls started, is everything that started.
    expect(sandbox.started()).toHaveLength(knownStarted + startedByAmbiguous);
    // A partial batch starts fewer than all of its records.
    expect(startedByAmbiguous).toBeLessThan(ambiguousRows);
    sandbox.reset();
    expect(sandbox.faultStats()).toEqual({
      injected: {},
      ambiguousCalls: 0,
      ambiguousRows: 0,
      startedByAmbiguous: 0,
    });
  });

  it('429 and 503 are answered without acting, 429 with Retry-After', async () => {
    sandbox.setFaults({ mix: { seed: 1, p: { status429: 1 } } });
    const throttled = await post(`${L1}/1001/start/data`, { NAME: 'A' });
    expect(throttled.status).toBe(429);
    expect(throttled.headers.get('retry-after')).toBe('1');
    expect(await throttled.json()).toMatchObject({ wsError: { idError: 1429 } });
    sandbox.setFaults({ mix: { seed: 1, p: { status503: 1 } } });
    expect((await post(`${L1}/1001/start/data`, { NAME: 'A' })).status).toBe(503);
    expect(sandbox.started()).toEqual([]);
    expect(sandbox.faultStats()).toMatchObject({
      injected: { status429: 1, status503: 1 },
      ambiguousCalls: 0,
    });
  });

  it.each([
    ['status502AfterActing', 502],
    ['status504AfterActing', 504],
  ] as const)('%s answers a bodiless %s after starting the contact', async (kind, status) => {
    sandbox.setFaults({ mix: { seed: 3, p: { [kind]: 1 } } });
    const resp = await post(`${L1}/1001/start/data`, { NAME: 'A' });
    expect(resp.status).toBe(status);
    expect(await resp.text()).toBe('');
    expect(sandbox.started()).toHaveLength(1);
    expect(sandbox.faultStats()).toEqual({
      injected: { [kind]: 1 },
      ambiguousCalls: 1,
      ambiguousRows: 1,
      startedByAmbiguous: 1,
    });
  });

  it('partialBatch starts fewer than all records of a batch, then a bodiless 500; other calls answer normally', async () => {
    sandbox.setFaults({ mix: { seed: 11, p: { partialBatch: 1 } } });
    for (let i = 0; i < 5; i++) {
      const before = sandbox.started().length;
      const resp = await post(`${L1}/1001/start/list/data`, batchOf(10, `b${i}-`));
      expect(resp.status).toBe(500);
      expect(await resp.text()).toBe('');
      const started = sandbox.started().slice(before);
      expect(started.length).toBeLessThan(10);
      // Always the FIRST records.
      expect(started.map((s) => s.fields.NAME)).toEqual(batchOf(started.length, `b${i}-`).map((r) => r.NAME));
    }
    expect((await post(`${L1}/1001/start/data`, { NAME: 'single' })).status).toBe(200);
    expect(sandbox.faultStats()).toMatchObject({
      injected: { partialBatch: 5 },
      ambiguousCalls: 5,
      ambiguousRows: 50,
      startedByAmbiguous: sandbox.started().length - 1,
    });
  });

  it.each([
    ['dropAfterActing', 1],
    ['dropBeforeActing', 0],
  ] as const)('%s closes the connection without an answer (%s started)', async (kind, started) => {
    sandbox.setFaults({ mix: { seed: 5, p: { [kind]: 1 } } });
    await expect(post(`${L1}/1001/start/data`, { NAME: 'A' })).rejects.toThrow();
    expect(sandbox.started()).toHaveLength(started);
    expect(sandbox.faultStats()).toMatchObject({ injected: { [kind]: 1 }, ambiguousCalls: started });
  });

  it('deterministic faults come first; the token endpoint draws nothing', async () => {
    sandbox.setFaults({ failNext: { count: 1, status: 418 }, mix: { seed: 1, p: { status503: 1 } } });
    expect((await post(`${L1}/1001/start/list`)).status).toBe(418);
    const token = await fetch(sandbox.tokenUrl, {
      method: 'POST',
      headers: {
        Authorization:
          'Basic ' + Buffer.from(`${DEMO_CLIENT.clientId}:${DEMO_CLIENT.clientSecret}`).toString('base64'),
        'Content-Type': 'application/x-www-form-urlencoded',
      },
      body: 'grant_type=client_credentials&scope=conversation%3Aaccess2api',
    });
    expect(token.status).toBe(200);
    expect((await post(`${L1}/1001/start/list`)).status).toBe(503);
    expect(sandbox.faultStats().injected).toEqual({ failNext: 1, status503: 1 });
  });

  it.each([
    ['no seed', { p: {} }],
    ['an unknown outcome', { seed: 1, p: { status418: 0.5 } }],
    ['a share above 1', { seed: 1, p: { status429: 1.5 } }],
    ['shares adding up to more than 1', { seed: 1, p: { status429: 0.6, status503: 0.6 } }],
  ])('refuses a mix with %s', async (_name, mix) => {
    expect(() => sandbox.setFaults({ mix } as unknown as Faults)).toThrow(/mix/);
    const resp = await control('faults', { mix });
    expect(resp.status).toBe(400);
    expect(await resp.json()).toEqual({ error: expect.stringMatching(/mix/) });
  });
});
