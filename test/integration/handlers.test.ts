/**
 * The six handlers invoked as Lambda invokes them, with real-shaped API Gateway events (test/fixtures), talking
 * over real HTTP to the sandbox: answers, what DANAConnect received, error pass-through, logs and metrics, and the
 * scheduled start of start-list.
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { startSandbox, type Sandbox } from '../../local/sandbox/server';
import { rememberCredentialsSeenBy } from '../audit/sensitive';
import {
  apiGatewayEvent,
  lambdaContext,
  scheduledStartEvent,
  withBody,
  withHeader,
} from '../fixtures/events';
import { DEMO_BASIC, existingRecords, sandboxEnv } from '../fixtures/http';

let sandbox: Sandbox;

// Each test has a DANAConnect and an execution environment of its own: a new sandbox (so record ids start at 3663
// again), the functions' environment pointing at it (for this test only), and the handlers' modules loaded afresh
// on first use, so that their clients are built from that environment on their first invocation. Nothing carries
// over from an earlier test.
beforeEach(async () => {
  sandbox = await startSandbox();
  for (const [name, value] of Object.entries({ ...sandboxEnv(sandbox, '1.0'), DANA_TIMEOUT_MS: '1000' })) {
    vi.stubEnv(name, value);
  }
  vi.resetModules();
});
afterEach(async () => {
  rememberCredentialsSeenBy(sandbox);
  await sandbox.close();
  vi.unstubAllEnvs();
});

/** The six functions, each loaded (once per test) as Lambda loads it. */
const getContactData = () => import('../../lambdas/get-contact-data/handler');
const startBatch = () => import('../../lambdas/start-batch/handler');
const startDataByProject = () => import('../../lambdas/start-data-by-project/handler');
const startData = () => import('../../lambdas/start-data/handler');
const startList = () => import('../../lambdas/start-list/handler');
const startRecord = () => import('../../lambdas/start-record/handler');

type Context = ReturnType<typeof lambdaContext>;
type Answer = APIGatewayProxyResult & { headers: Record<string, string> };
const invoke = async (
  load: () => Promise<{ handler: (event: APIGatewayProxyEvent, context: Context) => Promise<unknown> }>,
  event: APIGatewayProxyEvent,
) => (await (await load()).handler(event, lambdaContext())) as Answer;
/** start-list as EventBridge invokes it. */
const scheduledStart = async (event: { scheduledStart: { name: string; conversationId: number } }) =>
  (await startList()).handler(event, lambdaContext());
const apiCalls = () => sandbox.received().filter((r) => r.path.startsWith('/api/'));

/** The vendor's record (fixtures/api-gateway) as start-data creates it and start-record then updates it. */
const DANA_RECORD = { NAME: 'Dana', EMAIL: 'support@danaconnect.com' };
const DANA_RECORD_UPDATED = {
  ...DANA_RECORD,
  PHONE_NUMBER: '+19546441233',
  RECEIPT_FILE: 's3://Receipt/receipt-example.pdf',
};

/** Everything written to stdout and stderr while `fn` runs (log lines, EMF blobs), in order; spied on, not replaced. */
async function withOutput<T>(fn: () => Promise<T>): Promise<{ result: T; lines: string[] }> {
  const spies = [vi.spyOn(process.stdout, 'write'), vi.spyOn(process.stderr, 'write')];
  try {
    const result = await fn();
    const writes = spies.flatMap((spy) =>
      spy.mock.calls.map(([chunk], i) => ({ order: spy.mock.invocationCallOrder[i]!, text: String(chunk) })),
    );
    writes.sort((a, b) => a.order - b.order);
    return { result, lines: writes.flatMap(({ text }) => text.split('\n').filter(Boolean)) };
  } finally {
    for (const spy of spies) spy.mockRestore();
  }
}

