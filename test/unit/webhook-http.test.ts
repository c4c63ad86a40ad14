/**
 * The guarded webhook POST (lambdas/adapters/webhook-http.ts) against a loopback receiver: every resolved address
 * is checked before any connection, the connection goes to the checked address (one resolution, no second
 * lookup that a rebinding DNS answer could change), redirects are not followed, and an attempt has a deadline.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADDRESS_REFUSED, postWebhook } from '../../lambdas/adapters/webhook-http';

let server: Server;
let port: number;
const seen: { path: string; host: string }[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push({ path: req.url ?? '', host: req.headers.host ?? '' });
    req.resume();
    if (req.url === '/redirect') res.writeHead(302, { location: '/elsewhere' }).end();
    else if (req.url === '/hang')
      return; // never answers
    else res.writeHead(204).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const post = { headers: { 'content-type': 'application/json' }, body: '{}' };
const local = { allowLoopback: true };

describe('postWebhook', () => {
  it('connects to the address it checked: one resolution, pinned (the name itself resolves nowhere)', async () => {
    const lookups: string[] = [];
    const result = await postWebhook({
      ...post,
      url: `http://receiver.localhost:${port}/hook`,
      rules: local,
      resolve: async (host) => {
        lookups.push(host);
        return ['127.0.0.1'];
      },
    });
    expect(result).toEqual({ status: 204 });
    expect(lookups).toEqual(['receiver.localhost']);
    expect(seen.at(-1)).toEqual({ path: '/hook', host: `receiver.localhost:${port}` });
  });

  it('refuses when any resolved address is private, before connecting', async () => {
    const before = seen.length;
    for (const addresses of [['10.0.0.7'], ['93.184.216.34', '169.254.169.254'], ['::1'], []]) {
      const result = await postWebhook({
        ...post,
        url: `https://hooks.example.com:${port}/hook`,
        resolve: async () => addresses,
      });
      expect(result).toEqual({ errorClass: ADDRESS_REFUSED });
    }
    // Loopback, even allowed locally, must not smuggle a private address in with it.
    const mixed = await postWebhook({
      ...post,
      url: `http://receiver.localhost:${port}/hook`,
      rules: local,
      resolve: async () => ['127.0.0.1', '192.168.1.20'],
    });
    expect(mixed).toEqual({ errorClass: ADDRESS_REFUSED });
    expect(seen.length).toBe(before);
  });

  it('refuses loopback and plain http under the stack’s rules', async () => {
    const before = seen.length;
    expect(await postWebhook({ ...post, url: `http://127.0.0.1:${port}/hook` })).toEqual({
      errorClass: ADDRESS_REFUSED,
    });
    expect(await postWebhook({ ...post, url: `https://127.0.0.1:${port}/hook` })).toEqual({
      errorClass: ADDRESS_REFUSED,
    });
    expect(seen.length).toBe(before);
  });

  it('does not follow a redirect: the 3xx is the attempt’s answer', async () => {
    const before = seen.length;
    const result = await postWebhook({ ...post, url: `http://127.0.0.1:${port}/redirect`, rules: local });
    expect(result).toEqual({ status: 302 });
    expect(seen.slice(before).map((s) => s.path)).toEqual(['/redirect']);
  });

  it('gives up on a receiver that does not answer in time', async () => {
    const result = await postWebhook({
      ...post,
      url: `http://127.0.0.1:${port}/hang`,
      rules: local,
      timeoutMs: 200,
    });
    expect(result).toEqual({ errorClass: 'timeout' });
  });
});
