/**
 * A faithful local DANAConnect: the six Conversation API operations under `/api/1.0/rest` (HTTP Basic) and
 * `/api/2.0/rest` (Bearer), the OAuth2 token endpoint, the vendor's envelopes, and fault injection for tests.
 * node:http only. Always bound on 127.0.0.1; the `/__sandbox/*` control endpoints are unauthenticated.
 *
 * The parts, one concern each:
 * - types.ts: the public types (options, Faults, FaultStats, Sandbox, what is recorded);
 * - state.ts: records, link codes, conversations, received requests, started contacts, duplicates;
 * - auth.ts: Basic (1.0), Bearer tokens and the OAuth2 client-credentials endpoint (2.0), rotation;
 * - routes.ts, operations.ts: the API paths and the six operations; envelopes.ts: wsResult / wsError;
 * - faults.ts, mix.ts: which fault a call takes, and the fault statistics; throttle.ts: the rate limit;
 * - control.ts: `/__sandbox/*`; connections.ts: keep-alive connections and idle resets;
 * - http.ts, handler.ts: the HTTP plumbing and one request's way through the sandbox; this file wires them.
 *
 * Choices where the vendor is silent are listed in operations.ts (see shared/reference/danaconnect-api.md);
 * `wsError.idError` codes are the sandbox's own: see WS_ERRORS.
 */
import { createServer, type Server } from 'node:http';
import { Credentials } from './auth';
import { Connections } from './connections';
import { controlAnswer } from './control';
import { WS_ERRORS, wsError } from './envelopes';
import { FaultInjector } from './faults';
import { listenLoopback, send } from './http';
import { RequestHandler } from './handler';
import { SandboxState } from './state';
import { RateLimiter } from './throttle';
import type { Sandbox, SandboxOptions } from './types';

export { DEMO_CLIENT, DEMO_USER } from './auth';
export { WS_ERRORS } from './envelopes';
export { MAX_BODY_BYTES } from './http';
export type {
  Faults,
  FaultStats,
  MixKind,
  MixProbabilities,
  ReceivedRequest,
  Sandbox,
  SandboxOptions,
  StartedContact,
} from './types';

interface Parts {
  options: SandboxOptions;
  url: string;
  server: Server;
  state: SandboxState;
  credentials: Credentials;
  faults: FaultInjector;
  limiter: RateLimiter;
  connections: Connections;
  handler: RequestHandler;
}

export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const server = createServer();
  const parts = {
    options,
    server,
    state: new SandboxState(options),
    credentials: new Credentials(options),
    faults: new FaultInjector(),
    limiter: new RateLimiter(options.rateLimitPerSecond),
    connections: new Connections(server),
  };
  let sandbox: Sandbox | undefined = undefined;
  const handler = new RequestHandler({
    ...parts,
    control: (method, name, rawBody) => controlAnswer(sandbox!, method, name, rawBody),
  });
  server.on('request', (req, res) => {
    handler.handle(req, res).catch(() => {
      if (!res.headersSent) send(res, wsError(500, WS_ERRORS.internal, 'Sandbox failure'));
    });
  });
  parts.connections.idleResetMs = options.idleResetMs;
  const port = await listenLoopback(server, options.port ?? 0);
  sandbox = sandboxHandle({ ...parts, handler, url: `http://127.0.0.1:${port}` });
  return sandbox;
}

/** The `Sandbox` that tests drive, over the parts. */
function sandboxHandle(parts: Parts): Sandbox {
  const { options, state, credentials, faults, connections } = parts;
  return {
    url: parts.url,
    tokenUrl: `${parts.url}/oauth2/token`,
    setFaults(next) {
      faults.set(next);
      connections.idleResetMs = faults.current.idleResetMs ?? options.idleResetMs;
    },
    received: () => state.received(),
    started: () => state.started(),
    startCounts: () => state.startCounts(),
    duplicates: () => state.duplicates(),
    faultStats: () => faults.stats(),
    idleResets: () => faults.stats().injected.idleReset ?? 0,
    setUserPassword: (username, password) => credentials.setUserPassword(username, password),
    setClientSecret: (clientId, secret) => credentials.setClientSecret(clientId, secret),
    revokeTokens: () => credentials.revokeTokens(),
    addLinkCode: (code, recordId) => state.addLinkCode(code, recordId),
    records: () => state.records(),
    reset() {
      state.reset();
      faults.reset();
      parts.limiter.reset();
      connections.idleResetMs = options.idleResetMs;
    },
    async close() {
      parts.handler.endHung();
      const closed = new Promise<void>((resolve) => parts.server.close(() => resolve()));
      connections.destroyAll();
      await closed;
    },
  };
}
