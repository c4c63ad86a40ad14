/**
 * A fault-injecting HTTP proxy between the AWS SDK and moto_server, for tests: AWS as harsh as the real one.
 *
 * moto is kinder than AWS: it serialises nothing yet never reports a transaction conflict, never throttles,
 * never fails after doing the work, never hangs. Code that passes against plain moto can still lose updates or
 * double-apply work in production. This proxy (on 127.0.0.1, an ephemeral port) forwards the SDK's signed
 * requests byte for byte to moto and adds what AWS really does:
 *  - faults per service (and optionally per operation), drawn from a seeded PRNG: the service's own
 *    throttling and internal errors (shaped so the SDK raises its real exception classes and retries them as
 *    it would), connection resets and hangs — each either before moto sees the request or after moto has
 *    acted ("acted then failed", the case idempotency has to survive) — plus latency;
 *  - DynamoDB's concurrency semantics (./dynamo-coordinator.ts): atomic conditional writes, transaction
 *    conflicts (TransactionCanceledException / TransactionConflictException) with a realistic commit window;
 *  - counters per `service.operation` of requests, injected faults and conflicts, for soak runs to report.
 * The service is read from the SigV4 credential scope, the operation from `X-Amz-Target` or S3's method and path.
 */
import {
  Agent,
  createServer,
  request,
  type ClientRequest,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { serviceError, type Reply } from './aws-fault-responses';
import { identify, type RequestIdentity } from './aws-request-identity';
import { DynamoCoordinator, type Outcome } from './dynamo-coordinator';
import { ItemLocks, TableLocks } from './dynamo-locks';
import { seededRandom } from '../../local/sandbox/mix';

/** Each a probability 0..1 per request; at most one fault per request. */
export interface ServiceFaults {
  /** The service's throttling error; moto never sees the request. */
  throttle?: number;
  /** 500 InternalServerError / InternalError / InternalFailure / InternalServiceError; not forwarded. */
  internalError?: number;
  /** Forwarded (moto acts), then the answer is replaced by the 500: the caller cannot tell it happened. */
  internalErrorAfter?: number;
  /** The connection is destroyed before forwarding. */
  reset?: number;
  /** Forwarded (moto acts), then the connection is destroyed without an answer. */
  resetAfter?: number;
  /** Never answered (until close()); not forwarded. Clients need a request timeout to see it. */
  hang?: number;
  /** Forwarded (moto acts), then never answered. */
  hangAfter?: number;
  /** Added before each request of the service: fixed, or uniform in [min, max]. */
  latencyMs?: number | [number, number];
  /** When set, faults and latency apply only to these operations (e.g. `['TransactWriteItems']`). */
  operations?: string[];
}

export interface FaultConfig {
  /** Seeds the PRNG that decides every fault (reseeded whenever a config with a seed is set). */
  seed?: number;
  dynamodb?: ServiceFaults;
  sqs?: ServiceFaults;
  s3?: ServiceFaults;
  secretsmanager?: ServiceFaults;
  /** How long an admitted TransactWriteItems holds its items before moto applies it; default 5–20 ms. */
  transactionHoldMs?: number | [number, number];
}

export interface ProxyStats {
  /** `service.Operation` → requests received (including those then faulted or conflicted). */
  requests: Record<string, number>;
  /** `service.Operation.kind` → faults injected before moto saw the request. */
  faults: Record<string, number>;
  /** `service.Operation.kind` → requests moto acted on whose answer the client then did not get. */
  actedThenFailed: Record<string, number>;
  /** `dynamodb.Operation` → requests refused for touching an item an ongoing transaction holds. */
  transactionConflicts: Record<string, number>;
  /** Requests whose forwarding to moto failed (moto unreachable or reset); the client saw a reset. */
  upstreamErrors: number;
  /** Live: requests currently open, of which held by a hang fault; the proxy's pending timers. */
  inFlight: number;
  hanging: number;
  timers: number;
  /** Live: DynamoDB item and table lock entries (0 when idle: nothing leaks). */
  locks: { items: number; tables: number };
}

export interface AwsFaultProxy {
  /** `http://127.0.0.1:PORT`: the endpoint to give SDK clients. */
  url: string;
  /** Replaces the fault configuration (not merged). */
  setFaults(faults: FaultConfig): void;
  stats(): ProxyStats;
  resetStats(): void;
  /** Ends hanging requests, closes the server and every connection, clears every timer. */
  close(): Promise<void>;
}

type FaultKind = Exclude<keyof ServiceFaults, 'latencyMs' | 'operations'>;
const FAULT_KINDS: FaultKind[] = [
  'throttle',
  'internalError',
  'reset',
  'hang',
  'internalErrorAfter',
  'resetAfter',
  'hangAfter',
];
const AFTER_FORWARD = new Set<FaultKind>(['internalErrorAfter', 'resetAfter', 'hangAfter']);
const SERVICES = new Set(['dynamodb', 'sqs', 's3', 'secretsmanager']);
const DEFAULT_HOLD_MS: [number, number] = [5, 20];

/** Headers that describe one connection, not the message; node sets its own. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'proxy-connection',
  // We forward the whole body at once; the SDK never signs `Expect`.
  'expect',
]);

/** A small, fast, seedable PRNG (mulberry32), the sandbox's: the same seed and request order give the same faults. */
export const mulberry32 = seededRandom;

function emptyCounters() {
  return {
    requests: {} as Record<string, number>,
    faults: {} as Record<string, number>,
    actedThenFailed: {} as Record<string, number>,
    transactionConflicts: {} as Record<string, number>,
    upstreamErrors: 0,
  };
}

const bump = (counts: Record<string, number>, key: string) => (counts[key] = (counts[key] ?? 0) + 1);

/** A raw header list without hop-by-hop headers, its Content-Length set to `length` when given. */
function endToEnd(raw: string[], length?: number): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (HOP_BY_HOP.has(name) || (length !== undefined && name === 'content-length')) continue;
    out.push(raw[i]!, raw[i + 1]!);
  }
  if (length !== undefined) out.push('Content-Length', String(length));
  return out;
}

