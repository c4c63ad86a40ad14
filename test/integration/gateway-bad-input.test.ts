/**
 * Bad input on every route, over HTTP through the local gateway, sent byte for byte as a hostile client would
 * (raw paths: encoded slashes and dot segments are not normalised away): every case gets a 4xx whose description
 * names the offending parameter, field or record index, and the sandbox receives NOTHING.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MemoryAliasStore } from '../../lambdas/adapters/memory-alias-store';
import { MemoryJobStore } from '../../lambdas/adapters/memory-job-store';
import { routeSpec } from '../../lambdas/http/doorway';
import { MAX_BODY_BYTES } from '../../lambdas/http/request';
import type { OperationName } from '../../lambdas/http/routes';
import type { Gateway } from '../../local/gateway';
import { startSandbox, type Sandbox } from '../../local/sandbox/server';
import { rememberCredentialsSeenBy } from '../audit/sensitive';
import { freshGateway, rawRequest } from '../fixtures/http';

const BASE = '/api/1.0/rest/conversation';
/** A job that exists in the gateway's job store (get-job answers from it, never from DANAConnect). */
const KNOWN_JOB = '0123456789abcdef0123456789abcdef';
const JSON_TYPE = { 'Content-Type': 'application/json' };

interface Request {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

/** A valid request per route; each case spoils one thing. */
const VALID: Record<OperationName, Request> = {
  'start-list': { method: 'POST', path: `${BASE}/1001/start/list` },
  'start-data': {
    method: 'POST',
    path: `${BASE}/1001/start/data`,
    headers: JSON_TYPE,
    body: '{"NAME":"Ada"}',
  },
  'start-data-by-project': {
    method: 'POST',
    path: `${BASE}/ProjectID/77/start/data`,
    headers: JSON_TYPE,
    body: '{"NAME":"Ada"}',
  },
  'start-record': {
    method: 'POST',
    path: `${BASE}/1001/start/record/3663`,
    headers: JSON_TYPE,
    body: '{"PLAN":"Gold"}',
  },
  'start-batch': {
    method: 'POST',
    path: `${BASE}/1001/start/list/data`,
    headers: JSON_TYPE,
    body: '[{"NAME":"Ada"},{"NAME":"Alan"}]',
  },
  'get-contact-data': { method: 'GET', path: `${BASE}/data/lc-3663?fields=NAME` },
  'get-job': { method: 'GET', path: `/jobs/${KNOWN_JOB}` },
  'put-alias': {
    method: 'PUT',
    path: '/aliases/newsletter',
    headers: JSON_TYPE,
    body: '{"conversationId":1001}',
  },
  'list-aliases': { method: 'GET', path: '/aliases?limit=10' },
  'get-alias': { method: 'GET', path: '/aliases/newsletter' },
  'delete-alias': { method: 'DELETE', path: '/aliases/newsletter' },
  'list-jobs': { method: 'GET', path: '/jobs?limit=10&state=done' },
  'get-job-report': { method: 'GET', path: `/jobs/${KNOWN_JOB}/report` },
  'create-upload': {
    method: 'POST',
    path: '/uploads',
    headers: JSON_TYPE,
    body: '{"conversation":"1001","fileName":"march.csv","contentLength":100}',
  },
  // The schedules API (its full matrix: schedules-gateway.test.ts). No schedule store is installed here: bad
  // input must be refused before the store is needed.
  'create-schedule': {
    method: 'POST',
    path: '/schedules',
    headers: JSON_TYPE,
    body: '{"name":"weekday","conversation":1001,"cron":"cron(0 9 ? * MON-FRI *)","timezone":"America/Caracas"}',
  },
  'list-schedules': { method: 'GET', path: '/schedules?limit=10' },
  'get-schedule': { method: 'GET', path: '/schedules/weekday' },
  'replace-schedule': {
    method: 'PUT',
    path: '/schedules/weekday',
    headers: JSON_TYPE,
    body: '{"conversation":1001,"cron":"cron(0 9 ? * MON-FRI *)","timezone":"America/Caracas"}',
  },
  'delete-schedule': { method: 'DELETE', path: '/schedules/weekday' },
};

interface Case {
  name: string;
  request: Request;
  status: number;
  idError: number;
  /** The description must name this (the parameter, field or record index). */
  names: string;
}

const cases: Case[] = [];
const add = (name: string, request: Request, status: number, idError: number, names: string) =>
  cases.push({ name, request, status, idError, names });

// Ids, as raw path segments (' 1' is sent as %201, '1/2' as 1%2F2).
const BAD_IDS = [
  '0',
  '-1',
  '2147483648',
  '99999999999',
  '1.5',
  '+1',
  '%201',
  '1%20',
  '01',
  'abc',
  '1%2F2',
  '1e3',
  '0x10',
  '%D9%A1',
];
const ID_ROUTES: [OperationName, string, (id: string) => string][] = [
  ['start-list', 'conversationId', (id) => `${BASE}/${id}/start/list`],
  ['start-data', 'conversationId', (id) => `${BASE}/${id}/start/data`],
  ['start-data-by-project', 'projectId', (id) => `${BASE}/ProjectID/${id}/start/data`],
  ['start-record', 'conversationId', (id) => `${BASE}/${id}/start/record/3663`],
  ['start-record', 'recordUID', (id) => `${BASE}/1001/start/record/${id}`],
  ['start-batch', 'conversationId', (id) => `${BASE}/${id}/start/list/data`],
];
for (const [route, param, path] of ID_ROUTES) {
  for (const id of BAD_IDS) {
    // A conversation reference that starts with a letter is an alias (docs/ALIASES.md): unknown, it is 404.
    const alias = param === 'conversationId' && /^[a-z]/.test(id);
    add(
      `${route} ${param}=${id}`,
      { ...VALID[route], path: path(id) },
      alias ? 404 : 400,
      alias ? 9404 : 9400,
      param,
    );
  }
}
// Not an id and not an alias name: 400 naming the parameter.
for (const [route, param, path] of ID_ROUTES.filter(([, param]) => param === 'conversationId')) {
  for (const ref of ['News', 'news_letter', 'a%2Fb', 'a'.repeat(64)])
    add(`${route} ${param}=${ref.slice(0, 20)}`, { ...VALID[route], path: path(ref) }, 400, 9400, param);
}

// The alias API: every bad name, body, query, and an unknown alias.
const BAD_ALIAS_NAMES = ['Bad', '1001', 'news_letter', '-a', 'a%2Fb', '%2E%2E', 'a'.repeat(64), 'n%C3%B1'];
for (const route of ['put-alias', 'get-alias', 'delete-alias'] as const) {
  for (const name of BAD_ALIAS_NAMES)
    add(
      `${route} name=${name.slice(0, 20)}`,
      { ...VALID[route], path: `/aliases/${name}` },
      400,
      9400,
      'name',
    );
}
const BAD_ALIAS_BODIES: [string, string, string][] = [
  ['not JSON', '{"conversationId":', 'body'],
  ['an array', '[1001]', 'body'],
  ['null', 'null', 'body'],
  ['no conversationId', '{}', 'conversationId'],
  ['conversationId 0', '{"conversationId":0}', 'conversationId'],
  ['conversationId as an alias', '{"conversationId":"newsletter"}', 'conversationId'],
  ['conversationId 1.5', '{"conversationId":1.5}', 'conversationId'],
  ['another field', '{"conversationId":1001,"note":"x"}', 'body.note'],
];
for (const [what, body, names] of BAD_ALIAS_BODIES)
  add(`put-alias ${what}`, { ...VALID['put-alias'], body }, 400, 9400, names);
add('put-alias without a body', { method: 'PUT', path: '/aliases/newsletter' }, 400, 9400, 'body');
add(
  'put-alias as text/plain',
  { ...VALID['put-alias'], headers: { 'Content-Type': 'text/plain' } },
  415,
  9415,
  'Content-Type',
);
add('get-alias with a body', { ...VALID['get-alias'], headers: JSON_TYPE, body: '{}' }, 400, 9400, 'body');
add(
  'delete-alias with a body',
  { ...VALID['delete-alias'], headers: JSON_TYPE, body: '{}' },
  400,
  9400,
  'body',
);
add('get-alias unknown', { method: 'GET', path: '/aliases/nobody' }, 404, 9404, 'nobody');
add('delete-alias unknown', { method: 'DELETE', path: '/aliases/nobody' }, 404, 9404, 'nobody');
for (const query of ['limit=0', 'limit=101', 'limit=x', 'limit=1&limit=2', 'cursor=forged', 'cursor=%00'])
  add(`list-aliases ${query}`, { method: 'GET', path: `/aliases?${query}` }, 400, 9400, query.split('=')[0]!);

// The jobs list, the report redirect and the upload API (docs/JOBS.md).
for (const query of [
  'limit=0',
  'limit=101',
  'limit=x',
  'limit=1&limit=2',
  'state=failed',
  'cursor=forged',
  'cursor=%00',
])
  add(`list-jobs ${query}`, { method: 'GET', path: `/jobs?${query}` }, 400, 9400, query.split('=')[0]!);
for (const jobId of ['xyz', 'ABCDEF0123456789ABCDEF0123456789', '0'.repeat(33)])
  add(`get-job-report jobId=${jobId}`, { method: 'GET', path: `/jobs/${jobId}/report` }, 400, 9400, 'jobId');
// A job this caller may read, but an API job: it has no report.
add('get-job-report of an API job', VALID['get-job-report'], 404, 9404, 'jobId');
const BAD_UPLOADS: [string, string, number, string][] = [
  ['not JSON', '{"conversation":', 400, 'body'],
  ['an array', '[]', 400, 'body'],
  ['no fileName', '{"conversation":"1001","contentLength":1}', 400, 'fileName'],
  ['a path in fileName', '{"conversation":"1001","fileName":"a/b.csv","contentLength":1}', 400, 'fileName'],
  ['a .txt file', '{"conversation":"1001","fileName":"a.txt","contentLength":1}', 400, 'fileName'],
  [
    'a control character',
    '{"conversation":"1001","fileName":"a\\u0007.csv","contentLength":1}',
    400,
    'fileName',
  ],
  ['contentLength 0', '{"conversation":"1001","fileName":"a.csv","contentLength":0}', 400, 'contentLength'],
  [
    'a file over the limit',
    `{"conversation":"1001","fileName":"a.csv","contentLength":${2 * 1024 ** 3 + 1}}`,
    413,
    'contentLength',
  ],
  ['conversation 0', '{"conversation":"0","fileName":"a.csv","contentLength":1}', 400, 'conversation'],
  ['an unknown alias', '{"conversation":"nobody","fileName":"a.csv","contentLength":1}', 404, 'nobody'],
];
for (const [what, body, status, names] of BAD_UPLOADS)
  add(
    `create-upload ${what}`,
    { ...VALID['create-upload'], body },
    status,
    status === 413 ? 9413 : status === 404 ? 9404 : 9400,
    names,
  );
add(
  'create-upload as text/plain',
  { ...VALID['create-upload'], headers: { 'Content-Type': 'text/plain' } },
  415,
  9415,
  'Content-Type',
);
add('list-jobs with a body', { ...VALID['list-jobs'], headers: JSON_TYPE, body: '{}' }, 400, 9400, 'body');

// The schedules API: each route's field rules, named.
const scheduleBody = (change: Record<string, unknown>) =>
  JSON.stringify({ ...JSON.parse(VALID['create-schedule'].body!), ...change });
const BAD_SCHEDULES: [OperationName, string, Partial<Request>, string][] = [
  [
    'create-schedule',
    'unknown time zone',
    { body: scheduleBody({ timezone: 'America/Atlantis' }) },
    'timezone',
  ],
  [
    'create-schedule',
    'malformed cron',
    { body: scheduleBody({ cron: 'cron(0 24 ? * MON-FRI *)' }) },
    'hours',
  ],
  [
    'create-schedule',
    'at in the past',
    { body: scheduleBody({ cron: undefined, at: '2020-01-01T00:00:00' }) },
    'at',
  ],
  ['create-schedule', 'cron and at', { body: scheduleBody({ at: '2099-01-01T00:00:00' }) }, 'at'],
  ['create-schedule', 'neither cron nor at', { body: scheduleBody({ cron: undefined }) }, 'cron'],
  ['list-schedules', 'limit=0', { path: '/schedules?limit=0' }, 'limit'],
  ['get-schedule', 'name with a space', { path: '/schedules/a%20b' }, 'name'],
  ['get-schedule', 'count=51', { path: '/schedules/weekday?count=51' }, 'count'],
  ['replace-schedule', 'renaming', { body: scheduleBody({ name: 'other' }) }, 'name'],
  ['delete-schedule', 'name ..', { path: '/schedules/%2E%2E' }, 'name'],
];
for (const [route, what, change, names] of BAD_SCHEDULES)
  add(`${route} ${what}`, { ...VALID[route], ...change }, 400, 9400, names);

// danaparam: hostile values, none of which may reach (or bend) the upstream path.
const HOSTILE_DANAPARAMS = [
  '.',
  '..',
  '%2E%2E',
  '..%2F..%2Fadmin',
  'lc-1%2F..%2F1001%2Fstart%2Flist',
  'a%5Cb',
  'a%20b',
  'a%3Fb',
  'a%23b',
  'a%26fields%3DNAME',
  'lc-1%3Bdrop',
  'a%27b',
  '%3Cscript%3E',
  'a%00b',
  'a%0D%0AX-Injected:1',
  '%C3%B1',
  'a+b',
  '%zz',
  'x'.repeat(513),
];
for (const danaparam of HOSTILE_DANAPARAMS) {
  add(
    `get-contact-data danaparam=${danaparam.slice(0, 40)}`,
    { method: 'GET', path: `${BASE}/data/${danaparam}?fields=NAME` },
    400,
    9400,
    'danaparam',
  );
}

// Job ids: 32 lowercase hex digits and nothing else.
const BAD_JOB_IDS = [
  '0123456789ABCDEF0123456789ABCDEF',
  '0123456789abcdef0123456789abcde',
  '0123456789abcdef0123456789abcdef0',
  '0123456789abcdef0123456789abcdeg',
  '..',
  '%2E%2E',
  '0123456789abcdef%2F123456789abcdef',
  '%200123456789abcdef0123456789abcdef',
  '0123456789abcdef0123456789abcdef%00',
  '0123456789abcdef-0123-4567-89abcdef',
  'x'.repeat(300),
];
for (const jobId of BAD_JOB_IDS) {
  add(`get-job jobId=${jobId.slice(0, 40)}`, { method: 'GET', path: `/jobs/${jobId}` }, 400, 9400, 'jobId');
}
add('get-job with a body', { ...VALID['get-job'], headers: JSON_TYPE, body: '{}' }, 400, 9400, 'body');

// fields: bad codes and empty entries.
const BAD_FIELDS = [
  'NAME,,EMAIL',
  ',',
  'NAME,',
  ',NAME',
  'FIRST%20NAME',
  'NAME;EMAIL',
  '%C3%91',
  'A.B',
  'x'.repeat(65),
];
for (const fields of BAD_FIELDS) {
  add(
    `get-contact-data fields=${fields.slice(0, 30)}`,
    { method: 'GET', path: `${BASE}/data/lc-3663?fields=${fields}` },
    400,
    9400,
    'fields',
  );
}
add(
  'get-contact-data fields=101 codes',
  {
    method: 'GET',
    path: `${BASE}/data/lc-3663?fields=${Array.from({ length: 101 }, (_, i) => `F${i}`).join(',')}`,
  },
  400,
  9400,
  'fields',
);
add(
  'get-contact-data fields given twice',
  { method: 'GET', path: `${BASE}/data/lc-3663?fields=NAME&fields=EMAIL` },
  400,
  9400,
  'fields',
);

// Bodies of the one-record routes.
const tooManyFields = JSON.stringify(
  Object.fromEntries(Array.from({ length: 201 }, (_, i) => [`F${i}`, 'x'])),
);
const BAD_RECORDS: [string, string, string][] = [
  ['not JSON', '{"NAME":', 'body'],
  ['truncated JSON', '{"NAME":"Ada"', 'body'],
  ['an array where an object is expected', '[{"NAME":"Ada"}]', 'body'],
  ['null', 'null', 'body'],
  ['a string', '"Ada"', 'body'],
  ['a number', '42', 'body'],
  ['an empty object', '{}', 'body'],
  ['a nested object value', '{"NAME":{"first":"Ada"}}', 'body.NAME'],
  ['an array value', '{"TAGS":["a","b"]}', 'body.TAGS'],
  // An invalid field code is named by position and length, never quoted (it may be a contact's data).
  ['a field code with a space', '{"FIRST NAME":"Ada"}', 'body: field code number 1 (10 characters)'],
  ['an empty field code', '{"":"Ada"}', 'body: field code number 1 (0 characters)'],
  ['a field code with a dot', '{"NAME":"x","A.B":"x"}', 'body: field code number 2 (3 characters)'],
  ['a non-ASCII field code', '{"NOMBRE_Ñ":"Ada"}', 'body: field code number 1 (8 characters)'],
  ['a 65-character field code', `{"${'C'.repeat(65)}":"x"}`, 'body: field code number 1 (65 characters)'],
  ['a value over 4000 characters', `{"NOTE":"${'x'.repeat(4001)}"}`, 'body.NOTE'],
  ['201 fields', tooManyFields, 'body'],
];
for (const route of ['start-data', 'start-data-by-project'] as const) {
  for (const [what, body, names] of BAD_RECORDS) {
    add(`${route} body: ${what}`, { ...VALID[route], body }, 400, 9400, names);
  }
}
for (const [what, body, names] of BAD_RECORDS.filter(([what]) => what !== 'an empty object')) {
  add(`start-record body: ${what}`, { ...VALID['start-record'], body }, 400, 9400, names);
}

// Batches.
const eleven = JSON.stringify(Array.from({ length: 11 }, (_, i) => ({ NAME: `P${i}` })));
const BAD_BATCHES: [string, string, string][] = [
  ['0 records', '[]', 'not 0'],
  ['11 records', eleven, 'not 11'],
  ['an object where an array is expected', '{"NAME":"Ada"}', 'body'],
  ['not JSON', '[{"NAME":"Ada"},', 'body'],
  ['a number as record 1', '[{"NAME":"Ada"},5]', 'body[1]'],
  ['an array as record 0', '[["NAME","Ada"]]', 'body[0]'],
  ['an empty record 1', '[{"NAME":"Ada"},{}]', 'body[1]'],
  [
    'a bad field code in record 2',
    '[{"NAME":"Ada"},{"NAME":"Alan"},{"A B":"x"}]',
    'body[2]: field code number 1',
  ],
  ['a nested value in record 0', '[{"NAME":{"x":"y"}}]', 'body[0].NAME'],
];
for (const [what, body, names] of BAD_BATCHES) {
  add(`start-batch body: ${what}`, { ...VALID['start-batch'], body }, 400, 9400, names);
}

// Content types, sizes and bodies where none belongs, for every route that takes a body.
const BODY_ROUTES = ['start-data', 'start-data-by-project', 'start-record', 'start-batch'] as const;
const bigBody = JSON.stringify({ NOTE: 'x'.repeat(MAX_BODY_BYTES) });
for (const route of BODY_ROUTES) {
  const valid = VALID[route];
  add(
    `${route} Content-Type text/plain`,
    { ...valid, headers: { 'Content-Type': 'text/plain' } },
    415,
    9415,
    'Content-Type',
  );
  add(`${route} no Content-Type`, { ...valid, headers: {} }, 415, 9415, 'Content-Type');
  add(
    `${route} form Content-Type`,
    { ...valid, headers: { 'Content-Type': 'application/x-www-form-urlencoded' } },
    415,
    9415,
    'Content-Type',
  );
  add(`${route} body over the cap`, { ...valid, body: bigBody }, 413, 9413, 'body');
  add(
    `${route} X-DEBUG=yes`,
    { ...valid, headers: { ...valid.headers, 'X-DEBUG': 'yes' } },
    400,
    9400,
    'X-DEBUG',
  );
}
add(
  'start-list with a body',
  { ...VALID['start-list'], headers: JSON_TYPE, body: '{"NAME":"Ada"}' },
  400,
  9400,
  'body',
);
add(
  'get-contact-data with a body',
  { ...VALID['get-contact-data'], headers: JSON_TYPE, body: '{}' },
  400,
  9400,
  'body',
);
add('start-list X-DEBUG=2', { ...VALID['start-list'], headers: { 'X-DEBUG': '2' } }, 400, 9400, 'X-DEBUG');

describe('bad input on every route', () => {
  let sandbox: Sandbox;
  let gateway: Gateway;

  beforeAll(async () => {
    sandbox = await startSandbox();
    const jobs = new MemoryJobStore();
    await jobs.createJob({
      jobId: KNOWN_JOB,
      source: 'api',
      operation: { kind: 'data', conversationId: 1001 },
      name: 'start-data',
    });
    gateway = await freshGateway(sandbox, '1.0', { jobs: { jobs, aliases: new MemoryAliasStore() } });
  });
  afterAll(async () => {
    rememberCredentialsSeenBy(sandbox);
    await gateway.close();
    await sandbox.close();
  });
  beforeEach(() => sandbox.reset());

  // Without this, "the sandbox received nothing" would prove nothing.
  it.each((Object.keys(VALID) as OperationName[]).filter((route) => routeSpec(route).callsDana))(
    'the valid %s request reaches the sandbox',
    async (route) => {
      if (route === 'start-record' || route === 'get-contact-data') {
        await rawRequest(gateway.url, VALID['start-data']); // creates record 3663 (and link code lc-3663) first
        sandbox.reset();
      }
      const answer = await rawRequest(gateway.url, VALID[route]);
      expect(answer.status).toBe(200);
      expect(sandbox.received()).toHaveLength(1);
    },
  );

  // get-job never calls DANAConnect: its valid request is answered from the job store.
  it('the valid get-job request is answered 200 from the job store', async () => {
    const answer = await rawRequest(gateway.url, VALID['get-job']);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.text)).toMatchObject({ jobId: KNOWN_JOB, state: 'ingesting' });
    expect(sandbox.received()).toEqual([]);
  });

