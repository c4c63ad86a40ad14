/**
 * Conversation aliases: a stable name for a DANAConnect conversation, whose id changes every time its flow is
 * reactivated. Pure rules and the port of the store; DynamoDB in AWS (../adapters/dynamo-alias-store.ts), memory
 * locally (../adapters/memory-alias-store.ts).
 *
 * - A name is `[a-z][a-z0-9-]{0,62}`: it starts with a letter, so it is never mistaken for an id (digits only).
 * - A record holds the current conversation id and its history: one period per id it has pointed at, newest
 *   first, `{conversationId, from, to}` (ISO instants; the current period has `to: null`). The last
 *   ALIAS_HISTORY_KEPT periods are kept, so at least the last 20 changes.
 * - A put that names the id the alias already holds changes nothing (a retried PUT adds no history).
 * - Every write is conditioned on the revision it read (optimistic concurrency): two concurrent PUTs both land,
 *   one after the other, and the history holds both.
 * - `resolveConversation` is the one place every door (HTTP path, upload key, schedule) turns a reference, an id or
 *   an alias, into an id. An unknown alias is 404, idError 9404, naming the alias, and nothing goes upstream.
 */
import { createHash } from 'node:crypto';
import { InvalidInputError } from './errors';
import { parseId } from './validation';

export const ALIAS_NAME_PATTERN = /^[a-z][a-z0-9-]{0,62}$/;
/** Periods kept per alias: the current one and the 24 before it (the issue asks for at least the last 20). */
export const ALIAS_HISTORY_KEPT = 25;
export const ALIAS_LIST_DEFAULT_LIMIT = 50;
export const ALIAS_LIST_MAX_LIMIT = 100;
/** Concurrent writers on one alias retry this often before giving up (each retry re-reads). */
const MAX_WRITE_ATTEMPTS = 5;

/** One period during which the alias pointed at `conversationId`; `to` is null for the current one. */
export interface AliasChange {
  conversationId: number;
  from: string;
  to: string | null;
}

export interface AliasRecord {
  name: string;
  conversationId: number;
  /** When the current id was set (ISO). */
  updatedAt: string;
  /** Newest first; `history[0]` is the current period. */
  history: AliasChange[];
  /** Bumped on every write; what the next write is conditioned on. */
  revision: number;
}

export interface AliasPage {
  aliases: AliasRecord[];
  /** The last name of this page when more may follow; the API turns it into an opaque cursor. */
  lastName?: string;
}

/** Where aliases live. Reads are strongly consistent, so a resolution sees the last completed write. */
export interface AliasStore {
  get(name: string): Promise<AliasRecord | undefined>;
  /**
   * Writes `record` if the stored one still has `expectedRevision` (undefined: if there is none). False when
   * another writer came first; the caller reads again and retries (putAlias does).
   */
  save(record: AliasRecord, expectedRevision: number | undefined): Promise<boolean>;
  /** Up to `limit` aliases in name order, after `afterName` when given. */
  list(limit: number, afterName?: string): Promise<AliasPage>;
  /** True when there was one to delete. */
  delete(name: string): Promise<boolean>;
}

/** The conversation a reference stands for; `alias` when the reference was one. */
export interface ResolvedConversation {
  conversationId: number;
  alias?: string;
}

/** An alias nobody has defined: 404, idError 9404, naming it. */
export class UnknownAliasError extends InvalidInputError {
  readonly alias: string;
  constructor(target: string, alias: string) {
    super(target, `no alias named "${alias}"`, 'NOT_FOUND');
    this.name = 'UnknownAliasError';
    this.alias = alias;
  }
}

export function isAliasName(raw: unknown): raw is string {
  return typeof raw === 'string' && ALIAS_NAME_PATTERN.test(raw);
}

/** The `{name}` of the alias routes; 400 naming `name` otherwise. */
export function parseAliasName(raw: unknown, target = 'name'): string {
  if (!isAliasName(raw)) {
    throw new InvalidInputError(
      target,
      'must be 1 to 63 characters of a-z, 0-9 and -, starting with a letter',
    );
  }
  return raw;
}

