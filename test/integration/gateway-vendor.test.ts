/**
 * The vendor page's examples (shared/reference/danaconnect-conversation-api.txt) against the local gateway, with
 * only the base URL changed: its node-fetch request, its curl command (run with the real curl), its bodies, and
 * its answers. The caller's own credentials in those examples are placeholders the gateway ignores: in AWS,
 * API Gateway authenticates callers, and the gateway uses its own DANAConnect credentials upstream.
 * Each example that numbers records runs against a fresh DANAConnect, as on the page.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import type { Gateway } from '../../local/gateway';
import { startSandbox, type Sandbox } from '../../local/sandbox/server';
import { rememberCredentialsSeenBy } from '../audit/sensitive';
import { DEMO_BASIC, freshGateway } from '../fixtures/http';
import { BATCH_BODY, NEW_RECORD_BODY, TESTREST_RECORD, UPDATE_BODY, UUID } from '../fixtures/vendor-examples';

let sandbox: Sandbox | undefined;
let gateway: Gateway | undefined;

/** A fresh DANAConnect numbering records from `firstRecordId`, and a gateway (fresh functions) in front of it. */
async function freshDanaConnect(firstRecordId: number): Promise<string> {
  sandbox = await startSandbox({ firstRecordId });
  gateway = await freshGateway(sandbox, '1.0');
  return gateway.url;
}

afterEach(async () => {
  if (sandbox) rememberCredentialsSeenBy(sandbox);
  await gateway?.close();
  await sandbox?.close();
  gateway = sandbox = undefined;
});

const apiCalls = () => sandbox!.received().filter((r) => r.path.startsWith('/api/'));

/** The page's own placeholders, sent as the page sends them; the gateway ignores the caller's Authorization. */
const pageAuthorization = 'Basic ' + Buffer.from('<username>@<companyCode>:%<Password>').toString('base64');

async function curl(args: string[]): Promise<{ status: number; headers: string; body: string }> {
  const { stdout } = await promisify(execFile)('curl', [
    '--silent',
    '--show-error',
    '--noproxy',
    '*',
    ...args,
  ]);
  const [head, ...rest] = stdout.split('\r\n\r\n');
  return {
    status: Number(/^HTTP\/[\d.]+ (\d{3})/.exec(head!)?.[1]),
    headers: head!,
    body: rest.join('\r\n\r\n'),
  };
}

