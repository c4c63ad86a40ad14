/**
 * Personal data in reports and job answers (issue 14, item 5). A DANAConnect whose error descriptions echo the
 * contact's email address and phone number, and uploads whose invalid field codes are themselves an email address
 * or a phone number: what lands in `report.csv`, the summary and `GET /jobs/{jobId}` names fields and rules, never
 * values. Checked with the log audit's own patterns (../audit/sensitive.ts) and every value the test sent.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startGateway, type Gateway } from '../../local/gateway';
import { startPipeline, type Pipeline } from '../../local/pipeline';
import { personalDataIn } from '../audit/sensitive';

/** Every contact value the test sends; none may come back in a report or a job answer. */
const SENT = {
  vendorEmail: 'ada.vendor-echo@example.com',
  vendorPhone: '+15550100777',
  otherEmail: 'grace.vendor-echo@example.org',
  keyEmail: 'key.as.field@example.net',
  keyPhone: '+15550100888',
  asyncEmail: 'async.vendor-echo@example.com',
  asyncPhone: '+15550100999',
  badKeyEmail: 'eve.bad-key@example.com',
};
const VALUES = Object.values(SENT);

/** DANAConnect (API 1.0) as a stub that refuses every contact, quoting its EMAIL and PHONE back. */
function echoingVendor(): Promise<{ url: string; close: () => Promise<void> }> {
  const describe = (record: Record<string, string>) =>
    `Contact rejected: EMAIL ${record.EMAIL ?? '-'} and PHONE ${record.PHONE ?? '-'} are already registered`;
  const server: Server = createServer((req, res) => {
    let text = '';
    req.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
    req.on('end', () => {
      const body = JSON.parse(text || '{}') as unknown;
      const json = (status: number, value: unknown) => {
        res.writeHead(status, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(value));
      };
      if (Array.isArray(body)) {
        // A batch: one refusal per row, as DANAConnect answers a partly accepted batch.
        json(
          200,
          (body as Record<string, string>[]).map((r) => ({
            wsError: { idError: 1001, errorDescription: describe(r) },
          })),
        );
      } else {
        json(400, { wsError: { idError: 1002, errorDescription: describe(body as Record<string, string>) } });
      }
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        url: `http://127.0.0.1:${port}`,
        close: () => new Promise((done) => server.close(() => done())),
      });
    });
  });
}

const vendorEnv = (url: string) => ({
  DANA_BASE_URL: url,
  DANA_API_VERSION: '1.0',
  DANA_USERNAME: 'stub',
  DANA_COMPANY_CODE: 'STUB',
  DANA_PASSWORD: 'stub-password',
  DANA_SECRET_ID: undefined,
  DANA_CLIENT_ID: undefined,
  DANA_CLIENT_SECRET: undefined,
});

let vendor: { url: string; close: () => Promise<void> };
let pipeline: Pipeline;
let gateway: Gateway;
let dir: string;

beforeAll(async () => {
  vendor = await echoingVendor();
  dir = mkdtempSync(join(tmpdir(), 'pii-reports-'));
  pipeline = await startPipeline({
    bucketDir: dir,
    env: {
      ...process.env,
      ...vendorEnv(vendor.url),
      DANA_RATE_LIMIT_PER_SECOND: '100',
      MAX_RECEIVE_COUNT: '1',
    },
    pollMs: 25,
    progressMs: 25,
    log: () => undefined,
  });
  vi.resetModules();
  gateway = await startGateway({
    port: 0,
    env: vendorEnv(vendor.url),
    jobs: pipeline.jobDeps,
    log: () => undefined,
  });
});
afterAll(async () => {
  await gateway?.close();
  await pipeline?.close();
  await vendor?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what} did not happen`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('reports of an upload', () => {
  it('hold no email address or phone number, from the vendor’s errors or from invalid field codes', async () => {
    const rows = [
      { NAME: 'Ada', EMAIL: SENT.vendorEmail, PHONE: SENT.vendorPhone },
      { [SENT.keyEmail]: 'x' },
      { NAME: 'Bo', [SENT.keyPhone]: 'y' },
      { NAME: 'Grace', EMAIL: SENT.otherEmail },
    ];
    mkdirSync(join(dir, 'uploads/1001'), { recursive: true });
    writeFileSync(join(dir, 'uploads/1001/pii.jsonl'), rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const summaryPath = join(dir, 'reports/1001/pii.jsonl.summary.json');
    const summaryText = await until('the summary', () =>
      existsSync(summaryPath) ? readFileSync(summaryPath, 'utf8') : undefined,
    );
    const report = readFileSync(join(dir, 'reports/1001/pii.jsonl.report.csv'), 'utf8');
    expect(JSON.parse(summaryText)).toMatchObject({ total: 4, started: 0, rejected: 2, failed: 2 });

    // The reasons are still useful: the vendor's code and its text around the masked values; the row and rule.
    const lines = report.trimEnd().split('\r\n');
    expect(lines[1]).toMatch(
      /^1,failed,,DANAConnect error 1001: Contact rejected: EMAIL a\*\*\*@e\*\*\*\.com and PHONE \+\*\*\*77/,
    );
    expect(lines[2]).toMatch(/^2,rejected,,"row 2: field code number 1 \(24 characters\) must be /);
    expect(lines[3]).toMatch(/^3,rejected,,"row 3: field code number 2 \(12 characters\) must be /);
    expect(personalDataIn(report, VALUES)).toEqual([]);
    expect(personalDataIn(summaryText, VALUES)).toEqual([]);
  });
});

describe('GET /jobs answers', () => {
  const post = (path: string, body: unknown) =>
    fetch(`${gateway.url}/api/1.0/rest/conversation${path}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Prefer: 'respond-async' },
      body: JSON.stringify(body),
    });

  async function doneJobText(location: string): Promise<string> {
    return until('the job done', async () => {
      const text = await (await fetch(`${gateway.url}${location}`)).text();
      return (JSON.parse(text) as { state: string }).state === 'done' ? text : undefined;
    });
  }

  it('hold no email address or phone number the vendor echoed (a batch and a single start)', async () => {
    const batch = await post('/1001/start/list/data', [
      { NAME: 'A', EMAIL: SENT.asyncEmail },
      { NAME: 'B', PHONE: SENT.asyncPhone },
    ]);
    const single = await post('/1001/start/data', {
      NAME: 'C',
      EMAIL: SENT.asyncEmail,
      PHONE: SENT.asyncPhone,
    });
    for (const accepted of [batch, single]) {
      expect(accepted.status).toBe(202);
      const text = await doneJobText(accepted.headers.get('location')!);
      expect(JSON.parse(text)).toMatchObject({ failed: accepted === batch ? 2 : 1 });
      expect(text).toContain('***');
      expect(personalDataIn(text, VALUES)).toEqual([]);
    }
  });

  it('an invalid field code in a request is described by position and length, not quoted', async () => {
    const answer = await post('/1001/start/list/data', [
      { NAME: 'E' },
      { NAME: 'F', [SENT.badKeyEmail]: 'z' },
    ]);
    expect(answer.status).toBe(400);
    const text = await answer.text();
    expect(text).toContain('body[1]: field code number 2 (23 characters) must be');
    expect(personalDataIn(text, VALUES)).toEqual([]);
  });
});
