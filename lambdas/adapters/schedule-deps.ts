/**
 * The schedule store from the environment: EventBridge Scheduler in AWS (./scheduler-schedule-store.ts), or the
 * memory store a local run installed with `useLocalScheduleStore` (installed wins). Its own module, apart from
 * ./job-deps.ts, so that the schedules function bundles the Scheduler client and nothing else.
 * The hook lives on globalThis so it also reaches handler modules loaded afresh (tests reload handlers).
 */
import type { ScheduleStore } from '../core/schedule-api';
import { schedulerStoreFromEnv } from './scheduler-schedule-store';

const LOCAL_KEY = Symbol.for('dana-gateway.local-schedule-store');
type Holder = { [LOCAL_KEY]?: ScheduleStore };
const holder = globalThis as Holder;

/** Installs the local run's store; returns what puts back the previous one. */
export function useLocalScheduleStore(store: ScheduleStore): () => void {
  const previous = holder[LOCAL_KEY];
  holder[LOCAL_KEY] = store;
  return () => {
    if (previous === undefined) delete holder[LOCAL_KEY];
    else holder[LOCAL_KEY] = previous;
  };
}

export function scheduleStoreFromEnv(env: NodeJS.ProcessEnv = process.env): () => ScheduleStore {
  const aws = schedulerStoreFromEnv(env);
  return () => holder[LOCAL_KEY] ?? aws();
}