describe('the vendor page’s examples through the local gateway', () => {
  it('start/list: the node-fetch example, answered with the page’s wsResult', async () => {
    const base = await freshDanaConnect(3663);
    // The page's code, with https://appserv.danaconnect.com replaced by the gateway's base URL.
    async function makeRequest() {
      const conversationId = '1001';
      const resp = await fetch(`${base}/api/1.0/rest/conversation/${conversationId}/start/list`, {
        method: 'POST',
        headers: {
          'X-DEBUG': '0',
          Authorization: pageAuthorization,
        },
      });
      const data = await resp.text();
      return { status: resp.status, data };
    }
    const { status, data } = await makeRequest();
    expect(status).toBe(200);
    expect(JSON.parse(data)).toEqual({ wsResult: { idResult: 0, resultDescription: 'OK' } });
    expect(apiCalls()).toMatchObject([
      { path: '/api/1.0/rest/conversation/1001/start/list', debug: '0', authorization: DEMO_BASIC },
    ]);
  });

  it('start/data: the page’s body answers idResult 23617', async () => {
    const base = await freshDanaConnect(23617);
    const resp = await fetch(`${base}/api/1.0/rest/conversation/1001/start/data`, {
      method: 'POST',
      headers: { Authorization: pageAuthorization, 'Content-Type': 'application/json' },
      body: NEW_RECORD_BODY,
    });
    expect(resp.status).toBe(200);
    expect(await resp.json()).toEqual({ wsResult: { idResult: 23617, resultDescription: 'OK' } });
    expect(apiCalls()[0]!.body).toEqual({ NAME: 'Dana', EMAIL: 'support@danaconnect.com' });
  });

  it('ProjectID/{projectId}/start/data: the page’s body answers idResult 23617', async () => {
    const base = await freshDanaConnect(23617);
    const resp = await fetch(`${base}/api/1.0/rest/conversation/ProjectID/77/start/data`, {
      method: 'POST',
      headers: { Authorization: pageAuthorization, 'Content-Type': 'application/json' },
      body: NEW_RECORD_BODY,
    });
    expect(await resp.json()).toEqual({ wsResult: { idResult: 23617, resultDescription: 'OK' } });
  });

  it('start/record/{recordUID}: the page’s escaped update body answers idResult 0', async () => {
    const base = await freshDanaConnect(23617);
    await fetch(`${base}/api/1.0/rest/conversation/1001/start/data`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: NEW_RECORD_BODY,
    });
    const resp = await fetch(`${base}/api/1.0/rest/conversation/1001/start/record/23617`, {
      method: 'POST',
      headers: { Authorization: pageAuthorization, 'Content-Type': 'application/json' },
      body: UPDATE_BODY,
    });
    expect(await resp.json()).toEqual({ wsResult: { idResult: 0, resultDescription: 'OK' } });
    expect(sandbox!.records().get(23617)).toEqual({
      NAME: 'Dana',
      EMAIL: 'support@danaconnect.com',
      PHONE_NUMBER: '+19546441233',
      RECEIPT_FILE: 's3://Receipt/receipt-example.pdf',
    });
  });

  it('start/list/data: the page’s MOLA/BORDA array answers 3663 and 3664, in order', async () => {
    const base = await freshDanaConnect(3663);
    const resp = await fetch(`${base}/api/1.0/rest/conversation/1001/start/list/data`, {
      method: 'POST',
      headers: { Authorization: pageAuthorization, 'Content-Type': 'application/json' },
      body: BATCH_BODY,
    });
    expect(resp.status).toBe(200);
    expect(await resp.json()).toEqual([
      { wsResult: { idResult: 3663, resultDescription: 'OK' } },
      { wsResult: { idResult: 3664, resultDescription: 'OK' } },
    ]);
    expect(apiCalls()[0]!.body).toEqual(JSON.parse(BATCH_BODY));
  });

  it('conversation/data/{danaparam}: the page’s curl command, with the page’s record as the answer', async () => {
    const base = await freshDanaConnect(3663);
    await fetch(`${base}/api/1.0/rest/conversation/1001/start/data`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        ...TESTREST_RECORD,
        EMAIL: 'jdoe@danaconnect.com',
        NAME: 'John',
        PHONE_NUMBER: '',
      }),
    });
    // curl -i -X GET -u <username@companycode>:<password> '.../conversation/data/:danaparam?fields=...' -H 'Accept: ...'
    const asked = await curl([
      '-i',
      '-X',
      'GET',
      '-u',
      '<username@companycode>:<password>',
      `${base}/api/1.0/rest/conversation/data/lc-3663?fields=EMAIL,NAME,PHONE_NUMBER`,
      '-H',
      'Accept: application/json',
    ]);
    expect(asked.status).toBe(200);
    expect(asked.headers).toMatch(/\r\nContent-Type: application\/json/i);
    expect(JSON.parse(asked.body)).toEqual({
      record: { EMAIL: 'jdoe@danaconnect.com', NAME: 'John', PHONE_NUMBER: '' },
      requestID: expect.stringMatching(UUID),
    });
    // The page's "Successful Result" lists the TESTREST_ fields: the same command asking for them.
    const fields = Object.keys(TESTREST_RECORD).join(',');
    const page = await curl([
      '-i',
      '-X',
      'GET',
      '-u',
      '<username@companycode>:<password>',
      `${base}/api/1.0/rest/conversation/data/lc-3663?fields=${fields}`,
      '-H',
      'Accept: application/json',
    ]);
    expect(JSON.parse(page.body)).toEqual({
      record: TESTREST_RECORD,
      requestID: expect.stringMatching(UUID),
    });
    expect(apiCalls().at(-1)).toMatchObject({
      method: 'GET',
      path: '/api/1.0/rest/conversation/data/lc-3663',
      query: { fields },
      authorization: DEMO_BASIC,
    });
  });
});
