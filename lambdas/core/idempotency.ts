/**
 * `Idempotency-Key` on the async HTTP API, after the IETF HTTPAPI draft "The Idempotency-Key HTTP Header Field":
 * the pure rules and the port of the store that remembers keys.
 *
 * - Scope: a key belongs to the caller (the authenticated principal: IAM ARN or API key id), the method and the
 *   path with its ids (`POST /api/1.0/rest/conversation/1001/start/data`). The same key from another caller or
 *   on another path is another request. The store only ever sees a SHA-256 of the scope, never the key itself.
 * - Fingerprint: SHA-256 of the body as canonical JSON (object keys sorted, no whitespace), so a retry that
 *   serialises the same body differently (key order, spacing) is the same request.
 * - Record: scope → { job id, fingerprint }, written once (a conditional put); it expires with the job (30 days).
 *   Job ids are random, so nobody can derive another caller's job id from a key.
 *
 * What a keyed request gets (the decision):
 * | record under the scope                  | answer                                                            |
 * |-----------------------------------------|-------------------------------------------------------------------|
 * | none (or expired)                       | ours is stored: a new job with a new random id                    |
 * | same fingerprint (a retry)              | the first request's job, even while that request is still running |
 * | another fingerprint (the key was reused) | 422, `idError` 9422, and nothing is started                       |
 *
 * A retry while the first request is still being handled joins the same job rather than getting the draft's 409:
 * submitting a job id twice is harmless here (creating the job is conditional, its one chunk id is deterministic
 * and the worker starts a chunk at most once), and joining also finishes a first attempt that stopped half way
 * (record written, job or chunk not), which a 409 would leave stuck until the record expired.
 */
import { createHash } from 'node:crypto';
import { InvalidInputError } from './errors';

/** What identifies a keyed request and what it asks for. */
export interface IdempotentRequest {
  /** The authenticated principal, as the doorway names it (see ../http/request.ts callerOf). */
  caller: string;
  method: string;
  /** The path the caller sent, ids included, without the stage or base path. */
  path: string;
  /** The `Idempotency-Key`, validated (../core/validation.ts parseIdempotencyKey). */
  key: string;
  /** The parsed JSON body. */
  body: unknown;
}

/** What the store keeps under a scope. */
export interface IdempotencyRecord {
  jobId: string;
  fingerprint: string;
}

/** The outcome of a claim: ours was stored, or a live record already held the scope. */
export type IdempotencyClaim = { stored: true } | { stored: false; existing: IdempotencyRecord };

/** The store of idempotency records. DynamoDB in AWS (one item per scope in the jobs table), memory locally. */
export interface IdempotencyStore {
  /**
   * Stores `record` under `scope` unless a live (unexpired) record is there, atomically: of concurrent claims on
   * one scope exactly one is stored, and the others get the stored record.
   */
  claim(scope: string, record: IdempotencyRecord): Promise<IdempotencyClaim>;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** The scope of a key, hashed: 64 hex digits. JSON keeps the parts apart (no separator can be forged). */
export function idempotencyScope(
  request: Pick<IdempotentRequest, 'caller' | 'method' | 'path' | 'key'>,
): string {
  return sha256(
    JSON.stringify(['idempotency-key', request.caller, request.method, request.path, request.key]),
  );
}

/**
 * JSON with every object's keys sorted (by UTF-16 code units, as Array.prototype.sort does) and no whitespace.
 * Only ever given bodies the validator accepted (records of scalars, or arrays of them), so recursion is shallow.
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item ?? null)).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

/** The request's fingerprint: SHA-256 (hex) of the canonical JSON of its body; no body counts as `null`. */
export function requestFingerprint(body: unknown): string {
  return sha256(canonicalJson(body));
}

export type IdempotencyDecision =
  /** Our record was stored: the first request with this key; it starts `jobId`. */
  | { kind: 'first'; jobId: string }
  /** The same request again: the first request's job. */
  | { kind: 'repeat'; jobId: string }
  /** The key was used for another request: refuse (422), start nothing. */
  | { kind: 'conflict' };

/** What a claim means for the request that made it (see the table above). */
export function decide(proposed: IdempotencyRecord, claim: IdempotencyClaim): IdempotencyDecision {
  if (claim.stored) return { kind: 'first', jobId: proposed.jobId };
  if (claim.existing.fingerprint !== proposed.fingerprint) return { kind: 'conflict' };
  return { kind: 'repeat', jobId: claim.existing.jobId };
}

/**
 * The job a keyed request starts or joins: claims the scope with a new job id (`newJobId`) and decides.
 * Throws InvalidInputError IDEMPOTENCY_KEY_REUSED (422) when the key was used for another request; the error
 * names the header, never its value.
 */
export async function jobIdForKey(
  store: IdempotencyStore,
  request: IdempotentRequest,
  newJobId: () => string,
): Promise<{ jobId: string; repeat: boolean }> {
  const proposed: IdempotencyRecord = { jobId: newJobId(), fingerprint: requestFingerprint(request.body) };
  const decision = decide(proposed, await store.claim(idempotencyScope(request), proposed));
  if (decision.kind === 'conflict') {
    throw new InvalidInputError(
      'Idempotency-Key',
      'was already used with a different body on this path; use a new key for a new request',
      'IDEMPOTENCY_KEY_REUSED',
    );
  }
  return { jobId: decision.jobId, repeat: decision.kind === 'repeat' };
}