/** A reference is an alias when it starts with a letter; anything else is read as an id. */
export function looksLikeAlias(ref: unknown): ref is string {
  return typeof ref === 'string' && /^[a-z]/.test(ref);
}

/**
 * An id (digits, or a number) or an alias name → the conversation id. `target` names the parameter in errors
 * (`conversationId`, `key`, `conversation`). Bad syntax is 400; an unknown alias 404 (UnknownAliasError).
 */
export async function resolveConversation(
  ref: string | number,
  store: Pick<AliasStore, 'get'>,
  target = 'conversationId',
): Promise<ResolvedConversation> {
  // Not a letter first: an id, refused with the validator's own reason when it is not one.
  if (!looksLikeAlias(ref)) return { conversationId: parseId(target, ref) };
  const alias = parseAliasName(ref, target);
  const record = await store.get(alias);
  if (!record) throw new UnknownAliasError(target, alias);
  return { conversationId: record.conversationId, alias };
}

/** The record after setting `conversationId` at `now`; the same record when it already holds that id. */
export function nextAliasRecord(
  name: string,
  current: AliasRecord | undefined,
  conversationId: number,
  now: Date,
): AliasRecord {
  if (current && current.conversationId === conversationId) return current;
  const at = now.toISOString();
  const closed = (current?.history ?? []).map((change, i) => (i === 0 ? { ...change, to: at } : change));
  return {
    name,
    conversationId,
    updatedAt: at,
    history: [{ conversationId, from: at, to: null }, ...closed].slice(0, ALIAS_HISTORY_KEPT),
    revision: (current?.revision ?? 0) + 1,
  };
}

/** Points `name` at `conversationId` (validated here), keeping the history; retries a lost race. */
export async function putAlias(
  store: AliasStore,
  name: string,
  conversationId: unknown,
  now: () => Date = () => new Date(),
): Promise<AliasRecord> {
  const alias = parseAliasName(name);
  const id = parseId('conversationId', conversationId);
  for (let attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt++) {
    const current = await store.get(alias);
    const next = nextAliasRecord(alias, current, id, now());
    if (next === current) return current;
    if (await store.save(next, current?.revision)) return next;
  }
  throw new Error(`alias ${alias} kept changing while it was written`);
}

/** What the API answers for an alias (the revision stays inside). */
export function aliasView(record: AliasRecord) {
  return {
    name: record.name,
    conversationId: record.conversationId,
    updatedAt: record.updatedAt,
    history: record.history,
  };
}

/*
 * The list cursor: opaque to callers, base64url of `<name>.<check>`, where check is the first 16 hex digits of
 * the SHA-256 of the name. It carries only the last name of a page, which the adapter turns back into a key it
 * builds itself (never a raw ExclusiveStartKey from the caller), so an edited cursor can at worst start the list
 * elsewhere among the aliases the caller may list anyway; the check refuses it with 400 instead.
 */
const cursorCheck = (name: string) =>
  createHash('sha256').update(`alias-cursor:${name}`).digest('hex').slice(0, 16);

export function encodeAliasCursor(lastName: string): string {
  return Buffer.from(`${lastName}.${cursorCheck(lastName)}`, 'utf8').toString('base64url');
}

export function decodeAliasCursor(cursor: string): string {
  const text = /^[A-Za-z0-9_-]{1,200}$/.test(cursor) ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
  const dot = text.lastIndexOf('.');
  const name = text.slice(0, dot);
  if (dot < 1 || !isAliasName(name) || text.slice(dot + 1) !== cursorCheck(name)) {
    throw new InvalidInputError('cursor', 'is not a cursor this API handed out');
  }
  return name;
}

