/**
 * The operator console in the stack (issue 13, docs/CONSOLE.md): a Cognito user pool (admin-created users only,
 * TOTP MFA required by default, optional by config, never SMS), hosted sign-in with a public app client on the
 * authorization code grant (PKCE; no secret, no implicit grant) whose only callback is the console; every operator
 * route again under /console/api behind the Cognito authorizer, reaching the same function as its IAM route; the
 * page itself public, answered with the security headers; nothing of it with `console.enabled: false`; cdk-nag
 * clean. Bundling is skipped (test/infra/synth.ts): the page's files are built here for the handler's test.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTES } from '../../lambdas/http/routes';
import { parseGatewayConfig } from '../../infra/config';
import { CONSOLE_API_PREFIX, isOperatorRoute } from '../../infra/constructs/operator-console';
import {
  logicalIdOf,
  props,
  reportedViolations,
  resourcesOf,
  synthGateway,
  type Json,
  type Synthesized,
} from './synth';

let s: Synthesized;
beforeAll(() => {
  s = synthGateway({ scheduledStarts: [] });
});

const one = (type: string): Json => {
  const all = Object.values(resourcesOf(s.template, type));
  expect(all, type).toHaveLength(1);
  return props(all[0]!);
};

/** Each API Gateway method with its full path, from the resources' PathPart chain. */
function methodsByPath(synth: Synthesized): { path: string; method: Json }[] {
  const resources = resourcesOf(synth.template, 'AWS::ApiGateway::Resource');
  const pathOf = (ref: unknown): string => {
    const id = (ref as { Ref?: string }).Ref;
    if (!id || !resources[id]) return '';
    const r = props(resources[id]);
    return `${pathOf(r.ParentId)}/${r.PathPart as string}`;
  };
  return Object.values(resourcesOf(synth.template, 'AWS::ApiGateway::Method')).map((m) => ({
    path: pathOf(props(m).ResourceId),
    method: props(m),
  }));
}

describe('the operators’ user pool', () => {
  it('has no self sign-up, TOTP MFA required by default and no SMS', () => {
    const pool = one('AWS::Cognito::UserPool');
    expect(pool.AdminCreateUserConfig).toMatchObject({ AllowAdminCreateUserOnly: true });
    expect(pool.MfaConfiguration).toBe('ON');
    expect(pool.EnabledMfas).toEqual(['SOFTWARE_TOKEN_MFA']);
  });

  it('makes MFA optional when the config says so', () => {
    const optional = synthGateway({ scheduledStarts: [], console: { mfa: 'optional' } });
    const pool = props(Object.values(resourcesOf(optional.template, 'AWS::Cognito::UserPool'))[0]!);
    expect(pool.MfaConfiguration).toBe('OPTIONAL');
    expect(pool.EnabledMfas).toEqual(['SOFTWARE_TOKEN_MFA']);
  });

  it('signs in on a hosted domain with a public client: code grant only, no secret, callback the console', () => {
    expect(one('AWS::Cognito::UserPoolDomain').Domain).toBeDefined();
    const client = one('AWS::Cognito::UserPoolClient');
    expect(client.AllowedOAuthFlows).toEqual(['code']);
    expect(client.AllowedOAuthFlowsUserPoolClient).toBe(true);
    expect(client.GenerateSecret).toBe(false);
    expect(JSON.stringify(client.CallbackURLs)).toContain('/console/');
    expect(client.CallbackURLs as unknown[]).toHaveLength(1);
  });
});

