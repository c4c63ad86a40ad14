/**
 * A faithful local DANAConnect: the six Conversation API operations under `/api/1.0/rest` (HTTP Basic) and
 * `/api/2.0/rest` (Bearer), the OAuth2 token endpoint, the vendor's envelopes, and fault injection for tests.
 * node:http only. Always bound on 127.0.0.1; the `/__sandbox/*` control endpoints are unauthenticated.
 *
 * Choices where the vendor is silent (see shared/reference/danaconnect-api.md):
 * - `start/list` logs one StartedContact per call (recordId 0, fields {}) under the key `list:<conversationId>`,
 *   so starting the same list twice shows up in `duplicates()`.
 * - Records are auto-numbered from `firstRecordId`; `idResult` of a created record is its id (its recordUID),
 *   and every new record gets the link code `lc-<recordId>` for `conversation/data/{danaparam}`.
 * - Field values must be strings; a requested field the record lacks comes back as "" (blank).
 * - `wsError.idError` codes are the sandbox's own (DANAConnect's are not public): see WS_ERRORS.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface SandboxOptions {
  /** Default 0 (ephemeral); always binds 127.0.0.1. */
  port?: number;
  /** API 1.0 Basic users; default DEMO_USER. */
  users?: { username: string; companyCode: string; password: string }[];
  /** API 2.0 OAuth clients; default DEMO_CLIENT. */
  clients?: { clientId: string; clientSecret: string }[];
  /** Known conversation ids; default [1001, 1002, 1003]. */
  conversations?: number[];
  /** projectId -> conversationId it starts; default { 77: 1001 }. */
  projects?: Record<number, number>;
  /** Default 3600. */
  tokenTtlSeconds?: number;
  /** If set: more than this many API calls (token endpoint excluded) in any sliding 1 s window get 429 + Retry-After: 1. */
  rateLimitPerSecond?: number;
  /** Default 3663 (auto-numbered record ids, so idResult of a new record is its id, usable as recordUID). */
  firstRecordId?: number;
}

export const DEMO_USER = { username: 'demo', companyCode: 'DEMO', password: 'demo-password' };
export const DEMO_CLIENT = { clientId: 'demo-client', clientSecret: 'demo-client-secret' };

export interface Faults {
  /** Added to every answer. */
  latencyMs?: number;
  /** Share 0..1 of API calls answered errorStatus (default 500) with a wsError body, WITHOUT acting on them. */
  errorRate?: number;
  errorStatus?: number;
  /**
   * The next `count` API calls get this answer; body default = a wsError JSON; body '' = empty;
   * afterProcessing=true means the call IS performed and then the error answered (a lost answer).
   */
  failNext?: {
    count: number;
    status: number;
    retryAfterSeconds?: number;
    body?: string;
    afterProcessing?: boolean;
  };
  /** Next N API calls answer 401 with an EMPTY body. */
  unauthorizedNext?: number;
  /** Destroy the socket without answering. */
  dropNext?: { count: number; afterProcessing?: boolean };
  /** Never answer (keep the socket open until close()). */
  hangNext?: { count: number; afterProcessing?: boolean };
  /** Next N API calls answer 200 with an HTML body (not JSON), after processing. */
  nonJsonNext?: number;
}

export interface ReceivedRequest {
  method: string;
  /** The raw path as it arrived (before any decoding), without the query string. */
  path: string;
  query: Record<string, string>;
  authorization?: string;
  debug?: string;
  contentType?: string;
  /** The parsed body: JSON, or the fields of a form body; undefined when empty or unparseable. */
  body?: unknown;
  rawBody: string;
  at: number;
}

export interface StartedContact {
  via: 'list' | 'data' | 'project' | 'record' | 'batch';
  conversationId: number;
  recordId: number;
  fields: Record<string, string>;
}

