/**
 * The pure rules of Idempotency-Key (lambdas/core/idempotency.ts): scope, canonical fingerprint, the decision;
 * the memory store (the local twin); and what the doorway reads from an API Gateway event to scope a key
 * (lambdas/http/request.ts callerOf, routePathOf).
 */
import { describe, expect, it } from 'vitest';
import { MemoryIdempotencyStore } from '../../lambdas/adapters/memory-idempotency-store';
import { InvalidInputError } from '../../lambdas/core/errors';
import {
  canonicalJson,
  decide,
  idempotencyScope,
  jobIdForKey,
  requestFingerprint,
  type IdempotentRequest,
} from '../../lambdas/core/idempotency';
import { callerOf, routePathOf } from '../../lambdas/http/request';
import { ROUTES } from '../../lambdas/http/routes';
import { apiGatewayEvent } from '../fixtures/events';

const request: IdempotentRequest = {
  caller: 'iam:arn:aws:iam::123456789012:user/a',
  method: 'POST',
  path: '/api/1.0/rest/conversation/1001/start/data',
  key: 'k1',
  body: { NAME: 'Ada', EMAIL: 'ada@example.com' },
};

describe('scope', () => {
  it('is a SHA-256 of caller, method, path and key: any of them changed is another scope', () => {
    const scope = idempotencyScope(request);
    expect(scope).toMatch(/^[0-9a-f]{64}$/);
    expect(idempotencyScope({ ...request })).toBe(scope);
    for (const change of [
      { caller: 'iam:arn:aws:iam::123456789012:user/b' },
      { method: 'PUT' },
      { path: '/api/1.0/rest/conversation/1002/start/data' },
      { key: 'k2' },
    ]) {
      expect(idempotencyScope({ ...request, ...change }), JSON.stringify(change)).not.toBe(scope);
    }
  });

  it('keeps the parts apart: no separator in a caller or key can forge another scope', () => {
    expect(idempotencyScope({ ...request, caller: 'a', key: 'b|c' })).not.toBe(
      idempotencyScope({ ...request, caller: 'a|b', key: 'c' }),
    );
    expect(idempotencyScope({ ...request, caller: 'a","b' })).not.toBe(
      idempotencyScope({ ...request, caller: 'a', key: `b","${request.key}` }),
    );
  });
});

