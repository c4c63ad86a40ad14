/**
 * Runs the runtime schedules of a local run (`npm start`) in-process, as EventBridge Scheduler does in AWS: one
 * timer per enabled schedule, armed for its next run from ../lambdas/core/schedules.ts `nextRuns` (so the same
 * time-zone and DST semantics as the API's `nextRuns` and as Scheduler), firing start-list's scheduled-start path
 * (the same handler code as in Lambda) with the same input Scheduler would send. A one-time schedule is deleted
 * once it has fired (Scheduler's ActionAfterCompletion DELETE). A flexible window is not spread locally: the run
 * happens at the window's start, which is within it.
 *
 * Exactly once: each run is fired by the timer of the arming that computed it, the next run is computed strictly
 * after the fired one, and any change of the schedule (PUT, DELETE, disable) disarms its timer first.
 */
import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';
import type { MemoryScheduleStore } from '../lambdas/adapters/memory-schedule-store';
import { errorClass } from '../lambdas/core/errors';
import {
  nextRuns,
  scheduledStartInput,
  type Schedule,
  type ScheduledStartInput,
} from '../lambdas/core/schedules';

/** setTimeout's longest delay (about 24.8 days); a later run is re-armed when the timer ends. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export type FireScheduledStart = (input: ScheduledStartInput) => Promise<unknown>;

export interface ScheduleRunnerOptions {
  store: MemoryScheduleStore;
  /** Default: start-list's handler, loaded on first use. */
  fire?: FireScheduledStart;
  log?: (line: string) => void;
}

export interface ScheduleRunner {
  /** How many runs each schedule has fired, by name (tests). */
  fired(): Record<string, number>;
  close(): void;
}

/** Start-list's handler with a Lambda-shaped context, as an EventBridge Scheduler invocation would run it. */
export const fireThroughStartList: FireScheduledStart = async (input) => {
  const { handler } = await import('../lambdas/start-list/handler');
  const deadline = Date.now() + 25_000;
  const context = {
    functionName: 'dana-gateway-local-start-list',
    awsRequestId: randomUUID(),
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  } as unknown as Context;
  return handler(input as never, context);
};

export function startScheduleRunner(options: ScheduleRunnerOptions): ScheduleRunner {
  const { store } = options;
  const fire = options.fire ?? fireThroughStartList;
  const log = options.log ?? ((line: string) => console.log(line));
  const timers = new Map<string, NodeJS.Timeout>();
  const counts: Record<string, number> = {};

  const disarm = (name: string) => {
    clearTimeout(timers.get(name));
    timers.delete(name);
  };

  /** Arms the first run strictly after `after` (ms). */
  const arm = (schedule: Schedule, after: number) => {
    disarm(schedule.name);
    if (!schedule.enabled) return;
    const next = nextRuns(schedule, new Date(after), 1)[0];
    if (!next) return;
    const runAt = Date.parse(next.utc);
    const wait = () => {
      const delay = runAt - Date.now();
      if (delay > 0) {
        timers.set(schedule.name, setTimeout(wait, Math.min(delay, MAX_TIMER_MS)));
        return;
      }
      timers.delete(schedule.name);
      void runOnce(schedule, runAt, next.local);
    };
    wait();
  };

  const runOnce = async (schedule: Schedule, runAt: number, local: string) => {
    counts[schedule.name] = (counts[schedule.name] ?? 0) + 1;
    if (schedule.at !== undefined) await store.delete(schedule.name);
    else arm(schedule, runAt);
    log(`schedule ${schedule.name}: run of ${local} firing start-list`);
    try {
      await fire(scheduledStartInput(schedule.name, schedule.conversation));
    } catch (error) {
      // start-list logged the failure itself (in AWS it would land in the schedule dead-letter queue).
      log(`schedule ${schedule.name}: start failed (${errorClass(error)})`);
    }
  };

  const unsubscribe = store.onChange((name, schedule) => {
    if (schedule) arm(schedule, Date.now());
    else disarm(name);
  });
  for (const schedule of store.all()) arm(schedule, Date.now());

  return {
    fired: () => ({ ...counts }),
    close() {
      unsubscribe();
      for (const name of [...timers.keys()]) disarm(name);
    },
  };
}
