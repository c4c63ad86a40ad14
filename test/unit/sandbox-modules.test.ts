/** The sandbox's modules on their own, without HTTP: state, auth, routes, operations, faults, mix, control. */
import { describe, expect, it } from 'vitest';
import { Credentials, DEMO_CLIENT, DEMO_USER } from '../../local/sandbox/auth';
import { controlAnswer } from '../../local/sandbox/control';
import { injectedError, WS_ERRORS } from '../../local/sandbox/envelopes';
import { FaultInjector } from '../../local/sandbox/faults';
import { drawMix, MIX_KINDS, seededRandom, validateMix } from '../../local/sandbox/mix';
import { performCall, rowsOf, type ApiCall } from '../../local/sandbox/operations';
import { matchRoute, parseIdSegment, routeOf } from '../../local/sandbox/routes';
import { canonical, SandboxState } from '../../local/sandbox/state';
import { RateLimiter } from '../../local/sandbox/throttle';
import type { Sandbox } from '../../local/sandbox/types';

const BASIC =
  'Basic ' +
  Buffer.from(`${DEMO_USER.username}@${DEMO_USER.companyCode}:${DEMO_USER.password}`).toString('base64');
const CLIENT_BASIC =
  'Basic ' + Buffer.from(`${DEMO_CLIENT.clientId}:${DEMO_CLIENT.clientSecret}`).toString('base64');
const TOKEN_FORM = 'grant_type=client_credentials&scope=conversation%3Aaccess2api';

describe('state', () => {
  it('numbers records from firstRecordId, gives each a link code, and keeps them over reset', () => {
    const state = new SandboxState({ firstRecordId: 10 });
    expect(state.createRecord({ A: '1' })).toBe(10);
    expect(state.createRecord({ A: '2' })).toBe(11);
    expect(state.recordByLinkCode('lc-11')).toEqual({ A: '2' });
    state.addLinkCode('mine', 10);
    expect(state.recordByLinkCode('mine')).toEqual({ A: '1' });
    expect(() => state.addLinkCode('x', 99)).toThrow(/unknown record/);
    state.reset();
    expect(state.records().size).toBe(2);
  });

  it('counts starts per contact key and reports duplicates; reset forgets them', () => {
    const state = new SandboxState();
    const contact = { via: 'data' as const, conversationId: 1001, recordId: 1, fields: { B: '2', A: '1' } };
    state.logStart(contact, canonical(contact.fields));
    state.logStart(contact, canonical({ A: '1', B: '2' }));
    state.logStart({ ...contact, via: 'list', recordId: 0, fields: {} }, 'list:1001');
    expect(state.startedCount).toBe(3);
    expect(state.duplicates()).toEqual(['{"A":"1","B":"2"}']);
    state.reset();
    expect(state.started()).toEqual([]);
    expect(state.startCounts().size).toBe(0);
  });

  it('knows the default conversations and projects', () => {
    const state = new SandboxState();
    expect([...state.conversations]).toEqual([1001, 1002, 1003]);
    expect(state.projects.get(77)).toBe(1001);
  });
});

describe('auth', () => {
  it('1.0 takes Basic user@company:password; 2.0 takes tokens from the token endpoint', () => {
    const credentials = new Credentials();
    expect(credentials.authorize('1.0', BASIC)).toBe(true);
    expect(credentials.authorize('2.0', BASIC)).toBe(false);
    const answer = credentials.tokenEndpoint('POST', CLIENT_BASIC, TOKEN_FORM);
    expect(answer.status).toBe(200);
    const { access_token } = JSON.parse(answer.body) as { access_token: string };
    expect(credentials.authorize('2.0', `Bearer ${access_token}`)).toBe(true);
    credentials.setClientSecret(DEMO_CLIENT.clientId, 'other');
    expect(credentials.authorize('2.0', `Bearer ${access_token}`)).toBe(false);
    expect(credentials.tokenEndpoint('POST', CLIENT_BASIC, TOKEN_FORM).status).toBe(401);
  });

  it('password rotation takes effect at once', () => {
    const credentials = new Credentials();
    credentials.setUserPassword(DEMO_USER.username, 'new');
    expect(credentials.authorize('1.0', BASIC)).toBe(false);
    expect(() => credentials.setUserPassword('nobody', 'x')).toThrow(/unknown user/);
  });
});