describe('the console API', () => {
  it('puts every operator route under /console/api behind the Cognito authorizer, to the same function', () => {
    const authorizer = one('AWS::ApiGateway::Authorizer');
    expect(authorizer.Type).toBe('COGNITO_USER_POOLS');
    const authorizerId = Object.keys(resourcesOf(s.template, 'AWS::ApiGateway::Authorizer'))[0];
    const methods = methodsByPath(s);
    const operatorRoutes = ROUTES.filter(isOperatorRoute);
    expect(operatorRoutes.map((r) => r.path)).toEqual(
      expect.arrayContaining(['/jobs', '/uploads', '/aliases', '/schedules']),
    );
    for (const route of operatorRoutes) {
      const consoleMethod = methods.find(
        (m) => m.path === `${CONSOLE_API_PREFIX}${route.path}` && m.method.HttpMethod === route.method,
      );
      expect(consoleMethod, `${route.method} ${route.path}`).toBeDefined();
      expect(consoleMethod!.method.AuthorizationType).toBe('COGNITO_USER_POOLS');
      expect(consoleMethod!.method.AuthorizerId).toEqual({ Ref: authorizerId });
      const iamMethod = methods.find((m) => m.path === route.path && m.method.HttpMethod === route.method);
      expect(iamMethod!.method.AuthorizationType, `${route.path} stays as it was`).toBe('AWS_IAM');
      expect(JSON.stringify((consoleMethod!.method.Integration as Json).Uri)).toBe(
        JSON.stringify((iamMethod!.method.Integration as Json).Uri),
      );
    }
    // Nothing under /console/api without the authorizer, and no DANAConnect pass-through route there.
    const underApi = methods.filter(
      (m) => m.path.startsWith(CONSOLE_API_PREFIX) && m.method.HttpMethod !== 'OPTIONS',
    );
    expect(underApi).toHaveLength(operatorRoutes.length);
    expect(underApi.every((m) => m.method.AuthorizationType === 'COGNITO_USER_POOLS')).toBe(true);
  });

  it('serves the page itself without sign-in (it holds no data), from the console function', () => {
    const page = methodsByPath(s).filter((m) => m.path === '/console' || m.path === '/console/{file}');
    expect(page).toHaveLength(2);
    const fn = logicalIdOf(s, s.stack.operatorConsole!.pageFunction.function);
    for (const m of page) {
      expect(m.method.AuthorizationType).toBe('NONE');
      expect(JSON.stringify((m.method.Integration as Json).Uri)).toContain(fn);
    }
  });

  it('is absent with console.enabled false', () => {
    const off = synthGateway({ scheduledStarts: [], console: { enabled: false } });
    expect(Object.keys(resourcesOf(off.template, 'AWS::Cognito::UserPool'))).toHaveLength(0);
    expect(methodsByPath(off).some((m) => m.path.startsWith('/console'))).toBe(false);
  });

  it('leaves cdk-nag with nothing to report', () => {
    expect(reportedViolations(s.assembly)).toEqual([]);
  });
});

describe('config: console.enabled and console.mfa', () => {
  it('default to enabled and required, and refuse anything else, naming the key', () => {
    expect(parseGatewayConfig({}).console).toMatchObject({ enabled: true, mfa: 'required' });
    expect(parseGatewayConfig({ console: { allowedOrigins: [] } }).console).toMatchObject({
      enabled: true,
      mfa: 'required',
    });
    expect(() => parseGatewayConfig({ console: { enabled: 'yes', mfa: 'sms' } })).toThrow(
      /console\.enabled.*\n.*console\.mfa/,
    );
  });
});

describe('the page’s answers in AWS (lambdas/console/handler.ts)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'console-files-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('carry a strict CSP, HSTS, nosniff and no framing, and tell the page where its API and sign-in are', async () => {
    execFileSync('node_modules/.bin/tsx', ['console/build-cli.ts', dir]);
    Object.assign(process.env, {
      CONSOLE_FILES_DIR: dir,
      CONSOLE_AUTH_DOMAIN: 'https://dana-console-prod-1.auth.us-east-1.amazoncognito.com',
      CONSOLE_CLIENT_ID: 'client123',
      CONSOLE_CONNECT_ORIGINS:
        'https://dana-console-prod-1.auth.us-east-1.amazoncognito.com https://jobs.s3.us-east-1.amazonaws.com',
    });
    const { handler } = await import('../../lambdas/console/handler');
    const event = {
      path: '/console/',
      pathParameters: null,
      requestContext: { path: '/prod/console/' },
    } as unknown as APIGatewayProxyEvent;
    const answer = await handler(event);
    expect(answer.statusCode).toBe(200);
    const headers = answer.headers as Record<string, string>;
    expect(headers['Content-Security-Policy']).toMatch(/script-src 'self';/);
    expect(headers['Content-Security-Policy']).toContain("frame-ancestors 'none'");
    expect(headers['Content-Security-Policy']).toContain(
      "connect-src 'self' https://dana-console-prod-1.auth",
    );
    expect(headers['Content-Security-Policy']).not.toContain('unsafe');
    expect(headers['Strict-Transport-Security']).toMatch(/max-age=\d+/);
    expect(headers['X-Content-Type-Options']).toBe('nosniff');
    expect(answer.body).toContain('<meta name="dana-console-api" content="/prod/console/api" />');
    expect(answer.body).toContain('<meta name="dana-console-auth" content="cognito" />');
    expect(answer.body).toContain('content="client123"');
    const script = await handler({
      ...event,
      pathParameters: { file: 'console.js' },
    } as unknown as APIGatewayProxyEvent);
    expect(script.statusCode).toBe(200);
    expect((script.headers as Record<string, string>)['Content-Type']).toMatch(/javascript/);
    const other = await handler({
      ...event,
      pathParameters: { file: '..%2Fetc' },
    } as unknown as APIGatewayProxyEvent);
    expect(other.statusCode).toBe(404);
  });
});
