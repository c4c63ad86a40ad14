/** The sandbox's public types: options, faults, what it records, and the `Sandbox` handle tests drive. */

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
  /**
   * The default for `Faults.idleResetMs` (which overrides it while set): reset keep-alive connections idle
   * for more than this many ms, as a load balancer in front of the vendor does. It survives `reset()`.
   */
  idleResetMs?: number;
}

/**
 * The outcomes of `Faults.mix`, each a share 0..1 of API calls (their sum at most 1; the rest answer normally).
 * "After acting" means the sandbox performs the call (records created, contacts logged as started) and then
 * answers the error: the client cannot tell from the answer whether anything started.
 */
export interface MixProbabilities {
  /** 429 + Retry-After: 1 + wsError, not acted on: the vendor throttling. */
  status429?: number;
  /** 503 + wsError, not acted on: the vendor shedding load. */
  status503?: number;
  /** 500 + wsError after acting: "Request Internal Error" raised after the contacts were started. */
  status500AfterActing?: number;
  /** Bodiless 502 after acting: the load balancer lost the vendor's answer (the upstream connection broke). */
  status502AfterActing?: number;
  /** Bodiless 504 after acting: the load balancer gave up waiting for an answer the vendor still produced. */
  status504AfterActing?: number;
  /**
   * Share of BATCH calls (`start/list/data`; other calls answer normally on this draw): the first k records
   * (k drawn uniformly from 0..n-1 for a batch of n) are started, then a bodiless 500: a batch that failed midway.
   */
  partialBatch?: number;
  /** The connection is destroyed after acting: the answer was lost on the way back. */
  dropAfterActing?: number;
  /** The connection is destroyed before acting: the request never reached the vendor. */
  dropBeforeActing?: number;
}

export type MixKind = keyof MixProbabilities;

/**
 * Faults injected into API calls (never into the token endpoint's answers, never into `/__sandbox/*`).
 * When several are set, one call takes at most one, in this order: hangNext, dropNext, unauthorizedNext,
 * failNext, partialBatchNext (batch calls only), nonJsonNext, errorRate, mix. `latencyMs` and `idleResetMs`
 * apply besides. Each injected fault is counted in `Sandbox.faultStats()`.
 */
export interface Faults {
  /** Added to every answer (token endpoint included): a slow vendor, for deadlines and timeouts. */
  latencyMs?: number;
  /** Share 0..1 of API calls answered errorStatus (default 500) with a wsError body, WITHOUT acting on them. */
  errorRate?: number;
  errorStatus?: number;
  /**
   * The next `count` API calls get this answer; body default = a wsError JSON; body '' = empty;
   * afterProcessing=true means the call IS performed and then the error answered (a lost answer).
   * Bodiless 502/504 with afterProcessing model a load balancer that forwarded the call, then lost or
   * timed out the vendor's answer; 500 with afterProcessing models the vendor failing after it acted.
   */
  failNext?: {
    count: number;
    status: number;
    retryAfterSeconds?: number;
    body?: string;
    afterProcessing?: boolean;
  };
  /** Next N API calls answer 401 with an EMPTY body: a revoked permission or a token the vendor forgot. */
  unauthorizedNext?: number;
  /** Destroy the socket without answering: a crashed vendor or a broken connection. */
  dropNext?: { count: number; afterProcessing?: boolean };
  /** Never answer (keep the socket open until close()): a stuck vendor, for client timeouts. */
  hangNext?: { count: number; afterProcessing?: boolean };
  /** Next N API calls answer 200 with an HTML body (not JSON), after processing: a proxy's error page. */
  nonJsonNext?: number;
  /**
   * The next `count` BATCH calls (`start/list/data`) start only their first `startFirst` records (created and
   * logged as started), then answer `status` (default 500) with `body` (default a wsError JSON; '' = empty).
   * Other operations neither take nor consume it. Models a batch the vendor failed midway through: its answer
   * says nothing about which records started.
   */
  partialBatchNext?: { count: number; startFirst: number; status?: number; body?: string };
  /**
   * A request arriving on a keep-alive connection that has been idle (no request in flight) for more than
   * this many ms is not processed: the socket is reset (TCP RST) instead. A connection's first request is
   * always processed. Models a load balancer that silently dropped an idle connection while the client was
   * frozen (a Lambda thawed after minutes): the client's next request on its pooled connection gets
   * ECONNRESET without reaching the vendor. Resets are counted in `Sandbox.idleResets()`. While set, the
   * sandbox's own keep-alive timeout is off, so it is the reset, not a clean close, that ends the connection.
   * Applies to API and token calls, not to `/__sandbox/*`.
   */
  idleResetMs?: number;
  /**
   * A seeded random mix for soak runs: every API call no other fault took draws one outcome from `p`
   * (see MixProbabilities) with a PRNG seeded by `seed`, so the same calls in the same order get the same
   * faults. Setting faults again restarts the sequence.
   */
  mix?: { seed: number; p: MixProbabilities };
}

/** What the faults did, since start or the last `reset()`. */
export interface FaultStats {
  /** Injected faults by kind: the `Faults` key (`failNext`, `errorRate`, …), a `MixKind`, or `idleReset`. */
  injected: Record<string, number>;
  /**
   * Start calls (every operation but `conversation/data`) answered by a fault AFTER the sandbox performed
   * them (after-acting failNext/dropNext/hangNext, nonJsonNext, partialBatchNext, and the mix's after-acting
   * kinds and partialBatch): the client cannot know from the answer whether their records started.
   */
  ambiguousCalls: number;
  /** Records those calls carried (a batch's array length; 1 for the other starts). */
  ambiguousRows: number;
  /** Contacts those calls actually started (entries they added to `started()`). */
  startedByAmbiguous: number;
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
  /** Replaces the current faults (throws on an invalid `mix`). Fault statistics are kept. */
  setFaults(faults: Faults): void;
  /** Every API call (and token call) in arrival order. */
  received(): ReceivedRequest[];
  /** Every contact started, in order. */
  started(): StartedContact[];
  /** Contact key -> times started; key = 'record:<id>' for start/record, 'list:<conversationId>' for start/list, otherwise the canonical JSON of its fields. */
  startCounts(): Map<string, number>;
  /** Keys started more than once. */
  duplicates(): string[];
  /** What the injected faults did; see FaultStats. */
  faultStats(): FaultStats;
  /** Connections reset by `idleResetMs` (also `faultStats().injected.idleReset`). */
  idleResets(): number;
  /** Rotation: the old password stops working at once. */
  setUserPassword(username: string, password: string): void;
  /** Rotation for 2.0; also invalidates existing tokens of that client. */
  setClientSecret(clientId: string, secret: string): void;
  revokeTokens(): void;
  /** danaparam link code -> record. */
  addLinkCode(code: string, recordId: number): void;
  records(): Map<number, Record<string, string>>;
  /** Clears received/started/faults/fault statistics (keeps known conversations, records, link codes and tokens). */
  reset(): void;
  close(): Promise<void>;
}
