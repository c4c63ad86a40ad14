/**
 * The local gateway in reach of a web page (issue 14, item 2): a page a developer opens while `npm start` runs
 * may send a simple cross-site POST (with its own `Origin`) or, through DNS rebinding, requests whose `Host` is the
 * attacker's name. The gateway refuses both with 403 (9403) before any route or handler runs, so nothing reaches
 * DANAConnect; loopback names with the gateway's port, and its own origin, are served.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Gateway } from '../../local/gateway';
import { startSandbox, type Sandbox } from '../../local/sandbox/server';
import { rememberCredentialsSeenBy } from '../audit/sensitive';
import { existingRecords, freshGateway, rawRequest } from '../fixtures/http';

let sandbox: Sandbox;
let gateway: Gateway;
const lines: string[] = [];
const port = () => new URL(gateway.url).port;
const LIST = '/api/1.0/rest/conversation/1001/start/list';
const READ = '/api/1.0/rest/conversation/data/lc-3663?fields=NAME,EMAIL';

beforeAll(async () => {
  sandbox = await startSandbox();
  gateway = await freshGateway(sandbox, '1.0', {
    log: (line) => {
      lines.push(line);
      console.log(line);
    },
  });
  await existingRecords(sandbox, { NAME: 'Ada', EMAIL: 'ada.rebind@example.com' });
});
afterAll(async () => {
  rememberCredentialsSeenBy(sandbox);
  await gateway.close();
  await sandbox.close();
});
beforeEach(() => {
  rememberCredentialsSeenBy(sandbox);
  sandbox.reset();
  lines.length = 0;
});

/** The API calls the sandbox received (token calls aside). */
const upstreamCalls = () => sandbox.received().filter((r) => r.path.startsWith('/api/'));

function expectRefused(answer: { status: number; text: string }): void {
  expect(answer.status).toBe(403);
  expect(JSON.parse(answer.text)).toMatchObject({ wsError: { idError: 9403 } });
}

describe('a cross-site request (Origin of another site)', () => {
  it('does not start a list: 403 9403, nothing sent upstream', async () => {
    const answer = await rawRequest(gateway.url, {
      method: 'POST',
      path: LIST,
      headers: { Origin: 'https://attacker.example' },
    });
    expectRefused(answer);
    expect(upstreamCalls()).toEqual([]);
  });

  it('is refused for every origin that is not the gateway’s own', async () => {
    for (const origin of [
      'null',
      `https://127.0.0.1:${port()}`,
      `http://127.0.0.1:${Number(port()) + 1}`,
      'http://127.0.0.1',
      `http://attacker.example:${port()}`,
      `http://127.0.0.1:${port()}.attacker.example`,
    ]) {
      expectRefused(
        await rawRequest(gateway.url, { method: 'POST', path: LIST, headers: { Origin: origin } }),
      );
    }
    expect(upstreamCalls()).toEqual([]);
  });

  it('is served from the gateway’s own origin (the console it serves), and without any Origin', async () => {
    for (const origin of [`http://127.0.0.1:${port()}`, `http://localhost:${port()}`]) {
      const answer = await rawRequest(gateway.url, {
        method: 'POST',
        path: LIST,
        headers: { Origin: origin },
      });
      expect(answer.status, origin).toBe(200);
    }
    expect((await rawRequest(gateway.url, { method: 'POST', path: LIST })).status).toBe(200);
  });
});

describe('a DNS-rebound request (Host of another name)', () => {
  it('does not read contact data: 403 9403, no name or email in the answer, nothing sent upstream', async () => {
    const answer = await rawRequest(gateway.url, {
      method: 'GET',
      path: READ,
      headers: { Host: `rebind.attacker.example:${port()}` },
    });
    expectRefused(answer);
    expect(answer.text).not.toContain('ada.rebind@example.com');
    expect(answer.text).not.toContain('Ada');
    expect(upstreamCalls()).toEqual([]);
  });

  it('is refused for any Host but a loopback name with the gateway’s port, on every path (routed or not)', async () => {
    for (const host of [
      'rebind.attacker.example',
      `127.0.0.1.attacker.example:${port()}`,
      `127.0.0.1:${Number(port()) + 1}`,
      '127.0.0.1',
      `localhost.:${port()}`,
      `0.0.0.0:${port()}`,
      `127.0.0.2:${port()}`,
    ]) {
      for (const path of [READ, '/nowhere', '/jobs/0123456789abcdef0123456789abcdef']) {
        const answer = await rawRequest(gateway.url, { method: 'GET', path, headers: { Host: host } });
        expect(answer.status, `${host} ${path}`).toBe(403);
      }
    }
    expect(upstreamCalls()).toEqual([]);
  });

  it('is refused without any Host (HTTP/1.0)', async () => {
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port()), '127.0.0.1', () => socket.end(`GET ${READ} HTTP/1.0\r\n\r\n`));
      let text = '';
      socket.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    expect(reply).toMatch(/^HTTP\/1\.[01] 403 /);
    expect(reply).toContain('"idError":9403');
    expect(upstreamCalls()).toEqual([]);
  });

  it('serves 127.0.0.1, localhost and [::1] with the gateway’s port (any case)', async () => {
    for (const host of [
      `127.0.0.1:${port()}`,
      `localhost:${port()}`,
      `LocalHost:${port()}`,
      `[::1]:${port()}`,
    ]) {
      const answer = await rawRequest(gateway.url, { method: 'GET', path: READ, headers: { Host: host } });
      expect(answer.status, host).toBe(200);
    }
  });

  it('logs the refusal without the Host or Origin it was sent', async () => {
    await rawRequest(gateway.url, {
      method: 'GET',
      path: READ,
      headers: { Host: 'rebind.attacker.example', Origin: 'https://attacker.example' },
    });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^GET \(refused: not loopback\) 403 \d+ms$/);
  });
});