describe('the six handlers, end to end to the sandbox (API 1.0)', () => {
  it('start-data: the vendor body creates record 3663, sent upstream with the gateway’s credentials', async () => {
    const event = apiGatewayEvent('start-data');
    const answer = await invoke(startData, event);
    expect(answer.statusCode).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ wsResult: { idResult: 3663, resultDescription: 'OK' } });
    expect(answer.headers).toMatchObject({
      'Content-Type': 'application/json',
      'X-Request-Id': event.requestContext.requestId,
    });
    const [call, ...more] = apiCalls();
    expect(more).toEqual([]);
    expect(call).toMatchObject({
      method: 'POST',
      path: '/api/1.0/rest/conversation/1001/start/data',
      authorization: DEMO_BASIC,
      contentType: 'application/json',
      body: { NAME: 'Dana', EMAIL: 'support@danaconnect.com' },
    });
    expect(call!.debug).toBeUndefined();
  });

  it('start-data-by-project starts a new record through project 77', async () => {
    await existingRecords(sandbox, DANA_RECORD); // 3663
    const answer = await invoke(startDataByProject, apiGatewayEvent('start-data-by-project'));
    expect(answer.statusCode).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ wsResult: { idResult: 3664, resultDescription: 'OK' } });
    expect(apiCalls()).toMatchObject([
      {
        path: '/api/1.0/rest/conversation/ProjectID/77/start/data',
        authorization: DEMO_BASIC,
        body: { NAME: 'Dana', EMAIL: 'support@danaconnect.com' },
      },
    ]);
  });

  it('start-record updates record 3663 and starts it', async () => {
    await existingRecords(sandbox, DANA_RECORD);
    const answer = await invoke(startRecord, apiGatewayEvent('start-record'));
    expect(answer.statusCode).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ wsResult: { idResult: 0, resultDescription: 'OK' } });
    expect(apiCalls()).toMatchObject([
      {
        path: '/api/1.0/rest/conversation/1001/start/record/3663',
        authorization: DEMO_BASIC,
        body: { PHONE_NUMBER: '+19546441233', RECEIPT_FILE: 's3://Receipt/receipt-example.pdf' },
      },
    ]);
  });

  it('start-record without a body sends no fields to update', async () => {
    await existingRecords(sandbox, DANA_RECORD);
    const answer = await invoke(startRecord, withBody(apiGatewayEvent('start-record'), null));
    expect(answer.statusCode).toBe(200);
    expect(apiCalls()).toMatchObject([
      { path: '/api/1.0/rest/conversation/1001/start/record/3663', body: {} },
    ]);
  });

  it('start-batch answers one envelope per record, in order', async () => {
    await existingRecords(sandbox, DANA_RECORD, DANA_RECORD); // 3663 and 3664
    const answer = await invoke(startBatch, apiGatewayEvent('start-batch'));
    expect(answer.statusCode).toBe(200);
    expect(JSON.parse(answer.body)).toEqual([
      { wsResult: { idResult: 3665, resultDescription: 'OK' } },
      { wsResult: { idResult: 3666, resultDescription: 'OK' } },
    ]);
    const [call] = apiCalls();
    expect(call).toMatchObject({ path: '/api/1.0/rest/conversation/1001/start/list/data' });
    expect(call!.body).toEqual([
      { LASTNAME: 'MOLA', EMAIL: '954222233', ID_TYPE: 'PASSPORT', NAME: 'JOHN', GENDER: 'M' },
      { LASTNAME: 'BORDA', EMAIL: '939988777', ID_TYPE: 'PASSPORT', NAME: 'ROBERT', GENDER: 'M' },
    ]);
  });

  it('get-contact-data returns the requested fields of the record behind the link code', async () => {
    await existingRecords(sandbox, DANA_RECORD_UPDATED); // 3663, link code lc-3663
    const answer = await invoke(getContactData, apiGatewayEvent('get-contact-data'));
    expect(answer.statusCode).toBe(200);
    const body = JSON.parse(answer.body);
    expect(body.record).toEqual({
      NAME: 'Dana',
      EMAIL: 'support@danaconnect.com',
      PHONE_NUMBER: '+19546441233',
    });
    expect(body.requestID).toMatch(/^[0-9a-f-]{36}$/);
    expect(apiCalls()).toMatchObject([
      {
        method: 'GET',
        path: '/api/1.0/rest/conversation/data/lc-3663',
        query: { fields: 'NAME,EMAIL,PHONE_NUMBER' },
        authorization: DEMO_BASIC,
      },
    ]);
  });

  it('start-list passes X-DEBUG on and answers the vendor’s wsResult', async () => {
    const answer = await invoke(startList, apiGatewayEvent('start-list'));
    expect(answer.statusCode).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ wsResult: { idResult: 0, resultDescription: 'OK' } });
    expect(apiCalls()).toMatchObject([
      {
        method: 'POST',
        path: '/api/1.0/rest/conversation/1001/start/list',
        debug: '1',
        authorization: DEMO_BASIC,
      },
    ]);
  });

  it('reads a base64-encoded body', async () => {
    const event = withBody(apiGatewayEvent('start-data'), '{"NAME":"Ada"}', { base64: true });
    const answer = await invoke(startData, event);
    expect(answer.statusCode).toBe(200);
    expect(apiCalls()[0]!.body).toEqual({ NAME: 'Ada' });
  });

  it('sends numbers and booleans as their text and null as a blank field', async () => {
    const event = withBody(
      apiGatewayEvent('start-data'),
      '{"AGE":42,"RATE":1.5,"VIP":true,"OPT_IN":false,"NOTE":null}',
    );
    expect((await invoke(startData, event)).statusCode).toBe(200);
    expect(apiCalls()[0]!.rawBody).toBe('{"AGE":"42","RATE":"1.5","VIP":"true","OPT_IN":"false","NOTE":""}');
  });

  it('refuses invalid input naming it, without calling DANAConnect', async () => {
    const event = apiGatewayEvent('start-batch');
    event.pathParameters = { conversationId: '01' };
    const answer = await invoke(startBatch, event);
    expect(answer.statusCode).toBe(400);
    expect(JSON.parse(answer.body)).toEqual({
      wsError: {
        idError: 9400,
        errorDescription: 'Invalid input: conversationId: must be an integer from 1 to 2147483647',
      },
    });
    expect(answer.headers['X-Request-Id']).toBe(event.requestContext.requestId);
    expect(sandbox.received()).toEqual([]);
  });
});

