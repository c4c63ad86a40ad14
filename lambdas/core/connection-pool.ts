/**
 * The DANAConnect client's own keep-alive pool, for two things the runtime's shared fetch pool cannot do:
 *
 * - Never reuse a connection idle past a safe age by the client's own clock. A Lambda frozen for minutes thaws
 *   with connections that a load balancer dropped long ago (silently: no FIN, no RST), and the pool's keep-alive
 *   timers did not run while it was frozen, so the next start would go out on a dead connection and be reset:
 *   an unknown outcome for a start that never arrived. The client's clock (`now`) moves on across a freeze; when
 *   the last exchange ended longer ago than the safe age and nothing is in flight, the whole pool is replaced by
 *   a fresh one (the old one is closed), so the next request opens a new connection.
 * - Tell whether a failed request was provably never written. undici calls a request handler's `onConnect` just
 *   before it writes the request's first byte; a failure before that call (a refused or reset connection, a TLS
 *   handshake cut, an abort while connecting or queued) means DANAConnect never saw the request.
 *
 * Node's fetch is undici; its pool class (Agent) is not exported by Node, but the global dispatcher Node's fetch
 * installs is one, so its constructor is taken from there, and fetch takes a `dispatcher` per request. Checked on
 * Node 20 (undici 6) and Node 24 (undici 7), where both hold. When no Agent is found (another runtime, or someone
 * installed another global dispatcher), the client falls back to plain fetch: no safe age, and every failure
 * after the request was handed to fetch counts as possibly written.
 */

/** Where undici keeps its global dispatcher (the same symbol in undici 6 and 7). */
const GLOBAL_DISPATCHER = Symbol.for('undici.globalDispatcher.1');

/** What the client uses of an undici dispatcher. */
interface Dispatcher {
  dispatch(options: unknown, handler: object): boolean;
  close(): Promise<void>;
}
type AgentConstructor = new (options: {
  keepAliveTimeout: number;
  keepAliveMaxTimeout: number;
}) => Dispatcher;

/** The Agent class of this runtime's fetch, or undefined when there is none to be found. */
export function runtimeAgent(): AgentConstructor | undefined {
  // Node loads its fetch implementation lazily; reading Response loads it, and it installs its global Agent then.
  void globalThis.Response;
  const global = (globalThis as Record<symbol, unknown>)[GLOBAL_DISPATCHER] as object | undefined;
  const constructor = global?.constructor as (AgentConstructor & { name?: string }) | undefined;
  if (typeof constructor !== 'function' || constructor.name !== 'Agent') return undefined;
  return typeof constructor.prototype?.dispatch === 'function' ? constructor : undefined;
}

/** One request through the pool. */
export interface PooledExchange {
  /** For fetch's `dispatcher` init option; undefined: fetch's own pool. */
  dispatcher: object | undefined;
  /** True when the request reached the pool and failed before its first byte was written. */
  notWritten(): boolean;
  /** The exchange is over: its answer was read, or it failed. */
  end(): void;
}

/** A handler that reports when undici is about to write its request (legacy and new handler API alike). */
function watchWrites(handler: object, onWrite: () => void): object {
  return new Proxy(handler, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if ((property !== 'onConnect' && property !== 'onRequestStart') || typeof value !== 'function')
        return value;
      return (...args: unknown[]) => {
        onWrite();
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

export class ConnectionPool {
  private agent: Dispatcher | undefined;
  private inFlight = 0;
  private lastExchangeEnded = Number.NEGATIVE_INFINITY;

  constructor(
    /** The safe age: an idle connection older than this by `now` is not used again. */
    private readonly maxIdleMs: number,
    private readonly now: () => number,
    private readonly Agent: AgentConstructor | undefined = runtimeAgent(),
  ) {}

  begin(): PooledExchange {
    const agent = this.Agent && this.current(this.Agent);
    if (!agent) return { dispatcher: undefined, notWritten: () => false, end: () => undefined };
    this.inFlight++;
    let dispatched = false;
    let written = false;
    let ended = false;
    const dispatcher = {
      dispatch: (options: unknown, handler: object) => {
        dispatched = true;
        return agent.dispatch(
          options,
          watchWrites(handler, () => (written = true)),
        );
      },
    };
    return {
      dispatcher,
      notWritten: () => dispatched && !written,
      end: () => {
        if (ended) return;
        ended = true;
        this.inFlight--;
        this.lastExchangeEnded = this.now();
      },
    };
  }

  /** The pool to use now: a fresh one when every connection of the current one may be past the safe age. */
  private current(Agent: AgentConstructor): Dispatcher {
    const stale = this.inFlight === 0 && this.now() - this.lastExchangeEnded > this.maxIdleMs;
    if (this.agent && !stale) return this.agent;
    // Closing ends the old pool's idle connections; nothing of ours is in flight on it.
    this.agent?.close().catch(() => undefined);
    // undici's own idle timer as well: while the process runs, connections are closed at the safe age anyway, and
    // a server's longer Keep-Alive hint cannot stretch it (keepAliveMaxTimeout).
    this.agent = new Agent({ keepAliveTimeout: this.maxIdleMs, keepAliveMaxTimeout: this.maxIdleMs });
    return this.agent;
  }
}
