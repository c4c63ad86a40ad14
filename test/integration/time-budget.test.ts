/**
 * One deadline per invocation. The handlers are loaded afresh (a new execution environment) and invoked with a
 * fake Lambda context whose remaining time is short; each slow step (the Secrets Manager read, the token
 * endpoint, a DANAConnect attempt, and the 401 → refresh path with everything slow) must end in the gateway's own
 * 504 (idError 9504) while the context still has time left, never in the function being killed mid-call.
 *
 * Slow services are tiny loopback servers: Secrets Manager speaks just enough of its JSON protocol
 * (GetSecretValue), the token endpoint and DANAConnect just enough of theirs. Ordering is asserted on the fake
 * context's own clock: the answer has arrived while `getRemainingTimeInMillis()` is still above zero.
 */
import { createServer, type ServerResponse } from 'node:http';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { DanaClient } from '../../lambdas/core/dana-client';
import { deadlineAt } from '../../lambdas/core/deadline';
import { DanaError } from '../../lambdas/core/errors';
import { DEMO_USER, startSandbox, type Sandbox } from '../../local/sandbox/server';
import { apiGatewayEvent, lambdaContext } from '../fixtures/events';
import { sandboxEnv } from '../fixtures/http';

type Handler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;

/** What a scripted server does with its n-th request: answer after a delay, or never. */
type Step = { delayMs: number; status: number; body: unknown } | 'hang';

interface Scripted {
  url: string;
  /** Requests received, in order (path and, for Secrets Manager, its X-Amz-Target). */
  requests: string[];
  close(): Promise<void>;
}

const SECRET_ID = 'dana/time-budget';
const OAUTH_SECRET = { clientId: 'budget-client', clientSecret: 'budget-client-secret-value' };

let sandbox: Sandbox;
const scripted: Scripted[] = [];

beforeAll(async () => {
  sandbox = await startSandbox();
});
afterAll(async () => {
  await sandbox.close();
});
beforeEach(() => sandbox.reset());
afterEach(async () => {
  vi.unstubAllEnvs();
  await Promise.all(scripted.splice(0).map((server) => server.close()));
});

