/** The local gateway's Host/Origin guard (local/loopback-guard.ts), as a pure function. */
import { describe, expect, it } from 'vitest';
import { isLoopbackHost, isOwnOrigin, loopbackRefusal } from '../../local/loopback-guard';

describe('isLoopbackHost', () => {
  it('takes 127.0.0.1, localhost and [::1] with the port, in any case', () => {
    for (const host of ['127.0.0.1:3000', 'localhost:3000', 'LOCALHOST:3000', '[::1]:3000']) {
      expect(isLoopbackHost(host, 3000), host).toBe(true);
    }
  });

  it('takes a loopback name without a port only on port 80', () => {
    expect(isLoopbackHost('localhost', 80)).toBe(true);
    expect(isLoopbackHost('[::1]', 80)).toBe(true);
    expect(isLoopbackHost('localhost', 3000)).toBe(false);
  });

  it('refuses other names, other ports, look-alikes and nothing', () => {
    for (const host of [
      undefined,
      '',
      'rebind.attacker.example:3000',
      '127.0.0.1.nip.io:3000',
      'localhost.:3000',
      'localhost:3001',
      'localhost:03000',
      'localhost:3000:3000',
      '127.0.0.2:3000',
      '0.0.0.0:3000',
      '[::]:3000',
      '[::1]',
      '::1:3000',
    ]) {
      expect(isLoopbackHost(host, 3000), String(host)).toBe(false);
    }
  });
});

describe('isOwnOrigin', () => {
  it('is http:// and a loopback host with the port, nothing more', () => {
    expect(isOwnOrigin('http://127.0.0.1:3000', 3000)).toBe(true);
    expect(isOwnOrigin('http://localhost:3000', 3000)).toBe(true);
    for (const origin of [
      'null',
      'https://127.0.0.1:3000',
      'http://127.0.0.1:3000/',
      'http://127.0.0.1:3001',
      'http://attacker.example',
      'http://127.0.0.1:3000.attacker.example',
      'http://user@127.0.0.1:3000',
    ]) {
      expect(isOwnOrigin(origin, 3000), origin).toBe(false);
    }
  });
});

describe('loopbackRefusal', () => {
  it('serves a loopback Host with no Origin or its own Origin', () => {
    expect(loopbackRefusal({ host: '127.0.0.1:3000' }, 3000)).toBeUndefined();
    expect(
      loopbackRefusal({ host: 'localhost:3000', origin: 'http://localhost:3000' }, 3000),
    ).toBeUndefined();
  });

  it('names the header it refuses, never its value', () => {
    const byHost = loopbackRefusal({ host: 'evil.example:3000' }, 3000);
    expect(byHost).toBe('Host must be 127.0.0.1, localhost or [::1] with port 3000');
    const byOrigin = loopbackRefusal({ host: '127.0.0.1:3000', origin: 'https://evil.example' }, 3000);
    expect(byOrigin).toMatch(/^Origin must be/);
    expect(`${byHost} ${byOrigin}`).not.toContain('evil');
  });

  it('refuses a doubled Origin (node joins repeated Origin headers)', () => {
    const origin = ['http://127.0.0.1:3000', 'https://evil.example'];
    expect(loopbackRefusal({ host: '127.0.0.1:3000', origin }, 3000)).toBeDefined();
    expect(loopbackRefusal({ host: '127.0.0.1:3000', origin: origin.join(', ') }, 3000)).toBeDefined();
  });
});