function hasHeader(raw: string[], name: string): boolean {
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === name) return true;
  return false;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
    req.on('close', () => req.complete || reject(new Error('client went away mid-request')));
  });
}

function sample(range: number | [number, number] | undefined, random: () => number): number {
  if (range === undefined) return 0;
  if (typeof range === 'number') return range;
  return range[0] + random() * (range[1] - range[0]);
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '[::1]' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

export async function startAwsFaultProxy(opts: {
  target: string;
  faults?: FaultConfig;
}): Promise<AwsFaultProxy> {
  const proxy = new FaultProxy(new URL(opts.target), opts.faults ?? {});
  const url = await proxy.listen();
  return {
    url,
    setFaults: (faults) => proxy.setFaults(faults),
    stats: () => proxy.stats(),
    resetStats: () => proxy.resetStats(),
    close: () => proxy.close(),
  };
}

class FaultProxy {
  private config: FaultConfig = {};
  private random = mulberry32(0x5eed);
  private counters = emptyCounters();
  private closed = false;
  // Keep-alive to moto: a fresh connection (and moto thread) per request would dominate a soak's cost.
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 64, maxFreeSockets: 64 });
  private readonly server = createServer((req, res) => void this.handle(req, res));
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly open = new Set<ServerResponse>();
  private readonly hanging = new Set<ServerResponse>();
  private readonly upstream = new Set<ClientRequest>();
  private readonly items = new ItemLocks();
  private readonly tables = new TableLocks();
  private readonly dynamo = new DynamoCoordinator({
    items: this.items,
    tables: this.tables,
    holdMs: () => sample(this.config.transactionHoldMs ?? DEFAULT_HOLD_MS, this.random),
    delay: (ms) => this.delay(ms),
    onConflict: (operation) => bump(this.counters.transactionConflicts, `dynamodb.${operation}`),
  });

  constructor(
    private readonly target: URL,
    faults: FaultConfig,
  ) {
    if (target.protocol !== 'http:' || !isLoopback(target.hostname)) {
      throw new Error(`the fault proxy only forwards to http on loopback, not ${target.origin}`);
    }
    this.setFaults(faults);
    // The SDK reuses connections; keep them longer than its idle time so the proxy never races it to close.
    this.server.keepAliveTimeout = 60_000;
  }

  listen(): Promise<string> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => {
        const { port } = this.server.address() as AddressInfo;
        resolve(`http://127.0.0.1:${port}`);
      });
    });
  }

  setFaults(faults: FaultConfig): void {
    this.config = faults;
    if (faults.seed !== undefined) this.random = mulberry32(faults.seed);
  }

  stats(): ProxyStats {
    return {
      ...structuredClone(this.counters),
      inFlight: this.open.size,
      hanging: this.hanging.size,
      timers: this.timers.size,
      locks: { items: this.items.size, tables: this.tables.size },
    };
  }

  resetStats(): void {
    this.counters = emptyCounters();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    // Every open request, hanging or not, ends now; nothing is left to count.
    for (const res of this.open) res.destroy();
    this.open.clear();
    this.hanging.clear();
    for (const req of this.upstream) req.destroy();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
    this.agent.destroy();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.open.add(res);
    res.once('close', () => this.open.delete(res));
    let body: Buffer;
    try {
      body = await readBody(req);
    } catch {
      return; // The client went away before it finished sending: nothing to answer.
    }
    try {
      const id = identify(req.method ?? 'GET', req.url ?? '/', req.headers);
      const name = `${id.service}.${id.operation}`;
      bump(this.counters.requests, name);
      const faults = this.faultsFor(id);
      const latency = sample(faults?.latencyMs, this.random);
      if (latency > 0) await this.delay(latency);
      const kind = this.pickFault(faults);
      if (kind && !AFTER_FORWARD.has(kind)) {
        bump(this.counters.faults, `${name}.${kind}`);
        return this.fail(kind, id, req, res);
      }
      const outcome = await this.execute(id, req, body);
      // A conflict the proxy answered itself was never acted on: it is sent as is.
      if (kind && outcome.forwarded) {
        bump(this.counters.actedThenFailed, `${name}.${kind}`);
        return this.fail(kind, id, req, res);
      }
      this.send(req, res, outcome.reply);
    } catch {
      // moto unreachable, or it dropped the connection: the client sees a reset, as from a failed AWS host.
      if (!this.closed) this.counters.upstreamErrors++;
      req.socket.destroy();
    }
  }

  private faultsFor(id: RequestIdentity): ServiceFaults | undefined {
    if (!SERVICES.has(id.service)) return undefined;
    const faults = this.config[id.service as 'dynamodb' | 'sqs' | 's3' | 'secretsmanager'];
    if (faults?.operations && !faults.operations.includes(id.operation)) return undefined;
    return faults;
  }

  /** One draw per request against the stacked probabilities, so kinds never combine. */
  private pickFault(faults: ServiceFaults | undefined): FaultKind | undefined {
    if (!faults) return undefined;
    const draw = this.random();
    let edge = 0;
    for (const kind of FAULT_KINDS) {
      edge += faults[kind] ?? 0;
      if (draw < edge) return kind;
    }
    return undefined;
  }

  private fail(kind: FaultKind, id: RequestIdentity, req: IncomingMessage, res: ServerResponse): void {
    if (kind === 'reset' || kind === 'resetAfter') {
      req.socket.destroy();
    } else if (kind === 'hang' || kind === 'hangAfter') {
      this.hanging.add(res);
      res.once('close', () => this.hanging.delete(res));
    } else {
      const errorKind = kind === 'throttle' ? 'throttle' : 'internalError';
      const head = req.method === 'HEAD';
      // DynamoDB throttles as either exception: draw which.
      const provisioned = id.service === 'dynamodb' && errorKind === 'throttle' && this.random() < 0.5;
      this.send(req, res, serviceError(id.service, errorKind, { head, provisioned }));
    }
  }

  private async execute(id: RequestIdentity, req: IncomingMessage, body: Buffer): Promise<Outcome> {
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    const headers = endToEnd(
      req.rawHeaders,
      body.length > 0 || req.headers['content-length'] ? body.length : undefined,
    );
    const forward = () => this.forward(method, path, headers, body);
    if (id.service !== 'dynamodb') return { reply: await forward(), forwarded: true };
    return this.dynamo.run({
      operation: id.operation,
      scope: `${id.accessKeyId}/${id.region}`,
      body,
      forward,
      describeTable: (tableName) => this.describeTable(req, tableName),
    });
  }

  /** DescribeTable to moto as the same caller (moto picks account and region from the credential scope). */
  private describeTable(req: IncomingMessage, tableName: string): Promise<Reply> {
    const body = Buffer.from(JSON.stringify({ TableName: tableName }));
    const headers: string[] = [];
    for (const name of ['host', 'authorization', 'x-amz-date', 'x-amz-security-token']) {
      const value = req.headers[name];
      if (typeof value === 'string') headers.push(name, value);
    }
    headers.push('x-amz-target', 'DynamoDB_20120810.DescribeTable');
    headers.push('content-type', 'application/x-amz-json-1.0', 'content-length', String(body.length));
    return this.forward('POST', '/', headers, body);
  }

  /** Retries once when moto had closed an idle kept-alive connection (the request never reached it). */
  private async forward(method: string, path: string, headers: string[], body: Buffer): Promise<Reply> {
    try {
      return await this.forwardOnce(method, path, headers, body);
    } catch (error) {
      const stale = (error as { reusedSocket?: boolean; code?: string }).reusedSocket;
      if (!stale || (error as { code?: string }).code !== 'ECONNRESET' || this.closed) throw error;
      return this.forwardOnce(method, path, headers, body);
    }
  }

  private forwardOnce(method: string, path: string, headers: string[], body: Buffer): Promise<Reply> {
    // After close() a request released from a lock queue must not open a new connection to moto.
    if (this.closed) return Promise.reject(new Error('the fault proxy is closed'));
    return new Promise((resolve, reject) => {
      const { hostname, port } = this.target;
      const upstream = request({ hostname, port, method, path, headers, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 502, headers: res.rawHeaders, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      });
      this.upstream.add(upstream);
      upstream.once('close', () => this.upstream.delete(upstream));
      upstream.on('error', (error) => reject(Object.assign(error, { reusedSocket: upstream.reusedSocket })));
      upstream.end(body);
    });
  }

  /** moto's headers as it sent them (Content-Length kept: on HEAD it is the object's size). */
  private send(req: IncomingMessage, res: ServerResponse, reply: Reply): void {
    if (this.closed || res.destroyed) return;
    const headers = endToEnd(reply.headers);
    const bodiless = reply.status === 204 || reply.status === 304;
    if (!bodiless && !hasHeader(reply.headers, 'content-length')) {
      headers.push('Content-Length', String(reply.body.length));
    }
    res.writeHead(reply.status, headers);
    // Node itself leaves the body out of an answer to HEAD.
    res.end(bodiless ? undefined : reply.body);
  }

  private delay(ms: number): Promise<void> {
    // After close() nothing may start a timer: a late request just never goes on.
    if (this.closed) return new Promise(() => {});
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        resolve();
      }, ms);
      this.timers.add(timer);
    });
  }
}
