/**
 * Where a webhook may be sent: `https://` only, and never to an address inside a network (private, loopback,
 * link-local such as the instance metadata service at 169.254.169.254, carrier-grade NAT, multicast, reserved).
 * Checked twice: on the configured URL at synth (a literal address or a local name), and on every address its
 * name resolves to right before each delivery (see ../adapters/webhook-http.ts, which then connects to the
 * checked address only, so a second DNS answer cannot swap it).
 *
 * A local run (`npm start`, tests) may allow loopback: `http://127.0.0.1:…` or `http://localhost:…`; the stack never
 * does.
 */
import { BlockList, isIP } from 'node:net';

export interface AddressRules {
  /** Loopback addresses (127.0.0.0/8, ::1, localhost) and plain http to them: local runs only. */
  allowLoopback?: boolean;
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** Every range that is not the public internet (IPv4-mapped IPv6 addresses are matched by their IPv4 part). */
const NOT_PUBLIC = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.88.99.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  NOT_PUBLIC.addSubnet(net, bits, 'ipv4');
}
for (const [net, bits] of [
  ['::', 128],
  ['::1', 128],
  ['::', 96], // IPv4-compatible (deprecated)
  ['64:ff9b::', 96], // NAT64: could reach any IPv4 address
  ['64:ff9b:1::', 48],
  ['100::', 64], // discard
  ['2001::', 23], // IETF protocol assignments (Teredo, ORCHID…)
  ['2001:db8::', 32], // documentation
  ['2002::', 16], // 6to4: embeds any IPv4 address
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated)
  ['ff00::', 8], // multicast
] as const) {
  NOT_PUBLIC.addSubnet(net, bits, 'ipv6');
}

const LOCAL_NAMES = /(^|\.)(localhost|local|internal|localdomain|home\.arpa)$/i;

/** Why `address` (an IP literal) may not receive webhooks; undefined when it may. */
export function addressProblem(address: string, rules: AddressRules = {}): string | undefined {
  const family = isIP(address);
  if (family === 0) return 'is not an IP address';
  const type = family === 4 ? 'ipv4' : 'ipv6';
  if (rules.allowLoopback && LOOPBACK.check(address, type)) return undefined;
  if (NOT_PUBLIC.check(address, type)) {
    return 'points at a private, loopback, link-local or reserved address';
  }
  return undefined;
}

const unbracket = (host: string) => (host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host);

/**
 * Why `url` may not receive webhooks (what can be told without DNS); undefined when it may. A name is checked
 * again, resolved, before each delivery.
 */
export function webhookUrlProblem(url: string, rules: AddressRules = {}): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'must be an absolute URL';
  }
  if (parsed.username !== '' || parsed.password !== '') return 'must not hold credentials';
  const host = unbracket(parsed.hostname);
  const loopbackName = host.toLowerCase() === 'localhost' || host.toLowerCase().endsWith('.localhost');
  const loopback =
    loopbackName || (isIP(host) !== 0 && LOOPBACK.check(host, isIP(host) === 4 ? 'ipv4' : 'ipv6'));
  const localAllowed = rules.allowLoopback === true && loopback;
  if (parsed.protocol !== 'https:' && !(localAllowed && parsed.protocol === 'http:')) {
    return 'must use https://';
  }
  if (localAllowed) return undefined;
  if (isIP(host) !== 0) return addressProblem(host, rules);
  if (LOCAL_NAMES.test(host) || !host.includes('.')) return 'must name a public host';
  return undefined;
}
