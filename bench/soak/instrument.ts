/**
 * What a soak worker process knows about itself, so that it can be killed mid-call without the harness
 * itself causing what the soak looks for:
 *
 * - Every DANAConnect request (the process's `fetch`, wrapped before the handler builds its client): which rows
 *   it carries (the records' EMAIL), whether its bytes have left (undici's `onRequestSent`), how it ended (the
 *   wire log, one JSON line per call, for the parent's ambiguity figures).
 * - Every claim (the handler's DynamoDB client, one middleware): from the first claim command of an owner until
 *   that claim is known to be held (the call follows within the same microtask chain) or not held.
 * - Every completion transaction: which chunks this process has recorded.
 *
 * A kill lands only where the vendor has the request (every call begun has been written) and no claim is
 * between "maybe taken" and "call begun": otherwise the soak would report as a product fault (a never-sent row
 * reported unknown) what is the harness's own doing. The rows the kill puts at risk (chunks of running
 * invocations whose call began and whose completion this process never saw) are written down before dying.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { appendFileSync, writeFileSync } from 'node:fs';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';

/** One invocation of the handler: its chunks' rows, and which of them have had their call begun. */
export interface InvocationState {
  /** chunk key (`job#<jobId>` + `chunk#<index>`) → the EMAILs of its rows. */
  chunks: Map<string, string[]>;
  calledRows: Set<string>;
}

export interface KillRecord {
  reason: 'kill' | 'timeout';
  at: number;
  /** Rows whose outcome the kill may leave unknown: their call began and their chunk was not recorded here. */
  rows: string[];
  /** DANAConnect requests written and not answered at the moment of death. */
  outstanding: number;
  /** Claims not known to be held or free (only a `timeout` kill may have any), and their chunks' rows. */
  openClaims: number;
  openClaimRows: string[];
}

/** One DANAConnect call as this process saw it end. */
export interface WireEntry {
  /** When the call ended (epoch ms). */
  at: number;
  rows: string[];
  status?: number;
  /** The failure when no answer came: `timeout` (aborted) or `network`. */
  error?: 'timeout' | 'network';
  written: boolean;
}

type Dispatcher = { dispatch(options: unknown, handler: object): boolean };

/** The EMAILs of a start call's JSON body (an array for a batch, one record otherwise). */
export function emailsOf(body: unknown): string[] {
  if (typeof body !== 'string') return [];
  try {
    const parsed: unknown = JSON.parse(body);
    const records = Array.isArray(parsed) ? parsed : [parsed];
    return records.flatMap((r) => {
      const email = (r as { EMAIL?: unknown } | null)?.EMAIL;
      return typeof email === 'string' ? [email] : [];
    });
  } catch {
    return [];
  }
}

/** A chunk's key as the job store writes it (`pk`, `sk`), from its message. */
export function chunkKey(jobId: string, chunkId: string): string {
  const index = chunkId.startsWith(`${jobId}#`) ? chunkId.slice(jobId.length + 1) : chunkId;
  return `job#${jobId}|chunk#${index}`;
}

export class ProcessState {
  readonly als = new AsyncLocalStorage<InvocationState>();
  readonly live = new Set<InvocationState>();
  /** Chunks whose completion transaction this process saw succeed (or find already done). */
  readonly recorded = new Set<string>();
  /** Owner → chunk key: claims that may have been taken and whose call has not begun yet. */
  readonly openClaims = new Map<string, string>();
  unwritten = 0;
  outstanding = 0;
  /** Called (from a macrotask) whenever the state moved towards a safe moment. */
  onChange: () => void = () => undefined;

  constructor(
    private readonly wireLog: string,
    private readonly killFile: string,
  ) {}

  /** The rows a death now would put at risk. */
  rowsAtRisk(): string[] {
    const rows: string[] = [];
    for (const invocation of this.live) {
      for (const [key, emails] of invocation.chunks) {
        if (this.recorded.has(key) || !emails.some((e) => invocation.calledRows.has(e))) continue;
        rows.push(...emails);
      }
    }
    return rows;
  }

  /** The rows of the chunks whose claim is open. */
  private openClaimRows(): string[] {
    const open = new Set(this.openClaims.values());
    return [...this.live].flatMap((invocation) =>
      [...invocation.chunks].flatMap(([key, rows]) => (open.has(key) ? rows : [])),
    );
  }

  /** Writes down what dies with the process, then SIGKILLs it (Lambda's way of ending an environment). */
  die(reason: KillRecord['reason']): never {
    const record: KillRecord = {
      reason,
      at: Date.now(),
      rows: this.rowsAtRisk(),
      outstanding: this.outstanding,
      openClaims: this.openClaims.size,
      openClaimRows: this.openClaimRows(),
    };
    writeFileSync(this.killFile, JSON.stringify(record));
    process.kill(process.pid, 'SIGKILL');
    throw new Error('unreachable: the process was killed');
  }

  /** What keeps this process from a safe moment now (for the soak's log when a kill request is given up). */
  killBlockers(): string {
    return `${this.openClaims.size} open claims, ${this.unwritten} requests being written, ${this.outstanding} at the vendor`;
  }