describe('routes', () => {
  it('matches the six operations and nothing else', () => {
    expect(matchRoute(['conversation', '1', 'start', 'list'])?.name).toBe('list');
    expect(matchRoute(['conversation', '1', 'start', 'data'])?.name).toBe('one');
    expect(matchRoute(['conversation', '1', 'start', 'list', 'data'])?.name).toBe('batch');
    expect(matchRoute(['conversation', '1', 'start', 'record', '5'])?.name).toBe('record');
    expect(matchRoute(['conversation', 'ProjectID', '7', 'start', 'data'])?.name).toBe('project');
    expect(matchRoute(['conversation', 'data', 'code'])).toEqual({ name: 'data', method: 'GET' });
    expect(matchRoute(['conversation', '1', 'start'])).toBeUndefined();
    expect(routeOf('POST', '/api/2.0/rest/conversation/1/start/list/data')).toBe('batch');
    expect(routeOf('GET', '/api/2.0/rest/conversation/1/start/list/data')).toBeUndefined();
    expect(routeOf('POST', '/api/1.0/rest/conversation/%E0/start/list')).toBeUndefined();
  });

  it('takes ids 1..2^31-1 without signs, zeros or spaces', () => {
    expect(parseIdSegment('2147483647')).toBe(2147483647);
    for (const bad of ['0', '01', '-1', '2147483648', ' 1', '1e3'])
      expect(parseIdSegment(bad)).toBeUndefined();
  });
});

describe('operations', () => {
  const ctx = () => ({ state: new SandboxState(), credentials: new Credentials() });
  const call = (rawPath: string, body: unknown): ApiCall => ({
    method: 'POST',
    rawPath,
    query: new URLSearchParams(),
    authorization: BASIC,
    contentType: 'application/json',
    rawBody: JSON.stringify(body),
  });

  it('a batch limit processes only the first records', () => {
    const c = ctx();
    const batch = [{ A: '1' }, { A: '2' }, { A: '3' }];
    const answer = performCall(c, call('/api/1.0/rest/conversation/1001/start/list/data', batch), () => 2);
    expect(JSON.parse(answer.body)).toHaveLength(2);
    expect(c.state.started().map((s) => s.fields.A)).toEqual(['1', '2']);
  });

  it('refuses a bad conversation before starting anyone', () => {
    const c = ctx();
    const answer = performCall(c, call('/api/1.0/rest/conversation/999/start/data', { A: '1' }));
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body)).toMatchObject({ wsError: { idError: WS_ERRORS.unknownConversation } });
    expect(c.state.startedCount).toBe(0);
  });

  it('counts the rows a start call carries', () => {
    expect(rowsOf('batch', '[{},{},{}]')).toBe(3);
    expect(rowsOf('batch', 'not json')).toBe(0);
    expect(rowsOf('one', '{}')).toBe(1);
    expect(rowsOf('list', '')).toBe(1);
    expect(rowsOf('data', '')).toBe(0);
  });
});

describe('fault injector', () => {
  it('takes faults in order, consuming counts, and counts what it injected', () => {
    const faults = new FaultInjector();
    faults.set({
      failNext: { count: 1, status: 503 },
      dropNext: { count: 1 },
      nonJsonNext: 1,
    });
    expect(faults.take({ batch: false })).toMatchObject({ kind: 'dropNext', type: 'drop' });
    expect(faults.take({ batch: false })).toMatchObject({ kind: 'failNext', answer: { status: 503 } });
    expect(faults.take({ batch: false })).toMatchObject({ kind: 'nonJsonNext', afterProcessing: true });
    expect(faults.take({ batch: false })).toBeUndefined();
    expect(faults.stats().injected).toEqual({ dropNext: 1, failNext: 1, nonJsonNext: 1 });
  });

  it('partialBatchNext is taken by batch calls only', () => {
    const faults = new FaultInjector();
    faults.set({ partialBatchNext: { count: 1, startFirst: 4 } });
    expect(faults.take({ batch: false })).toBeUndefined();
    const fault = faults.take({ batch: true });
    expect(fault).toMatchObject({ kind: 'partialBatchNext', afterProcessing: true, answer: { status: 500 } });
    expect(fault?.batchLimit?.(10)).toBe(4);
    expect(faults.take({ batch: true })).toBeUndefined();
  });

  it('does not change the caller’s faults object, and reset clears faults and statistics', () => {
    const faults = new FaultInjector();
    const given = { failNext: { count: 1, status: 500 } };
    faults.set(given);
    faults.take({ batch: false });
    faults.noteAmbiguous(3, 2);
    expect(given.failNext.count).toBe(1);
    expect(faults.stats()).toEqual({
      injected: { failNext: 1 },
      ambiguousCalls: 1,
      ambiguousRows: 3,
      startedByAmbiguous: 2,
    });
    faults.reset();
    expect(faults.current).toEqual({});
    expect(faults.stats()).toEqual({
      injected: {},
      ambiguousCalls: 0,
      ambiguousRows: 0,
      startedByAmbiguous: 0,
    });
  });

  it('an injected error is a wsError by default, verbatim with a body, empty with ""', () => {
    expect(JSON.parse(injectedError(429).body)).toMatchObject({ wsError: { idError: WS_ERRORS.throttled } });
    expect(injectedError(502, '')).toEqual({ status: 502, body: '', headers: {} });
    expect(injectedError(500, '{}', 2).headers).toEqual({
      'Retry-After': '2',
      'Content-Type': 'application/json',
    });
  });
});

