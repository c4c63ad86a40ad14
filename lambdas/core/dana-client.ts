/**
 * The DANAConnect Conversation API client: one typed method per operation, both API versions, typed errors,
 * timeouts on every call and the retry policy of ./retry.ts. It uses the runtime's fetch through its own
 * keep-alive pool (./connection-pool.ts), which keeps connections alive across invocations of a warm Lambda but
 * never reuses one idle past a safe age, however long the Lambda was frozen.
 *
 * A call may carry the invocation's deadline (./deadline.ts, `CallOptions.deadline`). Every step draws from it:
 * the credential read (its abort signal), the token fetch, each attempt (`min(timeoutMs, remaining)`), the waits
 * between attempts, and the refresh after a 401. A step is not begun with less than MIN_ATTEMPT_MS left; it fails
 * at once as a `timeout` with delivery 'no' ("nothing was sent"). An attempt cut by the deadline after its request
 * was sent is a `timeout` whose outcome is unknown, as any timeout after sending.
 */
import { ConnectionPool } from './connection-pool';
import type { CredentialSource, DanaCredentials, ClientCredentials } from './credentials';
import { NO_DEADLINE, type Deadline } from './deadline';
import { DanaError, type Delivery, type WsError } from './errors';
import { DEFAULT_RETRY_POLICY, MIN_ATTEMPT_MS, withRetries, type CallKind, type RetryPolicy } from './retry';
import { parseDanaparam, parseId, type DanaRecord } from './validation';

export const DEFAULT_BASE_URL = 'https://appserv.danaconnect.com';
export const DEFAULT_TOKEN_URL = 'https://auth.danaconnect.com/oauth2/token';
export const TOKEN_SCOPE = 'conversation:access2api';
/**
 * The safe age of an idle kept-alive connection: below the shortest idle timeout common in front of an HTTP API,
 * Apache httpd's and Node's http.Server's 5 s (nginx 75 s, AWS ALB 60 s, NLB 350 s). It is also undici's own
 * default, so a warm, never-frozen Lambda reuses connections exactly as before.
 */
export const DEFAULT_MAX_SOCKET_IDLE_MS = 4_000;
/** The longest a credential read (Secrets Manager) may take; the deadline cuts in sooner when less is left. */
export const CREDENTIALS_TIMEOUT_MS = 10_000;

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
  /**
   * The invocation's deadline, which every step of the call draws from. Without one, only the per-attempt
   * timeout and the retry budget bound the call.
   */
  deadline?: Deadline;
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
  /** The client's clock: token expiry, the retry budget, and the age of idle connections. */
  now?: () => number;
  /** A kept-alive connection idle longer than this (by `now`) is not used again. Default 4 s. */
  maxSocketIdleMs?: number;
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
  // AbortSignal.timeout's reason is a DOMException, an Error in Node.
  return error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError');
}

/** A step not begun because the deadline left too little for it: nothing was sent. */
function deadlineSpent(operation: string, before: string): DanaError {
  return new DanaError({
    kind: 'timeout',
    delivery: 'no',
    message: `${operation}: the invocation's time ran out before ${before}; nothing was sent`,
  });
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
  deadline?: Deadline;
}