describe('DANAConnect’s errors', () => {
  it('pass through with their status and body', async () => {
    const event = apiGatewayEvent('start-list');
    event.pathParameters = { conversationId: '9999' };
    const answer = await invoke(startList, event);
    expect(answer.statusCode).toBe(400);
    expect(JSON.parse(answer.body)).toEqual({
      wsError: { idError: 1001, errorDescription: 'Unknown conversation' },
    });
  });

  it('a 500 on a start passes through and is not retried', async () => {
    sandbox.setFaults({ failNext: { count: 1, status: 500 } });
    const answer = await invoke(startData, apiGatewayEvent('start-data'));
    expect(answer.statusCode).toBe(500);
    expect(JSON.parse(answer.body)).toEqual({
      wsError: { idError: 1500, errorDescription: 'Injected error 500' },
    });
    expect(apiCalls()).toHaveLength(1);
  });

  it('429 after the client’s retries: passed through with Retry-After', async () => {
    sandbox.setFaults({ failNext: { count: 3, status: 429, retryAfterSeconds: 0 } });
    const answer = await invoke(startList, apiGatewayEvent('start-list'));
    expect(answer.statusCode).toBe(429);
    expect(answer.headers['Retry-After']).toBe('1');
    expect(JSON.parse(answer.body)).toEqual({
      wsError: { idError: 1429, errorDescription: 'Injected error 429' },
    });
  });

  it('an empty 401 (after one refresh) becomes the gateway’s 401 envelope', async () => {
    sandbox.setFaults({ unauthorizedNext: 2 });
    const answer = await invoke(startList, apiGatewayEvent('start-list'));
    expect(answer.statusCode).toBe(401);
    expect(JSON.parse(answer.body).wsError.idError).toBe(9401);
    expect(apiCalls()).toHaveLength(2);
  });

  it('no answer in time becomes 504', async () => {
    sandbox.setFaults({ hangNext: { count: 1 } });
    const answer = await invoke(startData, apiGatewayEvent('start-data'));
    expect(answer.statusCode).toBe(504);
    expect(JSON.parse(answer.body).wsError.idError).toBe(9504);
  });

  it('a 200 that is not JSON, or a dropped connection, becomes 502', async () => {
    sandbox.setFaults({ nonJsonNext: 1 });
    const nonJson = await invoke(startData, apiGatewayEvent('start-data'));
    expect(nonJson.statusCode).toBe(502);
    expect(JSON.parse(nonJson.body).wsError.idError).toBe(9502);
    sandbox.setFaults({ dropNext: { count: 1 } });
    const dropped = await invoke(startData, apiGatewayEvent('start-data'));
    expect(dropped.statusCode).toBe(502);
  });
});