describe('mix', () => {
  it('the PRNG repeats its sequence for a seed and differs between seeds', () => {
    const a = seededRandom(9);
    const b = seededRandom(9);
    const c = seededRandom(10);
    const take = (r: () => number) => Array.from({ length: 5 }, r);
    const first = take(a);
    expect(take(b)).toEqual(first);
    expect(take(c)).not.toEqual(first);
    expect(first.every((x) => x >= 0 && x < 1)).toBe(true);
  });

  it('draws each outcome at about its share', () => {
    const random = seededRandom(123);
    const p = Object.fromEntries(MIX_KINDS.map((k) => [k, 0.1]));
    const counts: Record<string, number> = {};
    for (let i = 0; i < 10_000; i++) {
      const kind = drawMix(random, p, true)?.kind ?? 'none';
      counts[kind] = (counts[kind] ?? 0) + 1;
    }
    for (const kind of MIX_KINDS) expect(counts[kind]).toBeGreaterThan(800);
    expect(counts.none).toBeGreaterThan(1600);
  });

  it('partialBatch applies to batch calls only, starting 0..n-1 records', () => {
    const random = seededRandom(1);
    expect(drawMix(random, { partialBatch: 1 }, false)).toBeUndefined();
    for (let i = 0; i < 50; i++) {
      const fault = drawMix(random, { partialBatch: 1 }, true);
      const k = fault!.batchLimit!(10);
      expect(k).toBeGreaterThanOrEqual(0);
      expect(k).toBeLessThan(10);
    }
  });

  it('validates seed and shares', () => {
    expect(() => validateMix({ seed: 1, p: { status429: 0.5, status503: 0.5 } })).not.toThrow();
    expect(() => validateMix({ seed: Number.NaN, p: {} })).toThrow(/seed/);
    expect(() => validateMix({ seed: 1, p: [] })).toThrow(/p must be an object/);
    expect(() => validateMix({ seed: 1, p: { status429: -0.1 } })).toThrow(/0 to 1/);
  });
});

describe('rate limiter', () => {
  it('allows `limit` calls per sliding second', () => {
    const limiter = new RateLimiter(2);
    expect([0, 10, 20].map((t) => limiter.throttled(t))).toEqual([false, false, true]);
    expect(limiter.throttled(1000)).toBe(false);
    expect(new RateLimiter(undefined).throttled()).toBe(false);
  });
});

describe('control', () => {
  const stub = {
    faultStats: () => ({ injected: { failNext: 1 } }),
    reset: () => undefined,
  } as unknown as Sandbox;

  it('maps GET and POST endpoints onto the sandbox, 404 otherwise', () => {
    expect(JSON.parse(controlAnswer(stub, 'GET', 'fault-stats', '').body)).toEqual({
      injected: { failNext: 1 },
    });
    expect(controlAnswer(stub, 'POST', 'reset', '{}').status).toBe(204);
    expect(controlAnswer(stub, 'GET', 'reset', '').status).toBe(404);
    expect(controlAnswer(stub, 'GET', 'toString', '').status).toBe(404);
    expect(controlAnswer(stub, 'POST', 'faults', '{').status).toBe(400);
  });
});