/** A loopback server that plays `steps` in order (the last one repeats). */
async function scriptedServer(steps: Step[]): Promise<Scripted> {
  const requests: string[] = [];
  const hanging = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const target = req.headers['x-amz-target'];
      requests.push(target ? `${req.url} ${String(target)}` : String(req.url));
      const step = steps[Math.min(requests.length - 1, steps.length - 1)]!;
      if (step === 'hang') {
        hanging.add(res);
        return;
      }
      setTimeout(() => {
        const contentType = target ? 'application/x-amz-json-1.1' : 'application/json';
        res.writeHead(step.status, { 'Content-Type': contentType });
        res.end(step.body === undefined ? '' : JSON.stringify(step.body));
      }, step.delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const handle: Scripted = {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
  scripted.push(handle);
  return handle;
}

/** GetSecretValue's answer (awsJson1_1), for a secret holding `value`. */
const secretAnswer = (value: unknown, delayMs = 0): Step => ({
  delayMs,
  status: 200,
  body: {
    ARN: `arn:aws:secretsmanager:us-east-1:123456789012:secret:${SECRET_ID}-AbCdEf`,
    Name: SECRET_ID,
    SecretString: JSON.stringify(value),
    VersionId: 'v1',
    VersionStages: ['AWSCURRENT'],
  },
});
const tokenAnswer = (delayMs: number): Step => ({
  delayMs,
  status: 200,
  body: { access_token: `budget-token-${delayMs}`, token_type: 'Bearer', expires_in: 3600 },
});

/**
 * A handler in a new execution environment with `env` (for this test only): its client is built on its first
 * invocation.
 */
async function freshStartData(env: Record<string, string | undefined>): Promise<Handler> {
  for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value);
  vi.resetModules();
  return (await import('../../lambdas/start-data/handler')).handler as Handler;
}

/** A Lambda context with `remainingMs` left, on the real clock. */
function contextWith(remainingMs: number): Context {
  const endsAt = Date.now() + remainingMs;
  return { ...lambdaContext(), getRemainingTimeInMillis: () => Math.max(0, endsAt - Date.now()) };
}

/** Invokes the handler and notes how much of the context's time was left when its answer arrived. */
async function invoke(handler: Handler, remainingMs: number) {
  const context = contextWith(remainingMs);
  const answer = await handler(apiGatewayEvent('start-data'), context);
  return { answer, leftMs: context.getRemainingTimeInMillis() };
}

function expectGatewayTimeout({ answer, leftMs }: { answer: APIGatewayProxyResult; leftMs: number }) {
  expect(answer.statusCode).toBe(504);
  expect(JSON.parse(answer.body).wsError.idError).toBe(9504);
  // The function answered itself: Lambda would have killed it at zero.
  expect(leftMs).toBeGreaterThan(0);
}

const apiCalls = () => sandbox.received().filter((r) => r.path.startsWith('/api/'));

describe('defect 7: each slow step ends in 504 9504 before the invocation’s time runs out', () => {
  it('a Secrets Manager read that never answers', { timeout: 40_000 }, async () => {
    const secrets = await scriptedServer(['hang']);
    const handler = await freshStartData({
      ...sandboxEnv(sandbox, '1.0'),
      DANA_SECRET_ID: SECRET_ID,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.url,
    });
    expectGatewayTimeout(await invoke(handler, 3_000));
    expect(secrets.requests).toEqual(['/ secretsmanager.GetSecretValue']);
    expect(sandbox.received()).toEqual([]);
  });

  it('a token endpoint that never answers (API 2.0)', { timeout: 40_000 }, async () => {
    const token = await scriptedServer(['hang']);
    const handler = await freshStartData({ ...sandboxEnv(sandbox, '2.0'), DANA_TOKEN_URL: token.url });
    expectGatewayTimeout(await invoke(handler, 3_000));
    expect(token.requests.length).toBeGreaterThan(0);
    expect(sandbox.received()).toEqual([]);
  });

  it(
    'a DANAConnect attempt that never answers: cut at the deadline, not retried',
    { timeout: 40_000 },
    async () => {
      sandbox.setFaults({ hangNext: { count: 9 } });
      const handler = await freshStartData(sandboxEnv(sandbox, '1.0'));
      expectGatewayTimeout(await invoke(handler, 3_000));
      expect(apiCalls()).toHaveLength(1);
    },
  );

  it('the 401 → refresh path with every step slow', { timeout: 40_000 }, async () => {
    // Each step takes 900 ms: the first round (secret, token, the refused start) fits in the 4 s deadline, the
    // refresh (secret, token, start again) does not. Without one deadline the call would end after 5.4 s.
    const step = 900;
    const secrets = await scriptedServer([secretAnswer(OAUTH_SECRET, step)]);
    const token = await scriptedServer([tokenAnswer(step)]);
    const dana = await scriptedServer([{ delayMs: step, status: 401, body: undefined }]);
    const handler = await freshStartData({
      ...sandboxEnv(sandbox, '2.0'),
      DANA_BASE_URL: dana.url,
      DANA_TOKEN_URL: token.url,
      DANA_SECRET_ID: SECRET_ID,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.url,
    });
    expectGatewayTimeout(await invoke(handler, 5_000));
    // The refresh did begin: the secret was read again after the 401.
    expect(dana.requests[0]).toBe('/api/2.0/rest/conversation/1001/start/data');
    expect(secrets.requests).toHaveLength(2);
  });
});

describe('the client with a deadline', () => {
  const client = (timeoutMs = 8_000) =>
    new DanaClient({
      credentials: { get: async () => ({ apiVersion: '1.0', ...DEMO_USER }) },
      baseUrl: sandbox.url,
      timeoutMs,
      random: () => 0,
    });

  it('a deadline already spent: the start is never sent, delivery "no", and the error says so', async () => {
    const error = await client()
      .startData(1001, { NAME: 'Late' }, { deadline: deadlineAt(Date.now()) })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DanaError);
    expect(error).toMatchObject({ kind: 'timeout', delivery: 'no' });
    expect((error as DanaError).message).toMatch(/time ran out before .* sent/);
    expect(sandbox.received()).toEqual([]);
  });

  it('an attempt gets only what is left: cut at the deadline after sending, the outcome unknown', async () => {
    sandbox.setFaults({ hangNext: { count: 1 } });
    const error = await client()
      .startData(1001, { NAME: 'Cut' }, { deadline: deadlineAt(Date.now() + 800) })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ kind: 'timeout', delivery: 'unknown' });
    expect((error as DanaError).message).toMatch(/left of the invocation/);
    expect(apiCalls()).toHaveLength(1);
  });

  it('the retry loop never sleeps into the deadline: a Retry-After it has no room for is not waited for', async () => {
    // Without the deadline the client would wait the second DANAConnect asked for and try again.
    sandbox.setFaults({ failNext: { count: 1, status: 429, retryAfterSeconds: 1 } });
    const error = await client()
      .startData(1001, { NAME: 'Patient' }, { deadline: deadlineAt(Date.now() + 1_200) })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ kind: 'throttled', retryAfterMs: 1_000 });
    expect(apiCalls()).toHaveLength(1);
  });
});
