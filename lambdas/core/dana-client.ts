/**
 * The DANAConnect Conversation API client: one typed method per operation, both API versions, typed errors,
 * timeouts on every call and the retry policy of ./retry.ts. It uses the runtime's fetch, whose connection pool
 * keeps connections alive across invocations of a warm Lambda.
 */
import type { CredentialSource, DanaCredentials, ClientCredentials } from './credentials';
import { DanaError, type Delivery, type WsError } from './errors';
import { DEFAULT_RETRY_POLICY, withRetries, type CallKind, type RetryPolicy } from './retry';
import { parseDanaparam, parseId, type DanaRecord } from './validation';

export const DEFAULT_BASE_URL = 'https://appserv.danaconnect.com';
export const DEFAULT_TOKEN_URL = 'https://auth.danaconnect.com/oauth2/token';
export const TOKEN_SCOPE = 'conversation:access2api';

export interface WsResult {
  idResult: number;
  resultDescription: string;
}
export type StartAnswer = { wsResult: WsResult } | { wsError: WsError };
export interface ContactData {
  record: Record<string, string>;
  requestID: string;
}

/** DANAConnect's answer, status and body as it sent them. */
export interface DanaAnswer<T> {
  status: number;
  body: T;
}

export interface CallOptions {
  /** Sent as `X-DEBUG: 1` (DANAConnect's debug mode for conversations). */
  debug?: boolean;
}

export interface UpstreamCallInfo {
  operation: string;
  durationMs: number;
  status?: number;
  errorKind?: string;
  attempt: number;
}

export interface DanaClientOptions {
  credentials: CredentialSource;
  /** Scheme and host only; the client appends `/api/{version}/rest`. */
  baseUrl?: string;
  tokenUrl?: string;
  /** Per attempt, from sending the request to the end of the answer's body. */
  timeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  /** Refresh the OAuth2 token this long before it expires. */
  tokenRefreshMarginMs?: number;
  onUpstreamCall?: (info: UpstreamCallInfo) => void;
  fetch?: typeof fetch;
  random?: () => number;
  now?: () => number;
}

/** Error codes that mean the connection was never made, so the request provably never arrived. */
const NOT_SENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'CERT_HAS_EXPIRED',
]);

function errorCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current && typeof current === 'object'; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

function isTimeout(error: unknown): boolean {
  return error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError');
}

/** `Retry-After` as seconds or an HTTP date; absent or unreadable → undefined. */
export function parseRetryAfter(header: string | null, now: number): number | undefined {
  if (!header) return undefined;
  const trimmed = header.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function wsErrorOf(body: unknown): WsError | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const ws = (body as { wsError?: unknown }).wsError;
  if (typeof ws !== 'object' || ws === null) return undefined;
  const { idError, errorDescription } = ws as Record<string, unknown>;
  return {
    idError: typeof idError === 'number' ? idError : Number(idError) || 0,
    errorDescription: typeof errorDescription === 'string' ? errorDescription : '',
  };
}