/** What the error of a failed exchange is made from. */
interface FailedExchange {
  operation: string;
  kind: CallKind;
  status: number | undefined;
  /** What the attempt was given: the per-attempt timeout, or less when the deadline was nearer. */
  budgetMs: number;
  /** The request provably never left: it failed before its first byte was written. */
  notWritten: boolean;
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
  private readonly pool: ConnectionPool;
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
    this.pool = new ConnectionPool(options.maxSocketIdleMs ?? DEFAULT_MAX_SOCKET_IDLE_MS, this.now);
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
    const deadline = request.deadline ?? NO_DEADLINE;
    // One retry budget for the whole call: the loop after a credential refresh gets what is left of it.
    const began = this.now();
    const run = (credentials: DanaCredentials) => {
      const budgetMs = Math.max(0, this.policy.budgetMs - (this.now() - began));
      return withRetries(
        request.kind,
        { ...this.policy, budgetMs },
        (n) => this.attempt<T>(request, credentials, n, deadline),
        this.clock,
        deadline,
      );
    };
    try {
      return await run(await this.credentials(request.operation, deadline));
    } catch (error) {
      if (!(error instanceof DanaError) || error.kind !== 'unauthorized') throw error;
      // A rotated secret or an expired token: fetch both again, once, then give up. Safe for starts: a 401
      // means DANAConnect refused the request. The refresh draws from the same deadline.
      this.token = undefined;
      return run(await this.credentials(request.operation, deadline, true));
    }
  }

  /**
   * The credentials, within the deadline. A read the deadline cut (or that timed out by itself) ends the call as
   * a timeout before anything was sent: the caller gets 504, as for any other way of running out of time.
   */
  private async credentials(
    operation: string,
    deadline: Deadline,
    refresh = false,
  ): Promise<DanaCredentials> {
    if (deadline.remainingMs() < MIN_ATTEMPT_MS) throw deadlineSpent(operation, 'the credentials were read');
    const signal = deadline.signalFor(CREDENTIALS_TIMEOUT_MS);
    try {
      return await this.options.credentials.get({ refresh, signal });
    } catch (error) {
      if (!signal.aborted && !isTimeout(error)) throw error;
      throw new DanaError({
        kind: 'timeout',
        delivery: 'no',
        message: `${operation}: reading the credentials took longer than the time left; nothing was sent`,
        cause: error,
      });
    }
  }

  private async attempt<T>(
    request: Request,
    credentials: DanaCredentials,
    attempt: number,
    deadline: Deadline,
  ): Promise<DanaAnswer<T>> {
    const authorization =
      credentials.apiVersion === '1.0'
        ? 'Basic ' +
          Buffer.from(`${credentials.username}@${credentials.companyCode}:${credentials.password}`).toString(
            'base64',
          )
        : `Bearer ${await this.bearerToken(credentials, deadline)}`;
    const headers: Record<string, string> = { Authorization: authorization, Accept: 'application/json' };
    if (request.body !== undefined) headers['Content-Type'] = 'application/json';
    if (request.debug !== undefined) headers['X-DEBUG'] = request.debug ? '1' : '0';
    const url = `${this.baseUrl}/api/${credentials.apiVersion}/rest${request.path}`;
    const init: RequestInit = {
      method: request.method,
      headers,
      body: request.body === undefined ? undefined : JSON.stringify(request.body),
    };
    return this.exchange<T>(request.operation, request.kind, url, init, attempt, deadline);
  }

  /** One HTTP exchange, given `min(timeoutMs, what is left of the deadline)`; every failure becomes a DanaError. */
  private async exchange<T>(
    operation: string,
    kind: CallKind,
    url: string,
    init: RequestInit,
    attempt: number,
    deadline: Deadline,
  ): Promise<DanaAnswer<T>> {
    // Too little left to be worth sending: fail now, provably unsent, rather than be cut after sending.
    if (deadline.remainingMs() < MIN_ATTEMPT_MS) throw deadlineSpent(operation, 'the request was sent');
    const began = this.now();
    const report = (status?: number, errorKind?: string) =>
      this.options.onUpstreamCall?.({
        operation,
        durationMs: this.now() - began,
        status,
        errorKind,
        attempt,
      });
    const budgetMs = deadline.budgetFor(this.timeoutMs);
    const connection = this.pool.begin();
    const answer: { status?: number } = {};
    try {
      const result = await this.send<T>(
        operation,
        url,
        init,
        deadline.signalFor(this.timeoutMs),
        connection,
        answer,
      );
      report(result.status);
      return result;
    } catch (error) {
      const notWritten = connection.notWritten();
      const failed = { operation, kind, status: answer.status, budgetMs, notWritten };
      const danaError = this.toDanaError(error, failed);
      report(answer.status, danaError.kind);
      throw danaError;
    } finally {
      connection.end();
    }
  }

  /** Sends the request through the pool and reads the whole answer; `answer.status` is set once it is known. */
  private async send<T>(
    operation: string,
    url: string,
    init: RequestInit,
    signal: AbortSignal,
    connection: { dispatcher: object | undefined },
    answer: { status?: number },
  ): Promise<DanaAnswer<T>> {
    const response = await this.fetchImpl(url, {
      ...init,
      // A redirect is not part of the contract: never follow one with a start (it becomes unexpected_answer).
      redirect: 'manual',
      signal,
      // undici's per-request pool (fetch's `dispatcher` init option, not in the DOM's RequestInit).
      ...(connection.dispatcher && { dispatcher: connection.dispatcher }),
    } as RequestInit);
    const status = (answer.status = response.status);
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
    return { status, body: body as T };
  }

  private toDanaError(error: unknown, failed: FailedExchange): DanaError {
    if (error instanceof DanaError) return error;
    const { operation, kind, status } = failed;
    const code = errorCode(error);
    // Never sent: the connection was never made, or the request failed before its first byte was written.
    const notSent = failed.notWritten || (code !== undefined && NOT_SENT_CODES.has(code));
    const delivery: Delivery = kind === 'read' || notSent ? 'no' : 'unknown';
    if (code === 'UND_ERR_CONNECT_TIMEOUT') {
      return new DanaError({
        kind: 'timeout',
        delivery: 'no',
        message: `${operation}: connect timed out`,
        cause: error,
      });
    }
    if (isTimeout(error)) {
      const message =
        failed.budgetMs < this.timeoutMs
          ? `${operation}: no answer within the ${failed.budgetMs} ms left of the invocation's time`
          : `${operation} timed out after ${this.timeoutMs} ms`;
      return new DanaError({ kind: 'timeout', status, delivery, message, cause: error });
    }
    return new DanaError({
      kind: 'network',
      status,
      delivery,
      message: `${operation}: network failure (${code ?? 'connection lost'})`,
      cause: error,
    });
  }

  /** The OAuth2 client-credentials token, cached until shortly before it expires; one fetch at a time. */
  private async bearerToken(credentials: ClientCredentials, deadline: Deadline): Promise<string> {
    const cached = this.token;
    if (cached && cached.clientId === credentials.clientId && this.now() < cached.expiresAt)
      return cached.token;
    if (this.pendingToken?.clientId === credentials.clientId) return this.pendingToken.token;
    const pending = {
      clientId: credentials.clientId,
      // A call that joins a fetch under way waits on that fetch's deadline (in Lambda, the same invocation's).
      token: this.fetchToken(credentials, deadline).finally(() => {
        if (this.pendingToken === pending) this.pendingToken = undefined;
      }),
    };
    this.pendingToken = pending;
    return pending.token;
  }

  private async fetchToken(credentials: ClientCredentials, deadline: Deadline): Promise<string> {
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
          deadline,
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
      deadline,
    );
  }
}
