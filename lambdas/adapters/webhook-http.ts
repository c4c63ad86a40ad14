/**
 * One webhook POST, guarded: the URL is checked (../core/webhook-address.ts), its host name is resolved and every
 * address it resolves to is checked before any connection, and the connection goes to the checked address only
 * (node:https with a `lookup` that answers with it; TLS still verifies the certificate against the host name). So
 * a name that resolves to a public address at the check and a private one at connect time (DNS rebinding) cannot
 * steer the request inside the network. Redirects are never followed (node:https does not follow them; a 3xx is
 * an unsuccessful attempt). The whole attempt has one deadline.
 *
 * node:https rather than fetch: fetch cannot pin the connection to an address without an extra dependency
 * (undici's Agent), while `lookup` is part of node:http.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { request as httpRequest, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { addressProblem, webhookUrlProblem, type AddressRules } from '../core/webhook-address';
import type { AttemptResult } from '../core/webhooks';

export const WEBHOOK_TIMEOUT_MS = 10_000;
/** Of the receiver's answer, only the status matters; a body is read (and dropped) up to this size. */
const MAX_ANSWER_BYTES = 64 * 1024;

export interface WebhookPost {
  url: string;
  headers: Record<string, string>;
  body: string;
  timeoutMs?: number;
  rules?: AddressRules;
  /** Resolves a host name to its addresses (tests hand in their own). */
  resolve?: (host: string) => Promise<string[]>;
}

/** Thrown (as an attempt's `errorClass`) when the URL or an address it resolves to is refused. */
export const ADDRESS_REFUSED = 'address_refused';

const defaultResolve = async (host: string) =>
  (await dnsLookup(host, { all: true, verbatim: true })).map((a) => a.address);

const unbracket = (host: string) => (host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host);

/** The one address to connect to, every resolved address checked; undefined when any is refused. */
async function checkedAddress(host: string, post: WebhookPost): Promise<string | undefined> {
  const addresses = isIP(host) !== 0 ? [host] : await (post.resolve ?? defaultResolve)(host);
  if (addresses.length === 0) return undefined;
  if (addresses.some((address) => addressProblem(address, post.rules) !== undefined)) return undefined;
  return addresses[0];
}

const pinnedLookup =
  (address: string): LookupFunction =>
  (_host, options, callback) => {
    const family = isIP(address);
    if ((options as { all?: boolean }).all) callback(null, [{ address, family }]);
    else callback(null, address, family);
  };

function send(url: URL, address: string, post: WebhookPost): Promise<AttemptResult> {
  const timeoutMs = post.timeoutMs ?? WEBHOOK_TIMEOUT_MS;
  const options: RequestOptions = {
    method: 'POST',
    headers: { ...post.headers, 'content-length': String(Buffer.byteLength(post.body)) },
    lookup: pinnedLookup(address),
    signal: AbortSignal.timeout(timeoutMs),
    agent: false,
  };
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve) => {
    const req = request(url, options, (res) => {
      let read = 0;
      res.on('data', (piece: Buffer) => {
        read += piece.length;
        if (read > MAX_ANSWER_BYTES) res.destroy();
      });
      const done = () => resolve({ status: res.statusCode ?? 0 });
      res.on('end', done);
      res.on('close', done);
      res.on('error', done);
    });
    req.on('error', (error: NodeJS.ErrnoException) =>
      resolve({ errorClass: error.name === 'AbortError' ? 'timeout' : (error.code ?? 'network') }),
    );
    req.end(post.body);
  });
}

/** Sends one attempt. Never throws: a refused address, a timeout or a reset is an AttemptResult too. */
export async function postWebhook(post: WebhookPost): Promise<AttemptResult> {
  if (webhookUrlProblem(post.url, post.rules) !== undefined) return { errorClass: ADDRESS_REFUSED };
  const url = new URL(post.url);
  let address: string | undefined;
  try {
    address = await checkedAddress(unbracket(url.hostname), post);
  } catch (error) {
    return { errorClass: (error as NodeJS.ErrnoException).code ?? 'dns' };
  }
  if (address === undefined) return { errorClass: ADDRESS_REFUSED };
  return send(url, address, post);
}