export interface Sandbox {
  /** 'http://127.0.0.1:PORT' (scheme+host; the client appends /api/1.0/rest or /api/2.0/rest). */
  url: string;
  /** url + '/oauth2/token'. */
  tokenUrl: string;
  /** Replaces the current faults. */
  setFaults(faults: Faults): void;
  /** Every API call (and token call) in arrival order. */
  received(): ReceivedRequest[];
  /** Every contact started, in order. */
  started(): StartedContact[];
  /** Contact key -> times started; key = 'record:<id>' for start/record, 'list:<conversationId>' for start/list, otherwise the canonical JSON of its fields. */
  startCounts(): Map<string, number>;
  /** Keys started more than once. */
  duplicates(): string[];
  /** Rotation: the old password stops working at once. */
  setUserPassword(username: string, password: string): void;
  /** Rotation for 2.0; also invalidates existing tokens of that client. */
  setClientSecret(clientId: string, secret: string): void;
  revokeTokens(): void;
  /** danaparam link code -> record. */
  addLinkCode(code: string, recordId: number): void;
  records(): Map<number, Record<string, string>>;
  /** Clears received/started/faults (keeps known conversations, records, link codes and tokens). */
  reset(): void;
  close(): Promise<void>;
}

/** The sandbox's own `wsError.idError` codes (DANAConnect does not publish its own). */
export const WS_ERRORS = {
  unknownConversation: 1001,
  unknownProject: 1002,
  unknownRecord: 1003,
  unknownLinkCode: 1004,
  badId: 1005,
  badBody: 1006,
  batchSize: 1007,
  badRecord: 1008,
  notFound: 1404,
  methodNotAllowed: 1405,
  tooLarge: 1413,
  throttled: 1429,
  internal: 1500,
} as const;

export const MAX_BODY_BYTES = 1024 * 1024;
const MAX_ID = 2_147_483_647;
const TOKEN_SCOPE = 'conversation:access2api';

interface Answer {
  status: number;
  body: string;
  headers?: Record<string, string>;
}

type Fault =
  | { type: 'hang' | 'drop'; afterProcessing: boolean }
  | { type: 'unauthorized' | 'error' }
  | { type: 'nonJson' }
  | {
      type: 'fail';
      status: number;
      retryAfterSeconds?: number;
      body?: string;
      afterProcessing: boolean;
    };

class BodyTooLarge extends Error {}

const json = (status: number, value: unknown, headers?: Record<string, string>): Answer => ({
  status,
  body: JSON.stringify(value),
  headers: { 'Content-Type': 'application/json', ...headers },
});

const wsError = (
  status: number,
  idError: number,
  errorDescription: string,
  headers?: Record<string, string>,
) => json(status, { wsError: { idError, errorDescription } }, headers);

const wsResult = (idResult: number) => ({ wsResult: { idResult, resultDescription: 'OK' } });

/** An empty 401, as DANAConnect may send it: clients must not expect JSON on errors. */
const unauthorized = (): Answer => ({ status: 401, body: '' });

/** Canonical JSON of a record: keys sorted, so the same contact always gives the same key. */
function canonical(fields: Record<string, string>): string {
  return JSON.stringify(
    Object.fromEntries(
      Object.keys(fields)
        .sort()
        .map((key) => [key, fields[key]]),
    ),
  );
}

function isStringRecord(value: unknown): value is Record<string, string> {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    Object.values(value).every((v) => typeof v === 'string')
  );
}

function parseIdSegment(segment: string): number | undefined {
  if (!/^[1-9][0-9]{0,9}$/.test(segment)) return undefined;
  const id = Number(segment);
  return id <= MAX_ID ? id : undefined;
}

function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.pause();
        reject(new BodyTooLarge());
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function parseBody(raw: string, contentType: string | undefined): unknown {
  if (raw.length === 0) return undefined;
  try {
    return JSON.parse(raw);
  } catch {
    if (contentType?.startsWith('application/x-www-form-urlencoded')) {
      return Object.fromEntries(new URLSearchParams(raw));
    }
    return undefined;
  }
}

type RouteName = 'list' | 'one' | 'record' | 'batch' | 'project' | 'data';

/** The six operations, by their decoded path segments below `/api/{version}/rest`. */
function matchRoute(segments: string[]): { name: RouteName; method: 'GET' | 'POST' } | undefined {
  const [root, a, b, c, d] = segments;
  if (root !== 'conversation') return undefined;
  if (segments.length === 3 && a === 'data') return { name: 'data', method: 'GET' };
  if (segments.length === 5 && a === 'ProjectID' && c === 'start' && d === 'data') {
    return { name: 'project', method: 'POST' };
  }
  if (b !== 'start') return undefined;
  if (segments.length === 4 && c === 'list') return { name: 'list', method: 'POST' };
  if (segments.length === 4 && c === 'data') return { name: 'one', method: 'POST' };
  if (segments.length === 5 && c === 'list' && d === 'data') return { name: 'batch', method: 'POST' };
  if (segments.length === 5 && c === 'record') return { name: 'record', method: 'POST' };
  return undefined;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const firstHeader = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value);