  // The alias API never calls DANAConnect: its valid requests are answered from the alias store.
  it('the valid alias requests are answered 200 and 204 from the alias store, nothing upstream', async () => {
    const answers = [];
    for (const route of ['put-alias', 'get-alias', 'list-aliases', 'delete-alias'] as const) {
      answers.push((await rawRequest(gateway.url, VALID[route])).status);
    }
    expect(answers).toEqual([200, 200, 200, 204]);
    expect(sandbox.received()).toEqual([]);
  });

  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const answer = await rawRequest(gateway.url, c.request);
    expect(answer.status).toBe(c.status);
    expect(answer.headers['content-type']).toBe('application/json');
    expect(answer.headers['x-request-id']).toBeTruthy();
    const body = JSON.parse(answer.text) as { wsError: { idError: number; errorDescription: string } };
    expect(body.wsError.idError).toBe(c.idError);
    expect(body.wsError.errorDescription).toContain(c.names);
    expect(sandbox.received()).toEqual([]);
  });

  it('covers every route', () => {
    const routesHit = new Set(
      cases.map((c) => (Object.keys(VALID) as OperationName[]).find((r) => c.name.startsWith(`${r} `))),
    );
    expect([...routesHit].sort()).toEqual(Object.keys(VALID).sort());
  });
});
