/**
 * Fault injection: holds the current `Faults`, decides which fault (if any) an API call takes, consuming
 * its count, and keeps the statistics of what was injected (see FaultStats).
 */
import { htmlPage, injectedError, unauthorized, WS_ERRORS, wsError, type Answer } from './envelopes';
import { drawMix, seededRandom, validateMix } from './mix';
import type { BatchLimit } from './operations';
import type { Faults, FaultStats } from './types';

/** One fault to apply to one call. */
export type Fault = {
  /** The key it is counted under in `FaultStats.injected`. */
  kind: string;
  /** Whether the call is performed before the fault (drop, hang or answer) is applied. */
  afterProcessing: boolean;
  /** For a partial batch: how many of the batch's first records to process. */
  batchLimit?: BatchLimit;
} & ({ type: 'hang' | 'drop' } | { type: 'answer'; answer: Answer });

/** Throws on a fault the sandbox cannot apply (only the newer fields are checked). */
function validate(faults: Faults): void {
  if (faults.mix !== undefined) validateMix(faults.mix);
  const idle = faults.idleResetMs;
  if (idle !== undefined && !(typeof idle === 'number' && idle >= 0)) {
    throw new Error('idleResetMs must be a number >= 0');
  }
  const partial = faults.partialBatchNext;
  if (partial !== undefined && !(Number.isInteger(partial.startFirst) && partial.startFirst >= 0)) {
    throw new Error('partialBatchNext.startFirst must be an integer >= 0');
  }
}

export class FaultInjector {
  private faults: Faults = {};
  private random: (() => number) | undefined;
  private injected = new Map<string, number>();
  private ambiguous = { calls: 0, rows: 0, started: 0 };

  /** Replaces the current faults; a `mix` restarts its random sequence from its seed. */
  set(next: Faults): void {
    const faults = structuredClone(next ?? {});
    validate(faults);
    this.faults = faults;
    this.random = faults.mix ? seededRandom(faults.mix.seed) : undefined;
  }

  get current(): Readonly<Faults> {
    return this.faults;
  }

  /** Takes the fault for the next API call, consuming its count, and counts it as injected. */
  take(call: { batch: boolean }): Fault | undefined {
    const fault = this.takeCounted() ?? this.takeBatch(call.batch) ?? this.takeRest(call.batch);
    if (fault) this.count(fault.kind);
    return fault;
  }

  /** Counts an injected fault of `kind` (e.g. `idleReset`, applied outside `take`). */
  count(kind: string): void {
    this.injected.set(kind, (this.injected.get(kind) ?? 0) + 1);
  }

  /** A start call was answered by a fault after it was performed: it carried `rows` and started `started`. */
  noteAmbiguous(rows: number, started: number): void {
    this.ambiguous.calls++;
    this.ambiguous.rows += rows;
    this.ambiguous.started += started;
  }

  stats(): FaultStats {
    return {
      injected: Object.fromEntries(this.injected),
      ambiguousCalls: this.ambiguous.calls,
      ambiguousRows: this.ambiguous.rows,
      startedByAmbiguous: this.ambiguous.started,
    };
  }

  /** Clears the faults and the statistics. */
  reset(): void {
    this.faults = {};
    this.random = undefined;
    this.injected = new Map();
    this.ambiguous = { calls: 0, rows: 0, started: 0 };
  }

  private takeCounted(): Fault | undefined {
    const f = this.faults;
    if (f.hangNext && f.hangNext.count > 0) {
      f.hangNext.count--;
      return { kind: 'hangNext', type: 'hang', afterProcessing: f.hangNext.afterProcessing ?? false };
    }
    if (f.dropNext && f.dropNext.count > 0) {
      f.dropNext.count--;
      return { kind: 'dropNext', type: 'drop', afterProcessing: f.dropNext.afterProcessing ?? false };
    }
    if (f.unauthorizedNext && f.unauthorizedNext > 0) {
      f.unauthorizedNext--;
      return { kind: 'unauthorizedNext', type: 'answer', afterProcessing: false, answer: unauthorized() };
    }
    if (f.failNext && f.failNext.count > 0) {
      f.failNext.count--;
      const { status, body, retryAfterSeconds, afterProcessing } = f.failNext;
      const answer = injectedError(status, body, retryAfterSeconds);
      return { kind: 'failNext', type: 'answer', afterProcessing: afterProcessing ?? false, answer };
    }
    return undefined;
  }

  private takeBatch(batch: boolean): Fault | undefined {
    const partial = this.faults.partialBatchNext;
    if (!batch || !partial || partial.count <= 0) return undefined;
    partial.count--;
    const answer = injectedError(partial.status ?? 500, partial.body);
    const startFirst = partial.startFirst;
    return {
      kind: 'partialBatchNext',
      type: 'answer',
      afterProcessing: true,
      answer,
      batchLimit: () => startFirst,
    };
  }

  private takeRest(batch: boolean): Fault | undefined {
    const f = this.faults;
    if (f.nonJsonNext && f.nonJsonNext > 0) {
      f.nonJsonNext--;
      return { kind: 'nonJsonNext', type: 'answer', afterProcessing: true, answer: htmlPage() };
    }
    if (f.errorRate && Math.random() < f.errorRate) {
      const answer = wsError(f.errorStatus ?? 500, WS_ERRORS.internal, 'Internal error');
      return { kind: 'errorRate', type: 'answer', afterProcessing: false, answer };
    }
    if (f.mix && this.random) return drawMix(this.random, f.mix.p, batch);
    return undefined;
  }
}