export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const users = new Map(
    (options.users ?? [DEMO_USER]).map((u) => [
      u.username,
      { companyCode: u.companyCode, password: u.password },
    ]),
  );
  const clients = new Map((options.clients ?? [DEMO_CLIENT]).map((c) => [c.clientId, c.clientSecret]));
  const conversations = new Set(options.conversations ?? [1001, 1002, 1003]);
  const projects = new Map(
    Object.entries(options.projects ?? { 77: 1001 }).map(([p, c]) => [Number(p), c] as const),
  );
  const tokenTtlSeconds = options.tokenTtlSeconds ?? 3600;
  const rateLimit = options.rateLimitPerSecond;

  const records = new Map<number, Record<string, string>>();
  const linkCodes = new Map<string, number>();
  const tokens = new Map<string, { clientId: string; expiresAt: number }>();
  let nextRecordId = options.firstRecordId ?? 3663;

  let received: ReceivedRequest[] = [];
  let started: StartedContact[] = [];
  let counts = new Map<string, number>();
  let faults: Faults = {};
  let recentCalls: number[] = [];
  const hung = new Set<ServerResponse>();

  function logStart(contact: StartedContact, key: string) {
    started.push(contact);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }

  function createRecord(fields: Record<string, string>): number {
    const id = nextRecordId++;
    records.set(id, { ...fields });
    linkCodes.set(`lc-${id}`, id);
    return id;
  }

  /** Takes the next fault to apply to an API call, consuming its count. */
  function takeFault(): Fault | undefined {
    const f = faults;
    if (f.hangNext && f.hangNext.count > 0) {
      f.hangNext.count--;
      return { type: 'hang', afterProcessing: f.hangNext.afterProcessing ?? false };
    }
    if (f.dropNext && f.dropNext.count > 0) {
      f.dropNext.count--;
      return { type: 'drop', afterProcessing: f.dropNext.afterProcessing ?? false };
    }
    if (f.unauthorizedNext && f.unauthorizedNext > 0) {
      f.unauthorizedNext--;
      return { type: 'unauthorized' };
    }
    if (f.failNext && f.failNext.count > 0) {
      f.failNext.count--;
      const { status, retryAfterSeconds, body } = f.failNext;
      return {
        type: 'fail',
        status,
        retryAfterSeconds,
        body,
        afterProcessing: f.failNext.afterProcessing ?? false,
      };
    }
    if (f.nonJsonNext && f.nonJsonNext > 0) {
      f.nonJsonNext--;
      return { type: 'nonJson' };
    }
    if (f.errorRate && Math.random() < f.errorRate) return { type: 'error' };
    return undefined;
  }

  function throttled(): boolean {
    if (rateLimit === undefined) return false;
    const now = Date.now();
    recentCalls = recentCalls.filter((t) => now - t < 1000);
    if (recentCalls.length >= rateLimit) return true;
    recentCalls.push(now);
    return false;
  }

  function authorize(version: string, authorization: string | undefined): boolean {
    if (!authorization) return false;
    if (version === '1.0') {
      const match = /^Basic ([A-Za-z0-9+/=]+)$/.exec(authorization);
      if (!match) return false;
      const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon < 0) return false;
      const login = decoded.slice(0, colon);
      const at = login.lastIndexOf('@');
      if (at < 0) return false;
      const user = users.get(login.slice(0, at));
      return (
        user !== undefined &&
        user.companyCode === login.slice(at + 1) &&
        user.password === decoded.slice(colon + 1)
      );
    }
    const match = /^Bearer (\S+)$/.exec(authorization);
    if (!match) return false;
    const token = tokens.get(match[1]!);
    if (!token) return false;
    if (Date.now() >= token.expiresAt) {
      tokens.delete(match[1]!);
      return false;
    }
    return true;
  }

  function tokenEndpoint(method: string, authorization: string | undefined, rawBody: string): Answer {
    if (method !== 'POST') return json(405, { error: 'invalid_request' }, { Allow: 'POST' });
    // RFC 6749 2.3.1: id and secret are form-urlencoded, then sent as HTTP Basic.
    const match = /^Basic ([A-Za-z0-9+/=]+)$/.exec(authorization ?? '');
    const invalidClient = json(401, { error: 'invalid_client' }, { 'WWW-Authenticate': 'Basic' });
    if (!match) return invalidClient;
    const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return invalidClient;
    let clientId: string;
    let secret: string;
    try {
      const formDecode = (s: string) => decodeURIComponent(s.replace(/\+/g, ' '));
      clientId = formDecode(decoded.slice(0, colon));
      secret = formDecode(decoded.slice(colon + 1));
    } catch {
      return invalidClient;
    }
    if (!clients.has(clientId) || clients.get(clientId) !== secret) return invalidClient;
    const form = new URLSearchParams(rawBody);
    if (form.get('grant_type') !== 'client_credentials')
      return json(400, { error: 'unsupported_grant_type' });
    if (!(form.get('scope') ?? '').split(' ').includes(TOKEN_SCOPE))
      return json(400, { error: 'invalid_scope' });
    const token = randomUUID();
    tokens.set(token, { clientId, expiresAt: Date.now() + tokenTtlSeconds * 1000 });
    return json(200, { access_token: token, token_type: 'Bearer', expires_in: tokenTtlSeconds });
  }

  /** Handles one authenticated-or-not API call and performs it; the answer may still be replaced by a fault. */
  function apiCall(
    method: string,
    rawPath: string,
    query: URLSearchParams,
    authorization: string | undefined,
    contentType: string | undefined,
    rawBody: string,
  ): Answer {
    const prefix = /^\/api\/(1\.0|2\.0)\/rest(\/.*)?$/.exec(rawPath);
    if (!prefix) return wsError(404, WS_ERRORS.notFound, 'Not found');
    if (!authorize(prefix[1]!, authorization)) return unauthorized();
    let segments: string[];
    try {
      segments = (prefix[2] ?? '').split('/').slice(1).map(decodeURIComponent);
    } catch {
      return wsError(400, WS_ERRORS.badId, 'Malformed path');
    }
    const route = matchRoute(segments);
    if (!route) return wsError(404, WS_ERRORS.notFound, 'Not found');
    if (route.method !== method) {
      return wsError(405, WS_ERRORS.methodNotAllowed, 'Method not allowed', { Allow: route.method });
    }

    if (route.name === 'data') return contactData(segments[2]!, query);

    let body: unknown;
    if (rawBody.trim().length > 0) {
      if (!(contentType ?? '').startsWith('application/json')) {
        return wsError(400, WS_ERRORS.badBody, 'Content-Type must be application/json');
      }
      try {
        body = JSON.parse(rawBody);
      } catch {
        return wsError(400, WS_ERRORS.badBody, 'Body is not valid JSON');
      }
    }

    if (route.name === 'project') {
      const projectId = parseIdSegment(segments[2]!);
      if (projectId === undefined) return wsError(400, WS_ERRORS.badId, 'projectId must be an integer');
      const conversationId = projects.get(projectId);
      if (conversationId === undefined) return wsError(400, WS_ERRORS.unknownProject, 'Unknown project');
      return startOne('project', conversationId, body);
    }

    const conversationId = parseIdSegment(segments[1]!);
    if (conversationId === undefined)
      return wsError(400, WS_ERRORS.badId, 'conversationId must be an integer');
    if (!conversations.has(conversationId)) {
      return wsError(400, WS_ERRORS.unknownConversation, 'Unknown conversation');
    }
    switch (route.name) {
      case 'list':
        logStart({ via: 'list', conversationId, recordId: 0, fields: {} }, `list:${conversationId}`);
        return json(200, wsResult(0));
      case 'one':
        return startOne('data', conversationId, body);
      case 'record': {
        const recordId = parseIdSegment(segments[4]!);
        if (recordId === undefined) return wsError(400, WS_ERRORS.badId, 'recordUID must be an integer');
        const record = records.get(recordId);
        if (!record) return wsError(400, WS_ERRORS.unknownRecord, 'Unknown record');
        const update = body ?? {};
        if (!isStringRecord(update)) {
          return wsError(400, WS_ERRORS.badRecord, 'Body must be a JSON object of string values');
        }
        Object.assign(record, update);
        logStart({ via: 'record', conversationId, recordId, fields: { ...update } }, `record:${recordId}`);
        return json(200, wsResult(0));
      }
      case 'batch': {
        if (!Array.isArray(body)) return wsError(400, WS_ERRORS.badBody, 'Body must be a JSON array');
        if (body.length < 1 || body.length > 10) {
          return wsError(400, WS_ERRORS.batchSize, 'A batch holds 1 to 10 records');
        }
        return json(
          200,
          body.map((item: unknown) => {
            if (!isStringRecord(item) || Object.keys(item).length === 0) {
              return { wsError: { idError: WS_ERRORS.badRecord, errorDescription: 'Invalid record' } };
            }
            const recordId = createRecord(item);
            logStart({ via: 'batch', conversationId, recordId, fields: { ...item } }, canonical(item));
            return wsResult(recordId);
          }),
        );
      }
    }
  }

  function startOne(via: 'data' | 'project', conversationId: number, body: unknown): Answer {
    if (!isStringRecord(body) || Object.keys(body).length === 0) {
      return wsError(400, WS_ERRORS.badRecord, 'Body must be a non-empty JSON object of string values');
    }
    const recordId = createRecord(body);
    logStart({ via, conversationId, recordId, fields: { ...body } }, canonical(body));
    return json(200, wsResult(recordId));
  }

  function contactData(danaparam: string, query: URLSearchParams): Answer {
    const recordId = linkCodes.get(danaparam);
    const record = recordId === undefined ? undefined : records.get(recordId);
    if (!record) return wsError(400, WS_ERRORS.unknownLinkCode, 'Unknown or expired link code');
    // API 2.0 clients also use `fieldList`.
    const list = query.get('fields') ?? query.get('fieldList') ?? '';
    const fields = list.split(',').filter((f) => f.length > 0);
    const out =
      fields.length === 0 ? { ...record } : Object.fromEntries(fields.map((f) => [f, record[f] ?? '']));
    return json(200, { record: out, requestID: randomUUID() });
  }

  function send(res: ServerResponse, answer: Answer) {
    if (res.destroyed) return;
    res.writeHead(answer.status, { ...answer.headers, 'Content-Length': Buffer.byteLength(answer.body) });
    res.end(answer.body);
  }

  function applyFault(fault: Fault, req: IncomingMessage, res: ServerResponse): void {
    switch (fault.type) {
      case 'hang':
        hung.add(res);
        res.on('close', () => hung.delete(res));
        return;
      case 'drop':
        req.socket.destroy();
        return;
      case 'unauthorized':
        return send(res, unauthorized());
      case 'error':
        return send(res, wsError(faults.errorStatus ?? 500, WS_ERRORS.internal, 'Internal error'));
      case 'nonJson':
        return send(res, {
          status: 200,
          body: '<html><body><h1>Service temporarily unavailable</h1></body></html>',
          headers: { 'Content-Type': 'text/html' },
        });
      case 'fail': {
        const headers: Record<string, string> = {};
        if (fault.retryAfterSeconds !== undefined) headers['Retry-After'] = String(fault.retryAfterSeconds);
        if (fault.body !== undefined) {
          if (fault.body !== '') headers['Content-Type'] = 'application/json';
          return send(res, { status: fault.status, body: fault.body, headers });
        }
        const id =
          fault.status === 429
            ? WS_ERRORS.throttled
            : fault.status >= 500
              ? WS_ERRORS.internal
              : fault.status;
        return send(res, wsError(fault.status, id, `Injected error ${fault.status}`, headers));
      }
    }
  }

  async function control(req: IncomingMessage, res: ServerResponse, name: string, rawBody: string) {
    const method = req.method ?? 'GET';
    let body: Record<string, unknown> = {};
    try {
      body = rawBody ? (JSON.parse(rawBody) as Record<string, unknown>) : {};
    } catch {
      return send(res, json(400, { error: 'body is not JSON' }));
    }
    const ok = (value?: unknown) =>
      send(res, value === undefined ? { status: 204, body: '' } : json(200, value));
    try {
      const route = `${method} ${name}`;
      switch (route) {
        case 'POST faults':
          return ok(sandbox.setFaults(body as Faults));
        case 'GET received':
          return ok(sandbox.received());
        case 'GET started':
          return ok(sandbox.started());
        case 'GET duplicates':
          return ok(sandbox.duplicates());
        case 'GET start-counts':
          return ok(Object.fromEntries(sandbox.startCounts()));
        case 'GET records':
          return ok(Object.fromEntries(sandbox.records()));
        case 'POST reset':
          return ok(sandbox.reset());
        case 'POST revoke-tokens':
          return ok(sandbox.revokeTokens());
        case 'POST link-codes':
          return ok(sandbox.addLinkCode(String(body.code), Number(body.recordId)));
        case 'POST rotate':
          if (typeof body.username === 'string' && typeof body.password === 'string') {
            return ok(sandbox.setUserPassword(body.username, body.password));
          }
          if (typeof body.clientId === 'string' && typeof body.clientSecret === 'string') {
            return ok(sandbox.setClientSecret(body.clientId, body.clientSecret));
          }
          return send(res, json(400, { error: 'expected {username,password} or {clientId,clientSecret}' }));
        default:
          return send(res, json(404, { error: `no control endpoint ${route}` }));
      }
    } catch (error) {
      return send(res, json(400, { error: (error as Error).message }));
    }
  }

  async function onRequest(req: IncomingMessage, res: ServerResponse) {
    const method = req.method ?? 'GET';
    const rawUrl = req.url ?? '/';
    const queryAt = rawUrl.indexOf('?');
    const rawPath = queryAt < 0 ? rawUrl : rawUrl.slice(0, queryAt);
    const query = new URLSearchParams(queryAt < 0 ? '' : rawUrl.slice(queryAt + 1));
    let rawBody: string;
    try {
      rawBody = await readBody(req, MAX_BODY_BYTES);
    } catch (error) {
      if (!(error instanceof BodyTooLarge)) return void req.socket.destroy();
      res.setHeader('Connection', 'close');
      send(res, wsError(413, WS_ERRORS.tooLarge, `Body larger than ${MAX_BODY_BYTES} bytes`));
      res.on('finish', () => req.socket.destroy());
      return;
    }

    if (rawPath.startsWith('/__sandbox/'))
      return control(req, res, rawPath.slice('/__sandbox/'.length), rawBody);

    const authorization = firstHeader(req.headers.authorization);
    const contentType = firstHeader(req.headers['content-type']);
    const debug = firstHeader(req.headers['x-debug']);
    received.push({
      method,
      path: rawPath,
      query: Object.fromEntries(query),
      ...(authorization !== undefined && { authorization }),
      ...(debug !== undefined && { debug }),
      ...(contentType !== undefined && { contentType }),
      body: parseBody(rawBody, contentType),
      rawBody,
      at: Date.now(),
    });

    if (faults.latencyMs) await sleep(faults.latencyMs);

    if (rawPath === '/oauth2/token') return send(res, tokenEndpoint(method, authorization, rawBody));

    const fault = takeFault();
    const perform = () => apiCall(method, rawPath, query, authorization, contentType, rawBody);
    if (fault) {
      if ('afterProcessing' in fault ? fault.afterProcessing : fault.type === 'nonJson') perform();
      return applyFault(fault, req, res);
    }
    if (throttled()) {
      return send(res, wsError(429, WS_ERRORS.throttled, 'Too many requests', { 'Retry-After': '1' }));
    }
    return send(res, perform());
  }

  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    onRequest(req, res).catch(() => {
      if (!res.headersSent) send(res, wsError(500, WS_ERRORS.internal, 'Sandbox failure'));
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;

  const sandbox: Sandbox = {
    url,
    tokenUrl: `${url}/oauth2/token`,
    setFaults(next) {
      faults = structuredClone(next ?? {});
    },
    received: () => received.map((r) => ({ ...r, query: { ...r.query } })),
    started: () => started.map((s) => ({ ...s, fields: { ...s.fields } })),
    startCounts: () => new Map(counts),
    duplicates: () => [...counts].filter(([, n]) => n > 1).map(([key]) => key),
    setUserPassword(username, password) {
      const user = users.get(username);
      if (!user) throw new Error(`unknown user ${username}`);
      user.password = password;
    },
    setClientSecret(clientId, secret) {
      if (!clients.has(clientId)) throw new Error(`unknown client ${clientId}`);
      clients.set(clientId, secret);
      for (const [token, info] of tokens) if (info.clientId === clientId) tokens.delete(token);
    },
    revokeTokens() {
      tokens.clear();
    },
    addLinkCode(code, recordId) {
      if (!records.has(recordId)) throw new Error(`unknown record ${recordId}`);
      linkCodes.set(code, recordId);
    },
    records: () => new Map([...records].map(([id, fields]) => [id, { ...fields }])),
    reset() {
      received = [];
      started = [];
      counts = new Map();
      faults = {};
      recentCalls = [];
    },
    async close() {
      for (const res of hung) res.destroy();
      hung.clear();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
  return sandbox;
}
