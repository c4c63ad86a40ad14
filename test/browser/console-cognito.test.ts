/**
 * The console's AWS sign-in (console/src/cognito.ts) in chromium, against a stand-in for Cognito's hosted sign-in on
 * another loopback origin: the page sends the browser to /oauth2/authorize with an S256 PKCE challenge and a state,
 * comes back with a code, trades it (with the verifier) at /oauth2/token, keeps the ID token in sessionStorage only,
 * sends it as Authorization to /console/api, and asks to sign in again when the API answers 401. The page is
 * served as the AWS function serves it (consolePage with auth `cognito`, the CSP widened to the sign-in origin).
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildConsole, type ConsoleAssets } from '../../console/build';
import { consolePage, consoleSecurityHeaders } from '../../console/page';
import { CHROMIUM_PATH, consolePage as openPage, launchChromium } from './console-harness';

const noBrowser = !CHROMIUM_PATH && !process.env.CI;
const ID_TOKEN = 'id-token-for-ada';

let browser: Browser;
let assets: ConsoleAssets;
let pageServer: Server;
let signInServer: Server;
let pageOrigin = '';
let signInOrigin = '';
let tokenAccepted = true;
const authorizeQueries: URLSearchParams[] = [];
const tokenForms: URLSearchParams[] = [];
const apiAuthorizations: (string | undefined)[] = [];

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const bodyOf = (req: IncomingMessage) =>
  new Promise<string>((resolve) => {
    let text = '';
    req.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
    req.on('end', () => resolve(text));
  });

function servePage(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', pageOrigin);
  const headers = consoleSecurityHeaders([signInOrigin]);
  if (url.pathname.startsWith('/console/api/')) {
    apiAuthorizations.push(req.headers.authorization);
    const ok = tokenAccepted && req.headers.authorization === ID_TOKEN;
    res.writeHead(ok ? 200 : 401, { 'Content-Type': 'application/json' });
    res.end(ok ? '{"aliases":[]}' : '{"message":"Unauthorized"}');
    return;
  }
  const name = url.pathname === '/console/' ? 'index.html' : url.pathname.replace('/console/', '');
  const asset = assets.get(name);
  if (!asset) {
    res.writeHead(404, headers).end();
    return;
  }
  const body =
    name === 'index.html'
      ? consolePage(asset.body, {
          apiBase: '/console/api',
          auth: 'cognito',
          authDomain: signInOrigin,
          clientId: 'client-1',
        })
      : asset.body;
  res.writeHead(200, { ...headers, 'Content-Type': asset.contentType }).end(body);
}

/** Cognito's hosted sign-in, as far as the page uses it: authorize (a redirect with a code) and token. */
async function serveSignIn(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', signInOrigin);
  if (url.pathname === '/oauth2/authorize') {
    authorizeQueries.push(url.searchParams);
    const back = new URL(url.searchParams.get('redirect_uri')!);
    back.searchParams.set('code', 'code-1');
    back.searchParams.set('state', url.searchParams.get('state')!);
    res.writeHead(302, { Location: back.href }).end();
    return;
  }
  if (url.pathname === '/oauth2/token' && req.method === 'POST') {
    const form = new URLSearchParams(await bodyOf(req));
    tokenForms.push(form);
    const challenge = authorizeQueries.at(-1)?.get('code_challenge');
    const verified =
      form.get('code') === 'code-1' &&
      createHash('sha256')
        .update(form.get('code_verifier') ?? '')
        .digest('base64url') === challenge;
    res.writeHead(verified ? 200 : 400, {
      'Content-Type': 'application/json',
      'Access-Control-Allow-Origin': pageOrigin,
    });
    res.end(
      verified
        ? JSON.stringify({ id_token: ID_TOKEN, access_token: 'a', expires_in: 3600, token_type: 'Bearer' })
        : '{"error":"invalid_grant"}',
    );
    return;
  }
  res.writeHead(404).end();
}

describe.skipIf(noBrowser)('signing in to the console through Cognito’s hosted sign-in (PKCE)', () => {
  beforeAll(async () => {
    assets = await buildConsole();
    pageServer = createServer(servePage);
    signInServer = createServer((req, res) => void serveSignIn(req, res));
    [pageOrigin, signInOrigin] = await Promise.all([listen(pageServer), listen(signInServer)]);
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    pageServer?.close();
    signInServer?.close();
  });

  it('signs in with code + PKCE, keeps the token in sessionStorage, sends it, and asks again on 401', async () => {
    const errors: string[] = [];
    const page = await openPage(browser, `${pageOrigin}/console/#/aliases`, errors);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('No aliases yet.').waitFor();

    const authorize = authorizeQueries.at(-1)!;
    expect(authorize.get('response_type')).toBe('code');
    expect(authorize.get('client_id')).toBe('client-1');
    expect(authorize.get('code_challenge_method')).toBe('S256');
    expect(authorize.get('redirect_uri')).toBe(`${pageOrigin}/console/`);
    const token = tokenForms.at(-1)!;
    expect(token.get('grant_type')).toBe('authorization_code');
    expect(token.get('code_verifier')!.length).toBeGreaterThanOrEqual(43);
    expect(apiAuthorizations.at(-1)).toBe(ID_TOKEN);
    expect(page.url()).toBe(`${pageOrigin}/console/#/aliases`); // no code left in the address bar
    const storage = await page.evaluate(() => {
      const g = globalThis as unknown as { localStorage: { length: number }; sessionStorage: object };
      return { local: g.localStorage.length, session: Object.keys(g.sessionStorage) };
    });
    expect(storage).toEqual({ local: 0, session: ['dana-console-id-token'] });

    tokenAccepted = false;
    await page.goto(`${pageOrigin}/console/#/schedules`);
    await page.getByText('Your session has expired.').waitFor();
    await expect
      .poll(() =>
        page.evaluate(
          () => (globalThis as unknown as { sessionStorage: { length: number } }).sessionStorage.length,
        ),
      )
      .toBe(0);
    expect(errors).toEqual([]);
  });
});
