/**
 * The upload API against the local gateway (`npm start`'s pieces: the gateway, the local pipeline, the sandbox),
 * over HTTP only, as a client would use it: POST /uploads, the multipart POST of the file to the URL it returned
 * (the gateway's own stand-in for S3's form upload, local/upload-endpoint.ts), the job runs, GET /jobs lists it as
 * done, its signed job.finished webhook arrives (LOCAL_WEBHOOK_URL), GET /jobs/{jobId}/report redirects to the
 * report. Then what the form endpoint refuses, as S3 does: a
 * changed key, a file larger than the form allows, a bad signature, an expired form or link.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../local/gateway';
import { startPipeline, type Pipeline } from '../../local/pipeline';
import { startSandbox, type Sandbox } from '../../local/sandbox/server';
import { localBucketEndpoint, type LocalBucketEndpoint } from '../../local/upload-endpoint';
import { rememberCredentialsSeenBy } from '../audit/sensitive';
import { freshGateway, sandboxEnv } from '../fixtures/http';

interface Form {
  key: string;
  upload: { url: string; fields: Record<string, string> };
  expiresAt: string;
}

function formData(fields: Record<string, string>, file: string, fileName = 'march.csv'): FormData {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  form.append('file', new Blob([file], { type: 'text/csv' }), fileName);
  return form;
}

/** A Standard Webhooks secret for the receiver below (whsec_ + base64 of the key). */
const WEBHOOK_SECRET = `whsec_${Buffer.from('local-uploads-webhook-key-32-byte').toString('base64')}`;

/** What a receiver does (docs/EVENTS.md): HMAC-SHA256 of "id.timestamp.body" with the decoded secret. */
function signedBySecret(headers: Record<string, string | string[] | undefined>, body: string): boolean {
  const key = Buffer.from(WEBHOOK_SECRET.slice('whsec_'.length), 'base64');
  const expected = createHmac('sha256', key)
    .update(`${String(headers['webhook-id'])}.${String(headers['webhook-timestamp'])}.${body}`)
    .digest();
  const [version, signature] = String(headers['webhook-signature']).split(',');
  const given = Buffer.from(signature ?? '', 'base64');
  return version === 'v1' && given.length === expected.length && timingSafeEqual(given, expected);
}

