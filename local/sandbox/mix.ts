/** `Faults.mix`: a seeded random mix of faults for soak runs; every API call draws one outcome. */
import { bodiless, WS_ERRORS, wsError, type Answer } from './envelopes';
import type { Fault } from './faults';
import type { MixKind, MixProbabilities } from './types';

/** The outcomes, in the order their shares are laid out on [0, 1). */
export const MIX_KINDS: readonly MixKind[] = [
  'status429',
  'status503',
  'status500AfterActing',
  'status502AfterActing',
  'status504AfterActing',
  'partialBatch',
  'dropAfterActing',
  'dropBeforeActing',
];

/** mulberry32: a small, fast PRNG; the same seed gives the same sequence in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Throws unless `mix` is `{ seed: finite number, p: { <MixKind>: 0..1 } }` with shares summing to at most 1. */
export function validateMix(mix: unknown): asserts mix is { seed: number; p: MixProbabilities } {
  const { seed, p } = (mix ?? {}) as { seed?: unknown; p?: unknown };
  if (typeof seed !== 'number' || !Number.isFinite(seed)) throw new Error('mix.seed must be a finite number');
  if (typeof p !== 'object' || p === null || Array.isArray(p)) throw new Error('mix.p must be an object');
  let sum = 0;
  for (const [kind, share] of Object.entries(p)) {
    if (!MIX_KINDS.includes(kind as MixKind)) throw new Error(`mix.p.${kind} is not a mix outcome`);
    if (typeof share !== 'number' || !(share >= 0 && share <= 1)) {
      throw new Error(`mix.p.${kind} must be a number from 0 to 1`);
    }
    sum += share;
  }
  if (sum > 1 + 1e-9) throw new Error(`mix.p shares add up to ${sum}, more than 1`);
}

/**
 * Draws one outcome for a call; undefined = answer normally. `partialBatch` applies to batch calls only:
 * drawn for another call, it answers normally (so `p.partialBatch` is the share of batch calls).
 */
export function drawMix(random: () => number, p: MixProbabilities, batch: boolean): Fault | undefined {
  const u = random();
  let edge = 0;
  for (const kind of MIX_KINDS) {
    edge += p[kind] ?? 0;
    if (u < edge) return kind === 'partialBatch' && !batch ? undefined : mixFault(kind, random);
  }
  return undefined;
}

function mixFault(kind: MixKind, random: () => number): Fault {
  const answer = (afterProcessing: boolean, a: Answer): Fault => ({
    kind,
    type: 'answer',
    afterProcessing,
    answer: a,
  });
  switch (kind) {
    case 'status429':
      return answer(false, wsError(429, WS_ERRORS.throttled, 'Too many requests', { 'Retry-After': '1' }));
    case 'status503':
      return answer(false, wsError(503, WS_ERRORS.internal, 'Service unavailable'));
    case 'status500AfterActing':
      return answer(true, wsError(500, WS_ERRORS.internal, 'Internal error'));
    case 'status502AfterActing':
      return answer(true, bodiless(502));
    case 'status504AfterActing':
      return answer(true, bodiless(504));
    case 'partialBatch': {
      const share = random();
      return { ...answer(true, bodiless(500)), batchLimit: (n) => Math.floor(share * n) };
    }
    case 'dropAfterActing':
      return { kind, type: 'drop', afterProcessing: true };
    case 'dropBeforeActing':
      return { kind, type: 'drop', afterProcessing: false };
  }
}
