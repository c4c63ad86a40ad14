/**
 * One deadline per invocation, which every slow step draws from (a secret read, a token fetch, each attempt of a
 * DANAConnect call, each AWS SDK call of the worker). A step never gets more than what is left, so the whole
 * invocation ends with a typed error before the function's own timeout kills it mid-call.
 */

export interface Deadline {
  /** Epoch ms at which the invocation must have answered. */
  readonly at: number;
  /** Milliseconds left (0 once passed). */
  remainingMs(): number;
  /** The time a step may take: its own limit, cut to what is left. */
  budgetFor(stepLimitMs: number): number;
  /** An AbortSignal that fires when the step's budget runs out. */
  signalFor(stepLimitMs: number): AbortSignal;
}

/** What the function keeps back for itself after the last step: shaping and sending its answer, logging. */
export const DEADLINE_RESERVE_MS = 1_000;

const MAX_TIMER_MS = 2 ** 31 - 1;

export function deadlineAt(at: number, now: () => number = Date.now): Deadline {
  const remainingMs = () => Math.max(0, at - now());
  // Timers take at most 2^31 - 1 ms; a longer one fires at once.
  const budgetFor = (stepLimitMs: number) => Math.max(0, Math.min(stepLimitMs, remainingMs(), MAX_TIMER_MS));
  return {
    at,
    remainingMs,
    budgetFor,
    // AbortSignal.timeout(0) is already aborted on its first tick: a step with no time left fails at once.
    signalFor: (stepLimitMs: number) => AbortSignal.timeout(budgetFor(stepLimitMs)),
  };
}

/**
 * The deadline of a Lambda invocation: its remaining time less a reserve; without a context (local runs, tests),
 * `fallbackMs` from now.
 */
export function deadlineOf(
  context: { getRemainingTimeInMillis?: () => number } | undefined,
  fallbackMs: number,
  now: () => number = Date.now,
): Deadline {
  const remaining = context?.getRemainingTimeInMillis?.();
  const budget =
    typeof remaining === 'number' && Number.isFinite(remaining)
      ? Math.max(0, remaining - DEADLINE_RESERVE_MS)
      : fallbackMs;
  return deadlineAt(now() + budget, now);
}

/** No deadline at all: for callers that have none (a CLI, the sandbox's own tools). */
export const NO_DEADLINE: Deadline = deadlineAt(Number.MAX_SAFE_INTEGER);