describe('local gateway: POST /uploads → form POST → the job runs → GET /jobs → webhook → the report', () => {
  let sandbox: Sandbox;
  let pipeline: Pipeline;
  let gateway: Gateway;
  let bucketDir: string;
  let receiver: Server;
  const webhooks: { headers: Record<string, string | string[] | undefined>; body: string }[] = [];

  beforeAll(async () => {
    sandbox = await startSandbox();
    bucketDir = mkdtempSync(join(tmpdir(), 'local-uploads-'));
    receiver = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (piece: string) => (body += piece));
      req.on('end', () => {
        webhooks.push({ headers: req.headers, body });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const webhookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    pipeline = await startPipeline({
      bucketDir,
      pollMs: 25,
      env: {
        ...process.env,
        ...sandboxEnv(sandbox, '1.0'),
        DANA_RATE_LIMIT_PER_SECOND: '100',
        LOCAL_WEBHOOK_URL: webhookUrl,
        LOCAL_WEBHOOK_SECRET: WEBHOOK_SECRET,
      },
      log: () => undefined,
    });
    gateway = await freshGateway(sandbox, '1.0', { jobs: pipeline.jobDeps, bucketDir, log: () => undefined });
  });
  afterAll(async () => {
    rememberCredentialsSeenBy(sandbox);
    await gateway.close();
    await pipeline.close();
    await sandbox.close();
    await new Promise((resolve) => receiver.close(resolve));
    rmSync(bucketDir, { recursive: true, force: true });
  });

  const post = (body: unknown) =>
    fetch(`${gateway.url}/uploads`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });

  it('a client works unchanged: the form posts to the gateway, the job runs, the list and the report show it', async () => {
    const csv = `NAME,EMAIL\r\nAda,ada.local@example.com\r\nbad,row,extra\r\n`;
    const created = await post({ conversation: '1001', fileName: 'march.csv', contentLength: csv.length });
    expect(created.status).toBe(201);
    const form = (await created.json()) as Form;
    expect(form.upload.url).toBe(`${gateway.url}/_local/s3/local`);
    expect(form.key).toMatch(/^uploads\/1001\/\d{8}T\d{6}Z-[0-9a-f]{8}\/march\.csv$/);

    const posted = await fetch(form.upload.url, { method: 'POST', body: formData(form.upload.fields, csv) });
    expect(posted.status).toBe(204);
    expect(readFileSync(join(bucketDir, form.key), 'utf8')).toBe(csv);

    let job: Record<string, unknown> | undefined;
    await expect
      .poll(
        async () => {
          const list = (await (await fetch(`${gateway.url}/jobs?state=done&limit=10`)).json()) as {
            jobs: Record<string, unknown>[];
          };
          job = list.jobs.find((j) => (j.source as { key?: string }).key === form.key);
          return job?.state;
        },
        { timeout: 20_000, interval: 50 },
      )
      .toBe('done');
    expect(job).toMatchObject({ conversationId: 1001, total: 2, started: 1, rejected: 1, failed: 0 });

    // The job's signed job.finished webhook arrives, verifiable with node:crypto alone.
    await expect
      .poll(() => webhooks.find((w) => w.body.includes(job!.jobId as string)), {
        timeout: 10_000,
        interval: 50,
      })
      .toBeDefined();
    const hook = webhooks.find((w) => w.body.includes(job!.jobId as string))!;
    expect(signedBySecret(hook.headers, hook.body)).toBe(true);
    expect(JSON.parse(hook.body)).toMatchObject({
      type: 'job.finished',
      data: { jobId: job!.jobId, total: 2, started: 1, rejected: 1, failed: 0 },
    });

    // A job is done a moment before its report is written; until then the report is not found.
    let redirect: Response | undefined;
    await expect
      .poll(
        async () => {
          redirect = await fetch(`${gateway.url}/jobs/${job!.jobId as string}/report`, {
            redirect: 'manual',
          });
          return redirect.status;
        },
        { timeout: 5_000, interval: 50 },
      )
      .toBe(302);
    const location = redirect!.headers.get('location')!;
    expect(location.startsWith(`${gateway.url}/_local/s3/local/reports/1001/`)).toBe(true);
    const report = await fetch(location);
    expect(report.status).toBe(200);
    expect(await report.text()).toMatch(/^row,status,idResult,error\r\n1,started,\d+,\r\n2,rejected,,/);
    // A link whose signature was changed is refused.
    const tampered = location.replace(
      /X-Amz-Signature=([0-9a-f])/,
      (_, c: string) => `X-Amz-Signature=${c === '0' ? '1' : '0'}`,
    );
    expect((await fetch(tampered)).status).toBe(403);
  });

  it('the form endpoint refuses what S3 refuses: another key, a bigger file, a bad signature, no policy', async () => {
    const created = await post({ conversation: 1001, fileName: 'april.csv', contentLength: 20 });
    const { upload, key } = (await created.json()) as Form;
    const attempt = async (fields: Record<string, string>, file: string) => {
      const answer = await fetch(upload.url, { method: 'POST', body: formData(fields, file) });
      return { status: answer.status, text: await answer.text() };
    };
    const moved = await attempt({ ...upload.fields, key: key.replace('april', 'other') }, 'NAME\r\nAda\r\n');
    expect(moved).toMatchObject({ status: 403 });
    expect(moved.text).toContain('AccessDenied');
    const big = await attempt(upload.fields, 'NAME\r\n' + 'x'.repeat(30));
    expect(big).toMatchObject({ status: 400 });
    expect(big.text).toContain('EntityTooLarge');
    const signature = upload.fields['X-Amz-Signature']!;
    const forged = await attempt(
      { ...upload.fields, 'X-Amz-Signature': signature.replace(/^./, (c) => (c === 'a' ? 'b' : 'a')) },
      'NAME\r\n',
    );
    expect(forged.text).toContain('SignatureDoesNotMatch');
    const { Policy: _policy, ...noPolicy } = upload.fields;
    expect((await attempt(noPolicy, 'NAME\r\n')).status).toBe(403);
    const extra = await attempt({ ...upload.fields, 'x-amz-meta-note': 'hi' }, 'NAME\r\n');
    expect(extra.text).toContain('Extra input fields');
    // Nothing of these reached the bucket folder.
    expect(() => readFileSync(join(bucketDir, key))).toThrow();
  });

  it('bad input on the new routes over HTTP: clean 4xx', async () => {
    expect((await post({ conversation: '1001', fileName: '../x.csv', contentLength: 1 })).status).toBe(400);
    expect((await fetch(`${gateway.url}/jobs?limit=0`)).status).toBe(400);
    expect((await fetch(`${gateway.url}/jobs?cursor=AAAA`)).status).toBe(400);
    expect((await fetch(`${gateway.url}/jobs/xyz/report`)).status).toBe(400);
    expect((await fetch(`${gateway.url}/jobs/${'e'.repeat(32)}/report`)).status).toBe(404);
    expect((await fetch(`${gateway.url}/uploads`, { method: 'GET' })).status).toBe(405);
  });
});

describe('local form endpoint: expiry', () => {
  let clock = Date.now();
  let server: Server;
  let endpoint: LocalBucketEndpoint;
  let url: string;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'local-form-'));
    endpoint = localBucketEndpoint(dir, () => clock);
    server = createServer((req, res) => {
      const [path, query = ''] = (req.url ?? '').split('?');
      void endpoint.answer(req, path!, query).then((result) => {
        res.writeHead(result.statusCode, result.headers as Record<string, string>);
        res.end(Buffer.from(result.body, result.isBase64Encoded ? 'base64' : 'utf8'));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  it('an expired form and an expired link are refused', async () => {
    clock = Date.now(); // the signer signs by the real clock; the endpoint checks by this one
    const signer = endpoint.signer(url);
    const form = await signer.presignPost('uploads/1001/x/late.csv', 100, 60);
    const link = await signer.presignGet('reports/1001/x.report.csv', 60);
    clock += 61_000;
    const posted = await fetch(form.url, { method: 'POST', body: formData(form.fields, 'NAME\r\n') });
    expect(posted.status).toBe(403);
    expect(await posted.text()).toContain('Policy expired');
    const read = await fetch(link);
    expect(read.status).toBe(403);
    expect(await read.text()).toContain('Request has expired');
  });
});