describe('logs and metrics', () => {
  it('logs one JSON line per request with the request id as correlation id, and no body', async () => {
    const event = apiGatewayEvent('start-data');
    const { lines } = await withOutput(() => invoke(startData, event));
    const logs = lines.filter((line) => line.includes('"message":')).map((line) => JSON.parse(line));
    expect(logs).toEqual([
      expect.objectContaining({
        level: 'INFO',
        message: 'request done',
        operation: 'start-data',
        correlation_id: event.requestContext.requestId,
        route: '/api/1.0/rest/conversation/{conversationId}/start/data',
        method: 'POST',
        status: 200,
        function_name: 'dana-gateway-test',
      }),
    ]);
    expect(lines.join('\n')).not.toMatch(/support@danaconnect\.com|"Dana"|AWS4-HMAC/);
  });

  it('logs what was invalid by name, not by value', async () => {
    const event = withBody(apiGatewayEvent('start-data'), '{"EMAIL":{"nested":"ada@example.com"}}');
    const { lines } = await withOutput(() => invoke(startData, event));
    const log = lines.filter((line) => line.includes('"message":')).map((line) => JSON.parse(line))[0];
    expect(log).toMatchObject({
      level: 'WARN',
      status: 400,
      errorClass: 'invalid_input',
      invalid: 'body.EMAIL',
    });
    expect(lines.join('\n')).not.toContain('ada@example.com');
  });

  it('publishes EMF metrics: requests, starts, upstream latency, and errors by class', async () => {
    const ok = await withOutput(() => invoke(startBatch, apiGatewayEvent('start-batch')));
    const emf = ok.lines.filter((line) => line.includes('"_aws"')).map((line) => JSON.parse(line));
    const metric = (name: string) => emf.find((blob) => name in blob)?.[name];
    expect(metric('Requests')).toBe(1);
    expect(metric('Starts')).toBe(2);
    expect(metric('UpstreamLatency')).toEqual(expect.any(Number));
    expect(emf.find((blob) => 'Starts' in blob)).toMatchObject({
      operation: 'start-batch',
      service: 'dana-gateway-test',
      _aws: { CloudWatchMetrics: [{ Namespace: 'DanaGatewayTest' }] },
    });

    sandbox.setFaults({ failNext: { count: 1, status: 500 } });
    const failed = await withOutput(() => invoke(startBatch, apiGatewayEvent('start-batch')));
    const errors = failed.lines.filter((line) => line.includes('"Errors"')).map((line) => JSON.parse(line));
    expect(errors).toEqual([expect.objectContaining({ Errors: 1, errorClass: 'upstream_internal' })]);
  });
});

describe('start-list as an EventBridge scheduled start', () => {
  it('starts the list and returns DANAConnect’s body', async () => {
    const { result, lines } = await withOutput(() => scheduledStart(scheduledStartEvent()));
    expect(result).toEqual({ wsResult: { idResult: 0, resultDescription: 'OK' } });
    expect(apiCalls()).toMatchObject([
      { method: 'POST', path: '/api/1.0/rest/conversation/1001/start/list', authorization: DEMO_BASIC },
    ]);
    const log = lines.filter((line) => line.includes('scheduled start')).map((line) => JSON.parse(line));
    expect(log).toEqual([
      expect.objectContaining({
        message: 'scheduled start done',
        schedule: 'monday-reminders',
        conversationId: 1001,
      }),
    ]);
  });

  it.each([0, -1, 2147483648, 1.5, '1001abc', null])(
    'throws on conversationId %s, calling nobody (EventBridge retries, then its dead-letter queue)',
    async (conversationId) => {
      const event = { scheduledStart: { name: 'bad', conversationId: conversationId as number } };
      // The class as this test's execution environment loaded it.
      const { InvalidInputError } = await import('../../lambdas/core/errors');
      await expect(scheduledStart(event)).rejects.toBeInstanceOf(InvalidInputError);
      expect(sandbox.received()).toEqual([]);
    },
  );

  it('throws when DANAConnect refused the start (safe to retry)', async () => {
    const event = { scheduledStart: { name: 'old', conversationId: 9999 } };
    await expect(scheduledStart(event)).rejects.toMatchObject({ kind: 'illegal_argument' });
  });

  it('throws when the outcome is unknown (to the dead-letter queue and its alarm), after exactly one call', async () => {
    sandbox.setFaults({ failNext: { count: 1, status: 502, afterProcessing: true } });
    await expect(scheduledStart(scheduledStartEvent())).rejects.toMatchObject({
      kind: 'upstream_internal',
      delivery: 'unknown',
    });
    expect(apiCalls()).toHaveLength(1);
    expect(sandbox.duplicates()).toEqual([]);
  });
});

describe('the caller’s own headers', () => {
  it('never forwards the caller’s Authorization', async () => {
    const event = withHeader(apiGatewayEvent('start-list'), 'Authorization', 'Basic Y2FsbGVyOnNlY3JldA==');
    await invoke(startList, event);
    expect(apiCalls()[0]!.authorization).toBe(DEMO_BASIC);
  });
});
