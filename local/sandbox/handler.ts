/**
 * One request's way through the sandbox: the idle-connection check, the body, the control endpoints, the
 * record of what was received, latency, the token endpoint, then an API call with its fault (if any).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Credentials } from './auth';
import type { Connections } from './connections';
import { WS_ERRORS, wsError, type Answer } from './envelopes';
import type { Fault, FaultInjector } from './faults';
import { BodyTooLarge, firstHeader, MAX_BODY_BYTES, parseBody, readBody, send, splitUrl } from './http';
import { performCall, rowsOf, type ApiCall, type BatchLimit } from './operations';
import { routeOf, type RouteName } from './routes';
import type { SandboxState } from './state';
import type { RateLimiter } from './throttle';

export const CONTROL_PREFIX = '/__sandbox/';
export const TOKEN_PATH = '/oauth2/token';

export interface HandlerParts {
  state: SandboxState;
  credentials: Credentials;
  faults: FaultInjector;
  limiter: RateLimiter;
  connections: Connections;
  /** Answers `METHOD /__sandbox/<name>`. */
  control: (method: string, name: string, rawBody: string) => Answer;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class RequestHandler {
  private readonly hung = new Set<ServerResponse>();

  constructor(private readonly parts: HandlerParts) {}

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { state, faults, connections } = this.parts;
    const method = req.method ?? 'GET';
    const { rawPath, query } = splitUrl(req.url ?? '/');
    const isControl = rawPath.startsWith(CONTROL_PREFIX);
    if (!connections.admit(req, res, isControl)) return faults.count('idleReset');
    const rawBody = await this.readOrRefuse(req, res);
    if (rawBody === undefined) return;
    if (isControl) {
      return send(res, this.parts.control(method, rawPath.slice(CONTROL_PREFIX.length), rawBody));
    }
    const authorization = firstHeader(req.headers.authorization);
    const contentType = firstHeader(req.headers['content-type']);
    const debug = firstHeader(req.headers['x-debug']);
    state.logReceived({
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
    if (faults.current.latencyMs) await sleep(faults.current.latencyMs);
    if (rawPath === TOKEN_PATH) {
      return send(res, this.parts.credentials.tokenEndpoint(method, authorization, rawBody));
    }
    this.apiCall({ method, rawPath, query, authorization, contentType, rawBody }, req, res);
  }

  /** Ends every request left hanging by `hangNext`. */
  endHung(): void {
    for (const res of this.hung) res.destroy();
    this.hung.clear();
  }

  /** The body, or undefined once a too-large body was answered 413 (or a broken one dropped). */
  private async readOrRefuse(req: IncomingMessage, res: ServerResponse): Promise<string | undefined> {
    try {
      return await readBody(req, MAX_BODY_BYTES);
    } catch (error) {
      if (!(error instanceof BodyTooLarge)) {
        req.socket.destroy();
        return undefined;
      }
      res.setHeader('Connection', 'close');
      send(res, wsError(413, WS_ERRORS.tooLarge, `Body larger than ${MAX_BODY_BYTES} bytes`));
      res.on('finish', () => req.socket.destroy());
      return undefined;
    }
  }

  private apiCall(call: ApiCall, req: IncomingMessage, res: ServerResponse): void {
    const { faults, limiter } = this.parts;
    const route = routeOf(call.method, call.rawPath);
    const fault = faults.take({ batch: route === 'batch' });
    if (fault) {
      if (fault.afterProcessing) this.performActed(call, route, fault.batchLimit);
      return this.deliver(fault, req, res);
    }
    if (limiter.throttled()) {
      return send(res, wsError(429, WS_ERRORS.throttled, 'Too many requests', { 'Retry-After': '1' }));
    }
    send(res, performCall(this.parts, call));
  }

  /** Performs a call whose answer a fault replaces; a start call's outcome is then ambiguous to the client. */
  private performActed(call: ApiCall, route: RouteName | undefined, batchLimit?: BatchLimit): void {
    const { state, faults } = this.parts;
    const before = state.startedCount;
    performCall(this.parts, call, batchLimit);
    if (route !== undefined && route !== 'data') {
      faults.noteAmbiguous(rowsOf(route, call.rawBody), state.startedCount - before);
    }
  }

  private deliver(fault: Fault, req: IncomingMessage, res: ServerResponse): void {
    switch (fault.type) {
      case 'hang':
        this.hung.add(res);
        res.on('close', () => this.hung.delete(res));
        return;
      case 'drop':
        req.socket.destroy();
        return;
      case 'answer':
        return send(res, fault.answer);
    }
  }
}
