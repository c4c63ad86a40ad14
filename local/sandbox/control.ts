/**
 * The unauthenticated control endpoints under `/__sandbox/`, for tests and tools in another process
 * (e.g. the benchmarks' sandbox child): each maps onto a `Sandbox` method.
 */
import { json, type Answer } from './envelopes';
import type { Faults, Sandbox } from './types';

const noContent = (): Answer => ({ status: 204, body: '' });

/** `value` as JSON 200, or 204 when undefined. */
const ok = (value?: unknown): Answer => (value === undefined ? noContent() : json(200, value));

/** `GET` endpoints: name -> what they answer. */
const READERS: Record<string, (sandbox: Sandbox) => unknown> = {
  received: (s) => s.received(),
  started: (s) => s.started(),
  duplicates: (s) => s.duplicates(),
  'start-counts': (s) => Object.fromEntries(s.startCounts()),
  records: (s) => Object.fromEntries(s.records()),
  'fault-stats': (s) => s.faultStats(),
};

/** `POST` endpoints: name -> what they do with the JSON body. */
const WRITERS: Record<string, (sandbox: Sandbox, body: Record<string, unknown>) => Answer> = {
  faults: (s, body) => ok(s.setFaults(body as Faults)),
  reset: (s) => ok(s.reset()),
  'revoke-tokens': (s) => ok(s.revokeTokens()),
  'link-codes': (s, body) => ok(s.addLinkCode(String(body.code), Number(body.recordId))),
  rotate: rotate,
};

function rotate(sandbox: Sandbox, body: Record<string, unknown>): Answer {
  if (typeof body.username === 'string' && typeof body.password === 'string') {
    return ok(sandbox.setUserPassword(body.username, body.password));
  }
  if (typeof body.clientId === 'string' && typeof body.clientSecret === 'string') {
    return ok(sandbox.setClientSecret(body.clientId, body.clientSecret));
  }
  return json(400, { error: 'expected {username,password} or {clientId,clientSecret}' });
}

/** Answers `METHOD /__sandbox/<name>`; a method that throws answers 400 with its message. */
export function controlAnswer(sandbox: Sandbox, method: string, name: string, rawBody: string): Answer {
  let body: Record<string, unknown> = {};
  try {
    body = rawBody ? (JSON.parse(rawBody) as Record<string, unknown>) : {};
  } catch {
    return json(400, { error: 'body is not JSON' });
  }
  const reader = method === 'GET' && Object.hasOwn(READERS, name) ? READERS[name] : undefined;
  const writer = method === 'POST' && Object.hasOwn(WRITERS, name) ? WRITERS[name] : undefined;
  try {
    if (reader) return ok(reader(sandbox));
    if (writer) return writer(sandbox, body);
  } catch (error) {
    return json(400, { error: (error as Error).message });
  }
  return json(404, { error: `no control endpoint ${method} ${name}` });
}
