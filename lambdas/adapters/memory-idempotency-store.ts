/**
 * The idempotency records in memory: the embedded twin of DynamoIdempotencyStore for `npm start` and unit tests,
 * with the same semantics (a claim is stored only when no live record holds the scope; records expire with the
 * jobs, after DEFAULT_TTL_DAYS). A claim reads and writes between two awaits, so concurrent claims in one process
 * never interleave: exactly one is stored.
 */
import type { IdempotencyClaim, IdempotencyRecord, IdempotencyStore } from '../core/idempotency';

/** As the jobs' TTL (dynamo-job-store.ts DEFAULT_TTL_DAYS), restated so this twin imports no SDK. */
const DEFAULT_TTL_DAYS = 30;

export class MemoryIdempotencyStore implements IdempotencyStore {
  private readonly records = new Map<string, IdempotencyRecord & { expiresAtMs: number }>();
  private readonly ttlMs: number;

  constructor(
    private readonly now: () => number = Date.now,
    ttlDays: number = DEFAULT_TTL_DAYS,
  ) {
    this.ttlMs = ttlDays * 86_400_000;
  }

  async claim(scope: string, record: IdempotencyRecord): Promise<IdempotencyClaim> {
    const existing = this.records.get(scope);
    if (existing && existing.expiresAtMs > this.now()) {
      return { stored: false, existing: { jobId: existing.jobId, fingerprint: existing.fingerprint } };
    }
    this.records.set(scope, { ...record, expiresAtMs: this.now() + this.ttlMs });
    return { stored: true };
  }

  /** How many scopes hold a record (tests). */
  get size(): number {
    return this.records.size;
  }
}