/** `limit`: 1..100, default 50. */
export function parseListLimit(raw: string | undefined): number {
  if (raw === undefined || raw === '') return ALIAS_LIST_DEFAULT_LIMIT;
  if (!/^[1-9][0-9]{0,2}$/.test(raw) || Number(raw) > ALIAS_LIST_MAX_LIMIT) {
    throw new InvalidInputError('limit', `must be an integer from 1 to ${ALIAS_LIST_MAX_LIMIT}`);
  }
  return Number(raw);
}

/** One page of `GET /aliases`: `{aliases, cursor?}` (cursor only when more may follow). */
export async function listAliases(
  store: AliasStore,
  query: { limit?: string; cursor?: string },
): Promise<{ aliases: ReturnType<typeof aliasView>[]; cursor?: string }> {
  const limit = parseListLimit(query.limit);
  const after = query.cursor === undefined ? undefined : decodeAliasCursor(query.cursor);
  const page = await store.list(limit, after);
  const aliases = page.aliases.map(aliasView);
  return page.lastName === undefined ? { aliases } : { aliases, cursor: encodeAliasCursor(page.lastName) };
}

/** How long a resolution may be served from memory: a PUT is seen by every function within this. */
export const ALIAS_CACHE_TTL_MS = 15_000;
const ALIAS_CACHE_MAX_ENTRIES = 1_000;

/**
 * A store whose `get` answers from memory for up to `ttlMs` (found and not found alike), for the functions that
 * resolve aliases on every request. Writes through this wrapper drop the entry at once; writes elsewhere (another
 * function, another process) are seen within `ttlMs`. Bounded, so unknown names sent in bulk cannot grow it.
 */
export function cachedAliasStore(
  store: AliasStore,
  ttlMs: number = ALIAS_CACHE_TTL_MS,
  now: () => number = Date.now,
): AliasStore {
  const entries = new Map<string, { record: AliasRecord | undefined; until: number }>();
  return {
    async get(name) {
      const hit = entries.get(name);
      if (hit && hit.until > now()) return hit.record;
      const record = await store.get(name);
      if (entries.size >= ALIAS_CACHE_MAX_ENTRIES) entries.clear();
      entries.set(name, { record, until: now() + ttlMs });
      return record;
    },
    async save(record, expectedRevision) {
      entries.delete(record.name);
      return store.save(record, expectedRevision);
    },
    list: (limit, afterName) => store.list(limit, afterName),
    async delete(name) {
      entries.delete(name);
      return store.delete(name);
    },
  };
}

/*
 * The alias API's operations (lambdas/aliases/handler.ts): each validates its own input and answers the view.
 */

/** `PUT /aliases/{name}` with `{"conversationId": 1001}` → the alias as it now stands. */
export async function putAliasFromBody(
  store: AliasStore,
  name: unknown,
  body: unknown,
  now: () => Date = () => new Date(),
): Promise<ReturnType<typeof aliasView>> {
  const alias = parseAliasName(name);
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new InvalidInputError('body', 'must be a JSON object {"conversationId": <id>}');
  }
  const extra = Object.keys(body).find((field) => field !== 'conversationId');
  if (extra !== undefined) {
    throw new InvalidInputError(`body.${extra.slice(0, 64)}`, 'is not a field of an alias');
  }
  const conversationId = parseId('conversationId', (body as { conversationId?: unknown }).conversationId);
  return aliasView(await putAlias(store, alias, conversationId, now));
}

/** `GET /aliases/{name}`: 404 naming it when there is none. */
export async function getAlias(store: AliasStore, name: unknown): Promise<ReturnType<typeof aliasView>> {
  const alias = parseAliasName(name);
  const record = await store.get(alias);
  if (!record) throw new UnknownAliasError('name', alias);
  return aliasView(record);
}

/** `DELETE /aliases/{name}`: 404 naming it when there is none. */
export async function deleteAlias(store: AliasStore, name: unknown): Promise<void> {
  const alias = parseAliasName(name);
  if (!(await store.delete(alias))) throw new UnknownAliasError('name', alias);
}
