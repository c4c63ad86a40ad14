/**
 * `npm start`'s webhooks, end to end on the local pipeline: with LOCAL_WEBHOOK_URL and LOCAL_WEBHOOK_SECRET, a
 * finished upload job is posted, signed per Standard Webhooks, to a loopback receiver, which verifies it with
 * node:crypto alone; a failed attempt is retried (the 24-hour rule on a shorter clock) with the same id and body.
 * Waits poll with a deadline (a guard against a hang); nothing asserts timing.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalWebhookSender } from '../../lambdas/adapters/local-webhooks';
import { ConfigurationError } from '../../lambdas/core/errors';
import { startPipeline, type Pipeline } from '../../local/pipeline';
import { startSandbox, type Sandbox } from '../../local/sandbox/server';
import { rememberCredentialsSeenBy } from '../audit/sensitive';
import { sandboxEnv } from '../fixtures/http';

const SECRET = `whsec_${randomBytes(32).toString('base64')}`;

let sandbox: Sandbox;
let dir: string;
let pipeline: Pipeline | undefined;
let server: Server;
let url: string;
let received: { headers: IncomingHttpHeaders; body: string }[];
let statuses: number[];

async function until<T>(what: string, probe: () => T | undefined): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what} did not happen`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** What a receiver does (docs/EVENTS.md): HMAC-SHA256 of "id.timestamp.body" with the decoded secret. */
function verify(headers: IncomingHttpHeaders, body: string): boolean {
  const key = Buffer.from(SECRET.slice('whsec_'.length), 'base64');
  const expected = createHmac('sha256', key)
    .update(`${headers['webhook-id']}.${headers['webhook-timestamp']}.${body}`)
    .digest();
  const [version, signature] = String(headers['webhook-signature']).split(',');
  const given = Buffer.from(signature ?? '', 'base64');
  return version === 'v1' && given.length === expected.length && timingSafeEqual(given, expected);
}

beforeEach(async () => {
  sandbox = await startSandbox();
  dir = mkdtempSync(join(tmpdir(), 'local-webhooks-'));
  received = [];
  statuses = [];
  server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (piece: string) => (body += piece));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.writeHead(statuses.shift() ?? 204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
});

afterEach(async () => {
  await pipeline?.close();
  pipeline = undefined;
  rememberCredentialsSeenBy(sandbox);
  await sandbox.close();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

describe('local webhooks (npm start)', () => {
  it('a finished upload job posts one signed job.finished webhook; a 503 is retried with the same id and body', async () => {
    statuses.push(503);
    pipeline = await startPipeline({
      bucketDir: dir,
      env: {
        ...process.env,
        ...sandboxEnv(sandbox, '1.0'),
        DANA_RATE_LIMIT_PER_SECOND: '200',
        LOCAL_WEBHOOK_URL: url,
        LOCAL_WEBHOOK_SECRET: SECRET,
      },
      pollMs: 25,
      progressMs: 25,
      log: () => undefined,
    });
    mkdirSync(join(dir, 'uploads/1001'), { recursive: true });
    writeFileSync(join(dir, 'uploads/1001/hooked.csv'), 'NAME,CODE\nAda,h-1\nAlan,h-2\n');

    await until('two attempts', () => (received.length >= 2 ? true : undefined));
    const [first, second] = received;
    for (const request of [first!, second!]) expect(verify(request.headers, request.body)).toBe(true);
    expect(second!.headers['webhook-id']).toBe(first!.headers['webhook-id']);
    expect(second!.body).toBe(first!.body);
    const event = JSON.parse(first!.body) as { type: string; data: Record<string, unknown> };
    expect(event.type).toBe('job.finished');
    expect(event.data).toMatchObject({
      source: { kind: 'upload', key: 'uploads/1001/hooked.csv' },
      conversationId: 1001,
      total: 2,
      started: 2,
      rejected: 0,
      failed: 0,
      report: { bucket: dir, key: 'reports/1001/hooked.csv.report.csv' },
    });
    expect(first!.headers['webhook-id']).toBe(`msg_${String(event.data.jobId)}_local`);
    expect(first!.body).not.toContain('Ada');
  });

  it('refuses a non-loopback private URL or a secret without whsec_, naming the variable', () => {
    expect(() => new LocalWebhookSender({ url: 'http://10.0.0.5/hook', secret: SECRET })).toThrow(
      /^LOCAL_WEBHOOK_URL /,
    );
    expect(() => new LocalWebhookSender({ url, secret: SECRET.slice('whsec_'.length) })).toThrow(
      ConfigurationError,
    );
    expect(() => new LocalWebhookSender({ url, secret: 'whsec_c2hvcnQ=' })).toThrow(ConfigurationError);
  });
});
