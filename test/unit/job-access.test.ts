/**
 * The job ownership rule (lambdas/core/job-access.ts), who the gateway says a caller is (callerOf: operators from a
 * Cognito authorizer only), and the jobs-list cursor (lambdas/core/job-list.ts): sealed, bound to caller and filter.
 */
import { randomBytes } from 'node:crypto';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import {
  callerOfPrincipalArn,
  listOwners,
  mayReadJob,
  parseJobReaders,
  SHARED_OWNER,
} from '../../lambdas/core/job-access';
import { decodeJobCursor, encodeJobCursor, parseJobListQuery } from '../../lambdas/core/job-list';
import { callerOf } from '../../lambdas/http/request';

const context = (requestContext: Record<string, unknown>) =>
  ({ requestContext }) as unknown as Pick<APIGatewayProxyEvent, 'requestContext'>;

describe('callerOf', () => {
  it('an operator only from a Cognito user pool authorizer’s claims (sub and a cognito-idp issuer)', () => {
    const iss = 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC';
    expect(callerOf(context({ authorizer: { claims: { sub: 'u-1', iss } }, identity: {} }))).toBe(
      'operator:u-1',
    );
    expect(
      callerOf(
        context({ authorizer: { claims: { sub: 'u-1', iss: 'https://evil.example' } }, identity: {} }),
      ),
    ).toBeUndefined();
    expect(callerOf(context({ authorizer: { claims: { iss } }, identity: {} }))).toBeUndefined();
    expect(
      callerOf(context({ authorizer: { principalId: 'x' }, identity: { userArn: 'arn:aws:iam::1:user/a' } })),
    ).toBe('iam:arn:aws:iam::1:user/a');
  });
});

describe('jobReaders', () => {
  it('a role ARN stands for every session of the role, as callerOf names them; a user for itself', () => {
    expect(callerOfPrincipalArn('arn:aws:iam::123456789012:role/ops/Auditor')).toBe(
      'iam:arn:aws:sts::123456789012:assumed-role/Auditor',
    );
    expect(callerOfPrincipalArn('arn:aws:sts::123456789012:assumed-role/Auditor/s-1')).toBe(
      'iam:arn:aws:sts::123456789012:assumed-role/Auditor',
    );
    expect(callerOfPrincipalArn('arn:aws:iam::123456789012:user/ci')).toBe(
      'iam:arn:aws:iam::123456789012:user/ci',
    );
    for (const bad of ['arn:aws:iam::123456789012:group/Ops', 'Auditor', 'arn:aws:iam::1:role/x', '*'])
      expect(callerOfPrincipalArn(bad), bad).toBeUndefined();
    expect(() => parseJobReaders('arn:aws:iam::123456789012:user/ci,nonsense')).toThrow(/entry 2/);
    expect(parseJobReaders(undefined).size).toBe(0);
  });

  it('owners read their own jobs; readers and operators the ownerless ones; nobody else anything', () => {
    const readers = new Set(['iam:reader']);
    const own = { owner: 'iam:alice' };
    const upload = {};
    expect(mayReadJob({ caller: 'iam:alice', readers }, own)).toBe(true);
    expect(mayReadJob({ caller: 'iam:bob', readers }, own)).toBe(false);
    expect(mayReadJob({ caller: 'iam:reader', readers }, own)).toBe(false);
    expect(mayReadJob({ caller: 'operator:o', readers }, own)).toBe(false);
    expect(mayReadJob({ caller: 'iam:reader', readers }, upload)).toBe(true);
    expect(mayReadJob({ caller: 'operator:o', readers }, upload)).toBe(true);
    expect(mayReadJob({ caller: 'iam:alice', readers }, upload)).toBe(false);
    expect(mayReadJob({ caller: undefined, readers }, upload)).toBe(false);
    expect(listOwners({ caller: 'iam:alice', readers })).toEqual(['iam:alice']);
    expect(listOwners({ caller: 'operator:o', readers })).toEqual(['operator:o', SHARED_OWNER]);
  });
});

describe('jobs list cursor', () => {
  const key = randomBytes(32);
  const position = '2026-11-01T08:00:01.000Z#' + 'a'.repeat(32);

  it('round-trips for the same caller and filter, and for nobody else', () => {
    const cursor = encodeJobCursor(key, position, 'iam:alice', 'done');
    expect(decodeJobCursor(key, cursor, 'iam:alice', 'done')).toBe(position);
    expect(() => decodeJobCursor(key, cursor, 'iam:bob', 'done')).toThrow(/cursor/);
    expect(() => decodeJobCursor(key, cursor, 'iam:alice', undefined)).toThrow(/cursor/);
    expect(() => decodeJobCursor(randomBytes(32), cursor, 'iam:alice', 'done')).toThrow(/cursor/);
    expect(encodeJobCursor(key, position, 'iam:alice', 'done')).not.toBe(cursor); // a fresh nonce each time
  });

  it('query: limit 1..100 (default 25), a known state, a cursor of base64url characters', () => {
    expect(parseJobListQuery({})).toEqual({ limit: 25 });
    expect(parseJobListQuery({ limit: '100', state: 'running' })).toEqual({ limit: 100, state: 'running' });
    for (const query of [
      { limit: '0' },
      { limit: '1.5' },
      { state: 'Done' },
      { cursor: 'a b' },
      { cursor: '' },
    ])
      expect(() => parseJobListQuery(query), JSON.stringify(query)).toThrow();
  });
});
