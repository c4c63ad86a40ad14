/**
 * The vendor page's own examples (shared/reference/danaconnect-conversation-api.txt), replayed against the
 * sandbox: through the DanaClient in both API versions, and as the page's raw fetch/curl requests.
 * Bodies and answers below are copied from the page verbatim.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DanaCredentials } from '../../lambdas/core/credentials';
import { DanaClient } from '../../lambdas/core/dana-client';
import { DEMO_CLIENT, DEMO_USER, startSandbox, type Sandbox } from '../../local/sandbox/server';
import { BATCH_BODY, NEW_RECORD_BODY, TESTREST_RECORD, UPDATE_BODY, UUID } from '../fixtures/vendor-examples';

const OK_ZERO = { wsResult: { idResult: 0, resultDescription: 'OK' } };
const OK_23617 = { wsResult: { idResult: 23617, resultDescription: 'OK' } };
const BATCH_ANSWER = [
  { wsResult: { idResult: 3663, resultDescription: 'OK' } },
  { wsResult: { idResult: 3664, resultDescription: 'OK' } },
];

const basicHeader = (login: string, password: string) =>
  'Basic ' + Buffer.from(`${login}:${password}`).toString('base64');

describe.each([
  ['1.0', { apiVersion: '1.0', ...DEMO_USER }],
  ['2.0', { apiVersion: '2.0', ...DEMO_CLIENT }],
] as [string, DanaCredentials][])(
  'the page’s examples through the client, API %s',
  (version, credentials) => {
    // The page's start/data answers 23617; its batch answers 3663 and 3664: one sandbox numbered for each.
    let fromData: Sandbox;
    let fromBatch: Sandbox;
    const clientOf = (sandbox: Sandbox) =>
      new DanaClient({
        credentials: { get: async () => credentials },
        baseUrl: sandbox.url,
        tokenUrl: sandbox.tokenUrl,
      });
    const apiCall = (sandbox: Sandbox) => sandbox.received().filter((r) => r.path.startsWith('/api/'))[0]!;

    // Fresh for each test: the records (and so the ids) a test sees are only its own, whatever ran before.
    beforeEach(async () => {
      fromData = await startSandbox({ firstRecordId: 23617, projects: { 12: 1001 } });
      fromBatch = await startSandbox({ firstRecordId: 3663 });
    });
    afterEach(async () => {
      await Promise.all([fromData.close(), fromBatch.close()]);
    });

    it('start/list answers the page’s wsResult', async () => {
      const answer = await clientOf(fromData).startList(1001, { debug: false });
      expect(answer).toEqual({ status: 200, body: OK_ZERO });
      expect(apiCall(fromData)).toMatchObject({
        path: `/api/${version}/rest/conversation/1001/start/list`,
        debug: '0',
      });
    });

    it('start/data with the NAME/EMAIL body answers idResult 23617, which is the new record', async () => {
      const answer = await clientOf(fromData).startData(1001, JSON.parse(NEW_RECORD_BODY));
      expect(answer.body).toEqual(OK_23617);
      expect(apiCall(fromData).body).toEqual(JSON.parse(NEW_RECORD_BODY));
      expect(fromData.records().get(23617)).toEqual({ NAME: 'Dana', EMAIL: 'support@danaconnect.com' });
    });

    it('ProjectID/{projectId}/start/data with the same body answers the same shape', async () => {
      const answer = await clientOf(fromData).startDataByProject(12, JSON.parse(NEW_RECORD_BODY));
      expect(answer.body).toMatchObject({
        wsResult: { idResult: expect.any(Number), resultDescription: 'OK' },
      });
      expect(apiCall(fromData).path).toBe(`/api/${version}/rest/conversation/ProjectID/12/start/data`);
    });

    it('start/record with the PHONE_NUMBER/RECEIPT_FILE body updates the record and answers idResult 0', async () => {
      const created = await clientOf(fromData).startData(1001, JSON.parse(NEW_RECORD_BODY));
      const id = (created.body as typeof OK_23617).wsResult.idResult;
      fromData.reset();
      const answer = await clientOf(fromData).startRecord(1001, id, JSON.parse(UPDATE_BODY));
      expect(answer.body).toEqual(OK_ZERO);
      expect(apiCall(fromData).body).toEqual({
        PHONE_NUMBER: '+19546441233',
        RECEIPT_FILE: 's3://Receipt/receipt-example.pdf',
      });
      expect(fromData.records().get(id)).toEqual({
        NAME: 'Dana',
        EMAIL: 'support@danaconnect.com',
        PHONE_NUMBER: '+19546441233',
        RECEIPT_FILE: 's3://Receipt/receipt-example.pdf',
      });
    });

    it('start/list/data with MOLA and BORDA answers 3663 and 3664, in order', async () => {
      const answer = await clientOf(fromBatch).startBatch(1001, JSON.parse(BATCH_BODY));
      expect(answer).toEqual({ status: 200, body: BATCH_ANSWER });
      expect(fromBatch.records().get(3663)).toMatchObject({ LASTNAME: 'MOLA' });
      expect(fromBatch.records().get(3664)).toMatchObject({ LASTNAME: 'BORDA' });
    });

    it('conversation/data/{danaparam} answers the TESTREST record, only the requested fields', async () => {
      const created = await clientOf(fromData).startData(1001, TESTREST_RECORD);
      const id = (created.body as typeof OK_23617).wsResult.idResult;
      fromData.reset();
      const fields = ['TESTREST_EMAIL', 'TESTREST_NAME', 'TESTREST_PHONE_NUMBER'];
      const some = await clientOf(fromData).getContactData(`lc-${id}`, fields);
      expect(some.body).toEqual({
        record: {
          TESTREST_EMAIL: 'jdoe@danaconnect.com',
          TESTREST_NAME: 'John',
          TESTREST_PHONE_NUMBER: '+3465900000',
        },
        requestID: expect.stringMatching(UUID),
      });
      expect(apiCall(fromData).query).toEqual({ fields: fields.join(',') });
      const all = await clientOf(fromData).getContactData(`lc-${id}`);
      expect(all.body.record).toEqual(TESTREST_RECORD);
    });
  },
);

describe('the page’s raw request shapes, with fetch', () => {
  let sandbox: Sandbox;
  const base = () => `${sandbox.url}/api/1.0/rest`;
  const auth = basicHeader(`${DEMO_USER.username}@${DEMO_USER.companyCode}`, DEMO_USER.password);

  beforeAll(async () => {
    sandbox = await startSandbox();
  });
  afterAll(async () => {
    await sandbox.close();
  });

  it('the node-fetch example for start/list (X-DEBUG 0, Basic user@company:password)', async () => {
    const conversationId = '1001';
    const resp = await fetch(`${base()}/conversation/${conversationId}/start/list`, {
      method: 'POST',
      headers: { 'X-DEBUG': '0', Authorization: auth },
    });
    const data = await resp.text();
    expect(resp.status).toBe(200);
    expect(JSON.parse(data)).toEqual(OK_ZERO);
  });

  it('start/data with the page’s body text', async () => {
    const resp = await fetch(`${base()}/conversation/1001/start/data`, {
      method: 'POST',
      headers: { Authorization: auth, 'Content-Type': 'application/json' },
      body: NEW_RECORD_BODY,
    });
    const body = (await resp.json()) as typeof OK_23617;
    expect(body).toEqual({ wsResult: { idResult: expect.any(Number), resultDescription: 'OK' } });
    expect(sandbox.records().get(body.wsResult.idResult)).toEqual(JSON.parse(NEW_RECORD_BODY));
  });

  it('start/list/data with the page’s array answers one wsResult per record', async () => {
    const resp = await fetch(`${base()}/conversation/1001/start/list/data`, {
      method: 'POST',
      headers: { Authorization: auth, 'Content-Type': 'application/json' },
      body: BATCH_BODY,
    });
    const body = (await resp.json()) as (typeof OK_23617)[];
    expect(body).toHaveLength(2);
    const [first, second] = body.map((item) => item.wsResult.idResult);
    expect(second).toBe(first! + 1);
    expect(sandbox.records().get(first!)).toMatchObject({ LASTNAME: 'MOLA', NAME: 'JOHN' });
  });

  it('start/record with the page’s escaped body', async () => {
    const created = await fetch(`${base()}/conversation/1001/start/data`, {
      method: 'POST',
      headers: { Authorization: auth, 'Content-Type': 'application/json' },
      body: NEW_RECORD_BODY,
    });
    const id = ((await created.json()) as typeof OK_23617).wsResult.idResult;
    const resp = await fetch(`${base()}/conversation/1001/start/record/${id}`, {
      method: 'POST',
      headers: { Authorization: auth, 'Content-Type': 'application/json' },
      body: UPDATE_BODY,
    });
    expect(await resp.json()).toEqual(OK_ZERO);
    expect(sandbox.records().get(id)?.RECEIPT_FILE).toBe('s3://Receipt/receipt-example.pdf');
  });

  it('the curl example for conversation/data (-u user@company:password, Accept: application/json)', async () => {
    const created = await fetch(`${base()}/conversation/1001/start/data`, {
      method: 'POST',
      headers: { Authorization: auth, 'Content-Type': 'application/json' },
      body: JSON.stringify({ EMAIL: 'jdoe@danaconnect.com', NAME: 'John', PHONE_NUMBER: '' }),
    });
    const id = ((await created.json()) as typeof OK_23617).wsResult.idResult;
    const resp = await fetch(`${base()}/conversation/data/lc-${id}?fields=EMAIL,NAME,PHONE_NUMBER`, {
      method: 'GET',
      headers: { Authorization: auth, Accept: 'application/json' },
    });
    expect(resp.status).toBe(200);
    expect(resp.headers.get('content-type')).toContain('application/json');
    expect(await resp.json()).toEqual({
      record: { EMAIL: 'jdoe@danaconnect.com', NAME: 'John', PHONE_NUMBER: '' },
      requestID: expect.stringMatching(UUID),
    });
  });

  it('the OAuth2 client-credentials grant, then API 2.0 with the Bearer token', async () => {
    const tokenResp = await fetch(sandbox.tokenUrl, {
      method: 'POST',
      headers: {
        Authorization: basicHeader(DEMO_CLIENT.clientId, DEMO_CLIENT.clientSecret),
        'Content-Type': 'application/x-www-form-urlencoded',
      },
      body: 'grant_type=client_credentials&scope=conversation:access2api',
    });
    const token = (await tokenResp.json()) as {
      access_token: string;
      token_type: string;
      expires_in: number;
    };
    expect(token).toEqual({ access_token: expect.any(String), token_type: 'Bearer', expires_in: 3600 });
    const resp = await fetch(`${sandbox.url}/api/2.0/rest/conversation/1001/start/list`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token.access_token}` },
    });
    expect(await resp.json()).toEqual(OK_ZERO);
  });

  it('the page’s four answers: unauthorized (empty body) and illegal argument (wsError)', async () => {
    const denied = await fetch(`${base()}/conversation/1001/start/list`, {
      method: 'POST',
      headers: { Authorization: basicHeader('demo@DEMO', 'wrong') },
    });
    expect(denied.status).toBe(401);
    expect(await denied.text()).toBe('');
    const illegal = await fetch(`${base()}/conversation/999/start/list`, {
      method: 'POST',
      headers: { Authorization: auth },
    });
    expect(illegal.status).toBe(400);
    expect(await illegal.json()).toEqual({
      wsError: { idError: expect.any(Number), errorDescription: expect.any(String) },
    });
  });
});