function tryJson(text: string): unknown {
  if (text.length === 0) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Maps a non-2xx answer to a typed error. Bodies may be empty or not JSON. */
function errorForStatus(status: number, text: string, retryAfter: string | null, now: number): DanaError {
  const body = tryJson(text);
  const wsError = wsErrorOf(body);
  const detail = wsError?.errorDescription ? `: ${wsError.errorDescription}` : '';
  const common = { status, body, wsError };
  if (status === 401 || status === 403) {
    return new DanaError({
      ...common,
      kind: 'unauthorized',
      delivery: 'no',
      message: `unauthorized (${status})${detail}`,
    });
  }
  if (status === 429) {
    return new DanaError({
      ...common,
      kind: 'throttled',
      delivery: 'no',
      retryAfterMs: parseRetryAfter(retryAfter, now),
      message: `throttled (429)${detail}`,
    });
  }
  if (status >= 400 && status < 500) {
    return new DanaError({
      ...common,
      kind: 'illegal_argument',
      delivery: 'no',
      message: `illegal argument (${status})${detail}`,
    });
  }
  if (status >= 500) {
    return new DanaError({
      ...common,
      kind: 'upstream_internal',
      delivery: 'unknown',
      message: `upstream internal error (${status})${detail}`,
    });
  }
  return new DanaError({
    ...common,
    kind: 'unexpected_answer',
    delivery: 'unknown',
    message: `unexpected status ${status}`,
  });
}

interface Request {
  operation: string;
  kind: CallKind;
  method: 'GET' | 'POST';
  /** Path below `/api/{version}/rest`, every caller-supplied segment already validated and encoded. */
  path: string;
  body?: unknown;
  debug?: boolean;
}

interface CachedToken {
  clientId: string;
  token: string;
  expiresAt: number;
}

/**
 * Every operation validates its ids and link code first and rejects with InvalidInputError (before any request)
 * when they are unusable; it never throws synchronously.
 */
export class DanaClient {
  private readonly baseUrl: string;
  private readonly tokenUrl: string;
  private readonly timeoutMs: number;
  private readonly policy: RetryPolicy;
  private readonly refreshMarginMs: number;
  private readonly fetchImpl: typeof fetch;
  private readonly now: () => number;
  private readonly clock: { now: () => number; random: () => number };
  private token: CachedToken | undefined;
  /** The token fetch under way, and for which client: a rotated client never shares the old client's fetch. */
  private pendingToken: { clientId: string; token: Promise<string> } | undefined;

  constructor(private readonly options: DanaClientOptions) {
    this.baseUrl = (options.baseUrl ?? DEFAULT_BASE_URL).replace(/\/+$/, '');
    this.tokenUrl = options.tokenUrl ?? DEFAULT_TOKEN_URL;
    this.timeoutMs = options.timeoutMs ?? 8_000;
    this.policy = { ...DEFAULT_RETRY_POLICY, ...options.retry };
    this.refreshMarginMs = options.tokenRefreshMarginMs ?? 60_000;
    this.fetchImpl = options.fetch ?? globalThis.fetch;
    this.now = options.now ?? Date.now;
    this.clock = { now: this.now, random: options.random ?? Math.random };
  }

  /** #1 Start a conversation for its preloaded list. */
  async startList(conversationId: number, options: CallOptions = {}): Promise<DanaAnswer<StartAnswer>> {
    const id = parseId('conversationId', conversationId);
    return this.call({
      operation: 'startList',
      kind: 'start',
      method: 'POST',
      path: `/conversation/${id}/start/list`,
      ...options,
    });
  }

  /** #2 Start for one new record created from `record`. */
  async startData(
    conversationId: number,
    record: DanaRecord,
    options: CallOptions = {},
  ): Promise<DanaAnswer<StartAnswer>> {
    const id = parseId('conversationId', conversationId);
    return this.call({
      operation: 'startData',
      kind: 'start',
      method: 'POST',
      path: `/conversation/${id}/start/data`,
      body: record,
      ...options,
    });
  }

  /** #5 Start for one new record, addressed by project id (stable across reactivations). */
  async startDataByProject(
    projectId: number,
    record: DanaRecord,
    options: CallOptions = {},
  ): Promise<DanaAnswer<StartAnswer>> {
    const id = parseId('projectId', projectId);
    return this.call({
      operation: 'startDataByProject',
      kind: 'start',
      method: 'POST',
      path: `/conversation/ProjectID/${id}/start/data`,
      body: record,
      ...options,
    });
  }

  /** #3 Start for an existing record (its recordUID), updating the given fields first. */
  async startRecord(
    conversationId: number,
    recordUID: number,
    record: DanaRecord = {},
    options: CallOptions = {},
  ): Promise<DanaAnswer<StartAnswer>> {
    const id = parseId('conversationId', conversationId);
    const uid = parseId('recordUID', recordUID);
    return this.call({
      operation: 'startRecord',
      kind: 'start',
      method: 'POST',
      path: `/conversation/${id}/start/record/${uid}`,
      body: record,
      ...options,
    });
  }

  /** #4 Start for a batch of 1..10 new records; the answer holds one envelope per record, in order. */
  async startBatch(
    conversationId: number,
    records: DanaRecord[],
    options: CallOptions = {},
  ): Promise<DanaAnswer<StartAnswer[]>> {
    const id = parseId('conversationId', conversationId);
    return this.call({
      operation: 'startBatch',
      kind: 'start',
      method: 'POST',
      path: `/conversation/${id}/start/list/data`,
      body: records,
      ...options,
    });
  }

  /** #6 A contact's data from the link code DANAConnect put in its message; `fields` limits what comes back. */
  async getContactData(
    danaparam: string,
    fields?: string[],
    options: CallOptions = {},
  ): Promise<DanaAnswer<ContactData>> {
    const param = encodeURIComponent(parseDanaparam(danaparam));
    const query = fields && fields.length > 0 ? `?fields=${fields.map(encodeURIComponent).join(',')}` : '';
    return this.call({
      operation: 'getContactData',
      kind: 'read',
      method: 'GET',
      path: `/conversation/data/${param}${query}`,
      ...options,
    });
  }

  private async call<T>(request: Request): Promise<DanaAnswer<T>> {
    // One retry budget for the whole call: the loop after a credential refresh gets what is left of it.
    const began = this.now();
    const run = (credentials: DanaCredentials) => {
      const budgetMs = Math.max(0, this.policy.budgetMs - (this.now() - began));
      return withRetries(
        request.kind,
        { ...this.policy, budgetMs },
        (n) => this.attempt<T>(request, credentials, n),
        this.clock,
      );
    };
    try {
      return await run(await this.options.credentials.get());
    } catch (error) {
      if (!(error instanceof DanaError) || error.kind !== 'unauthorized') throw error;
      // A rotated secret or an expired token: fetch both again, once, then give up. Safe for starts: a 401
      // means DANAConnect refused the request.
      this.token = undefined;
      return run(await this.options.credentials.get({ refresh: true }));
    }
  }

  private async attempt<T>(
    request: Request,
    credentials: DanaCredentials,
    attempt: number,
  ): Promise<DanaAnswer<T>> {
    const authorization =
      credentials.apiVersion === '1.0'
        ? 'Basic ' +
          Buffer.from(`${credentials.username}@${credentials.companyCode}:${credentials.password}`).toString(
            'base64',
          )
        : `Bearer ${await this.bearerToken(credentials)}`;
    const headers: Record<string, string> = { Authorization: authorization, Accept: 'application/json' };
    if (request.body !== undefined) headers['Content-Type'] = 'application/json';
    if (request.debug !== undefined) headers['X-DEBUG'] = request.debug ? '1' : '0';
    const url = `${this.baseUrl}/api/${credentials.apiVersion}/rest${request.path}`;
    const init: RequestInit = {
      method: request.method,
      headers,
      body: request.body === undefined ? undefined : JSON.stringify(request.body),
    };
    return this.exchange<T>(request.operation, request.kind, url, init, attempt);
  }

  /** One HTTP exchange with a timeout; every failure becomes a DanaError. */
  private async exchange<T>(
    operation: string,
    kind: CallKind,
    url: string,
    init: RequestInit,
    attempt: number,
  ): Promise<DanaAnswer<T>> {
    const began = this.now();
    const report = (status?: number, errorKind?: string) =>
      this.options.onUpstreamCall?.({
        operation,
        durationMs: this.now() - began,
        status,
        errorKind,
        attempt,
      });
    let status: number | undefined;
    try {
      const response = await this.fetchImpl(url, {
        ...init,
        // A redirect is not part of the contract: never follow one with a start (it becomes unexpected_answer).
        redirect: 'manual',
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      status = response.status;
      const text = await response.text();
      if (status < 200 || status >= 300) {
        throw errorForStatus(status, text, response.headers.get('retry-after'), this.now());
      }
      const body = tryJson(text);
      if (body === undefined) {
        throw new DanaError({
          kind: 'unexpected_answer',
          status,
          delivery: 'unknown',
          message: `answer to ${operation} (${status}) is not JSON`,
        });
      }
      report(status);
      return { status, body: body as T };
    } catch (error) {
      const danaError = this.toDanaError(error, operation, kind, status);
      report(status, danaError.kind);
      throw danaError;
    }
  }

  private toDanaError(
    error: unknown,
    operation: string,
    kind: CallKind,
    status: number | undefined,
  ): DanaError {
    if (error instanceof DanaError) return error;
    const sendFailed: Delivery = kind === 'read' ? 'no' : 'unknown';
    if (isTimeout(error)) {
      return new DanaError({
        kind: 'timeout',
        status,
        delivery: sendFailed,
        message: `${operation} timed out after ${this.timeoutMs} ms`,
        cause: error,
      });
    }
    const code = errorCode(error);
    if (code === 'UND_ERR_CONNECT_TIMEOUT') {
      return new DanaError({
        kind: 'timeout',
        delivery: 'no',
        message: `${operation}: connect timed out`,
        cause: error,
      });
    }
    const delivery: Delivery = code !== undefined && NOT_SENT_CODES.has(code) ? 'no' : 'unknown';
    return new DanaError({
      kind: 'network',
      status,
      delivery: kind === 'read' ? 'no' : delivery,
      message: `${operation}: network failure (${code ?? 'connection lost'})`,
      cause: error,
    });
  }

  /** The OAuth2 client-credentials token, cached until shortly before it expires; one fetch at a time. */
  private async bearerToken(credentials: ClientCredentials): Promise<string> {
    const cached = this.token;
    if (cached && cached.clientId === credentials.clientId && this.now() < cached.expiresAt)
      return cached.token;
    if (this.pendingToken?.clientId === credentials.clientId) return this.pendingToken.token;
    const pending = {
      clientId: credentials.clientId,
      token: this.fetchToken(credentials).finally(() => {
        if (this.pendingToken === pending) this.pendingToken = undefined;
      }),
    };
    this.pendingToken = pending;
    return pending.token;
  }

  private async fetchToken(credentials: ClientCredentials): Promise<string> {
    const basic = Buffer.from(
      `${encodeURIComponent(credentials.clientId)}:${encodeURIComponent(credentials.clientSecret)}`,
    ).toString('base64');
    const init: RequestInit = {
      method: 'POST',
      headers: {
        Authorization: `Basic ${basic}`,
        'Content-Type': 'application/x-www-form-urlencoded',
        Accept: 'application/json',
      },
      body: `grant_type=client_credentials&scope=${encodeURIComponent(TOKEN_SCOPE)}`,
    };
    return withRetries(
      'read',
      this.policy,
      async (attempt) => {
        const { body } = await this.exchange<Record<string, unknown>>(
          'token',
          'read',
          this.tokenUrl,
          init,
          attempt,
        );
        const token = body.access_token;
        const expiresIn = Number(body.expires_in ?? 3600);
        if (
          typeof token !== 'string' ||
          token.length === 0 ||
          !Number.isFinite(expiresIn) ||
          expiresIn <= 0
        ) {
          throw new DanaError({
            kind: 'unexpected_answer',
            status: 200,
            delivery: 'no',
            message: 'token endpoint answered without a usable access_token',
          });
        }
        const margin = Math.min(this.refreshMarginMs, (expiresIn * 1000) / 10);
        this.token = {
          clientId: credentials.clientId,
          token,
          expiresAt: this.now() + expiresIn * 1000 - margin,
        };
        return token;
      },
      this.clock,
    );
  }
}