  /** Safe to die mid-call: a request is at the vendor, nothing is between claim and call. */
  safeToKill(): boolean {
    return this.openClaims.size === 0 && this.unwritten === 0 && this.outstanding > 0;
  }

  logWire(entry: WireEntry): void {
    appendFileSync(this.wireLog, `${JSON.stringify(entry)}\n`);
  }

  /** Re-evaluates on the next macrotask: never in the middle of a microtask chain (claim → call). */
  changed(): void {
    setImmediate(() => this.onChange());
  }
}

/** Wraps a request's undici handler so that `onRequestSent` (the whole request written) is reported. */
function watchSent(dispatcher: Dispatcher, onSent: () => void): Dispatcher {
  return {
    dispatch: (options, handler) =>
      dispatcher.dispatch(
        options,
        new Proxy(handler, {
          get(target, property) {
            const value: unknown = Reflect.get(target, property, target);
            if (property !== 'onRequestSent') return value;
            return (...args: unknown[]) => {
              onSent();
              return typeof value === 'function'
                ? (value as (...a: unknown[]) => unknown).apply(target, args)
                : undefined;
            };
          },
        }),
      ),
  };
}

/**
 * Replaces `globalThis.fetch` (before the handler builds its DanaClient, which keeps the function it finds) with
 * one that tracks every call. Requires the client's per-request dispatcher (its connection pool).
 */
export function instrumentFetch(state: ProcessState): void {
  const real = globalThis.fetch;
  globalThis.fetch = async (input, init) => {
    const dispatcher = (init as { dispatcher?: Dispatcher } | undefined)?.dispatcher;
    if (!dispatcher) throw new Error('soak: the DanaClient sent no dispatcher; the kill switch needs one');
    const rows = emailsOf(init?.body);
    for (const row of rows) state.als.getStore()?.calledRows.add(row);
    let written = false;
    state.unwritten++;
    const sent = () => {
      if (written) return;
      written = true;
      state.unwritten--;
      state.outstanding++;
      state.changed();
    };
    try {
      const response = await real(input, { ...init, dispatcher: watchSent(dispatcher, sent) } as RequestInit);
      state.logWire({ at: Date.now(), rows, status: response.status, written });
      return response;
    } catch (error) {
      const name = (error as { name?: string }).name;
      const kind = name === 'TimeoutError' || name === 'AbortError' ? 'timeout' : 'network';
      state.logWire({ at: Date.now(), rows, error: kind, written });
      throw error;
    } finally {
      if (written) state.outstanding--;
      else state.unwritten--;
      state.changed();
    }
  };
}

type Key = Record<string, { S?: string }>;
type Input = { ExpressionAttributeValues?: Key; Key?: Key; TransactItems?: unknown[] };

/** An item's key as `chunkKey` writes it. */
const keyOf = (key: Key | undefined) => `${key?.pk?.S}|${key?.sk?.S}`;

/** `claim`, `release` or neither, by the job store's expressions (lambdas/adapters/dynamo-job-store.ts). */
function claimCommand(
  command: string,
  input: Input,
): { kind: 'claim' | 'release'; owner: string; chunk: string } | undefined {
  const values = input.ExpressionAttributeValues;
  const owner = values?.[':owner']?.S;
  if (command !== 'UpdateItemCommand' || !values || owner === undefined || !values[':claimed'])
    return undefined;
  const chunk = keyOf(input.Key);
  if (values[':until']) return { kind: 'claim', owner, chunk };
  return values[':released'] ? { kind: 'release', owner, chunk } : undefined;
}

/** The chunk a completion transaction writes (its first item), as `chunkKey` names it. */
function completedChunk(input: Input): string | undefined {
  const key = (input.TransactItems?.[0] as { Update?: { Key?: Key } } | undefined)?.Update?.Key;
  return key?.pk?.S && key.sk?.S?.startsWith('chunk#') ? keyOf(key) : undefined;
}

/**
 * Follows claims, releases and completions through the client's middleware. A claim stays open across the
 * job store's own retries (an attempt that failed may have acted), until one attempt answers (held or not) or
 * the claim is released.
 */
export function trackDynamo(client: DynamoDBClient, state: ProcessState): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as Input;
      const claim = claimCommand(context.commandName ?? '', input);
      if (claim?.kind === 'claim') state.openClaims.set(claim.owner, claim.chunk);
      try {
        const output = await next(args);
        if (claim) state.openClaims.delete(claim.owner);
        const chunk = context.commandName === 'TransactWriteItemsCommand' ? completedChunk(input) : undefined;
        if (chunk) state.recorded.add(chunk);
        return output;
      } catch (error) {
        const name = (error as { name?: string }).name;
        // Refused on its condition: the item is not claimed by this owner (or is done) — nothing is held.
        if (claim && (name === 'ConditionalCheckFailedException' || claim.kind === 'release')) {
          state.openClaims.delete(claim.owner);
        }
        throw error;
      } finally {
        state.changed();
      }
    },
    { step: 'initialize', name: 'soakClaimTracker' },
  );
}