describe('fingerprint', () => {
  it('ignores key order and whitespace, at every depth', () => {
    const a = JSON.parse('{"NAME":"Ada","EMAIL":"ada@example.com","AGE":42}');
    const b = JSON.parse('{ "AGE" : 42 ,\n  "EMAIL":"ada@example.com",\t"NAME" : "Ada" }');
    expect(requestFingerprint(a)).toBe(requestFingerprint(b));
    expect(requestFingerprint([{ B: '1', A: '2' }, { C: null }])).toBe(
      requestFingerprint(JSON.parse('[ {"A":"2","B":"1"} , {"C":null} ]')),
    );
    expect(canonicalJson(b)).toBe('{"AGE":42,"EMAIL":"ada@example.com","NAME":"Ada"}');
  });

  it('changes with any value, with array order, and with types', () => {
    const base = requestFingerprint({ NAME: 'Ada' });
    expect(requestFingerprint({ NAME: 'Ada ' })).not.toBe(base);
    expect(requestFingerprint({ NAME: 'Ada', X: '' })).not.toBe(base);
    expect(requestFingerprint([{ NAME: 'Ada' }])).not.toBe(base);
    expect(requestFingerprint([{ A: '1' }, { A: '2' }])).not.toBe(
      requestFingerprint([{ A: '2' }, { A: '1' }]),
    );
    expect(requestFingerprint({ N: 42 })).not.toBe(requestFingerprint({ N: '42' }));
    expect(requestFingerprint(base)).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('decision', () => {
  const proposed = { jobId: 'a'.repeat(32), fingerprint: 'f1' };
  it('first: our record was stored; repeat: same fingerprint; conflict: another fingerprint', () => {
    expect(decide(proposed, { stored: true })).toEqual({ kind: 'first', jobId: proposed.jobId });
    const held = { jobId: 'b'.repeat(32), fingerprint: 'f1' };
    expect(decide(proposed, { stored: false, existing: held })).toEqual({
      kind: 'repeat',
      jobId: held.jobId,
    });
    expect(decide(proposed, { stored: false, existing: { ...held, fingerprint: 'f2' } })).toEqual({
      kind: 'conflict',
    });
  });

  it('jobIdForKey: a new id first, the same id for a repeat, a 422 naming the header (not the key) for a reuse', async () => {
    const store = new MemoryIdempotencyStore();
    const ids = ['1', '2', '3'].map((d) => d.repeat(32));
    const next = () => ids.shift()!;
    expect(await jobIdForKey(store, request, next)).toEqual({ jobId: '1'.repeat(32), repeat: false });
    const reordered = { ...request, body: { EMAIL: 'ada@example.com', NAME: 'Ada' } };
    expect(await jobIdForKey(store, reordered, next)).toEqual({ jobId: '1'.repeat(32), repeat: true });
    const error = await jobIdForKey(store, { ...request, body: { NAME: 'Grace' } }, next).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(error).toMatchObject({ target: 'Idempotency-Key', code: 'IDEMPOTENCY_KEY_REUSED' });
    expect((error as Error).message).not.toContain(request.key);
  });
});

describe('MemoryIdempotencyStore', () => {
  it('stores the first claim; later ones get it; an expired record is replaced', async () => {
    const clock = { now: Date.UTC(2026, 0, 1) };
    const store = new MemoryIdempotencyStore(() => clock.now, 30);
    const one = { jobId: '1'.repeat(32), fingerprint: 'f' };
    const two = { jobId: '2'.repeat(32), fingerprint: 'f' };
    expect(await store.claim('s', one)).toEqual({ stored: true });
    expect(await store.claim('s', two)).toEqual({ stored: false, existing: one });
    clock.now += 30 * 86_400_000 - 1;
    expect(await store.claim('s', two)).toEqual({ stored: false, existing: one });
    clock.now += 1;
    expect(await store.claim('s', two)).toEqual({ stored: true });
    expect(await store.claim('other', one)).toEqual({ stored: true });
    expect(store.size).toBe(2);
  });

  it('of concurrent claims on one scope exactly one is stored', async () => {
    const store = new MemoryIdempotencyStore();
    const claims = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        store.claim('s', { jobId: String(i).padStart(32, '0'), fingerprint: 'f' }),
      ),
    );
    expect(claims.filter((c) => c.stored)).toHaveLength(1);
  });
});

describe('what a key is scoped to, read from the API Gateway event', () => {
  const withIdentity = (identity: Record<string, unknown>) => {
    const event = apiGatewayEvent('start-data');
    Object.assign(event.requestContext.identity, { userArn: null, apiKeyId: null, ...identity });
    return event;
  };

  it('the IAM principal with SigV4, else the API key id; nobody when neither is there', () => {
    expect(callerOf(apiGatewayEvent('start-data'))).toBe('iam:arn:aws:iam::123456789012:user/dana-caller');
    expect(callerOf(withIdentity({ apiKeyId: 'abc123' }))).toBe('api-key:abc123');
    expect(callerOf(withIdentity({}))).toBeUndefined();
    // The IAM principal wins over a usage plan's key: it is who signed.
    expect(callerOf(withIdentity({ userArn: 'arn:aws:iam::1:user/u', apiKeyId: 'k' }))).toBe(
      'iam:arn:aws:iam::1:user/u',
    );
  });

  it("an assumed role is the role, whatever the session's name (it changes with every credential refresh)", () => {
    const session = (name: string) =>
      callerOf(withIdentity({ userArn: `arn:aws:sts::123456789012:assumed-role/Caller/${name}` }));
    expect(session('i-0abc')).toBe('iam:arn:aws:sts::123456789012:assumed-role/Caller');
    expect(session('botocore-session-1')).toBe(session('botocore-session-2'));
    expect(
      callerOf(withIdentity({ userArn: 'arn:aws:sts::123456789012:assumed-role/Other/i-0abc' })),
    ).not.toBe(session('i-0abc'));
  });

  it('the path is the route with its ids, whatever stage or base path the request came in on', () => {
    const route = ROUTES.find((r) => r.name === 'start-data')!;
    expect(routePathOf(route, { conversationId: '1001' })).toBe('/api/1.0/rest/conversation/1001/start/data');
    const project = ROUTES.find((r) => r.name === 'start-data-by-project')!;
    expect(routePathOf(project, { projectId: '77' })).toBe(
      '/api/1.0/rest/conversation/ProjectID/77/start/data',
    );
    // A parameter can never add a segment (it is refused by the route's validator anyway).
    expect(routePathOf(route, { conversationId: '1/../2' })).toBe(
      '/api/1.0/rest/conversation/1%2F..%2F2/start/data',
    );
  });
});
