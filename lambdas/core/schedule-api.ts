/**
 * The schedules API's operations and the port they use. The store is EventBridge Scheduler in AWS
 * (../adapters/scheduler-schedule-store.ts) and memory locally (../adapters/memory-schedule-store.ts), where the
 * local runner (local/schedule-runner.ts) fires them. Every answer that carries a schedule carries its next runs.
 */
import { InvalidInputError } from './errors';
import {
  parseRunsQuery,
  parseSchedule,
  parseScheduleName,
  scheduleView,
  type Schedule,
  type ScheduleView,
} from './schedules';

export const SCHEDULE_LIST_DEFAULT_LIMIT = 20;
/** Each listed schedule is one read in AWS (the list itself has no expressions): kept small. */
export const SCHEDULE_LIST_MAX_LIMIT = 50;
/** Cursors are opaque: the store's own token (Scheduler's NextToken, or a name locally). */
const CURSOR_PATTERN = /^[A-Za-z0-9+/=_.-]{1,2048}$/;

export interface SchedulePage {
  schedules: Schedule[];
  /** Present when more may follow. */
  cursor?: string;
}

/**
 * Where the runtime schedules live (and, in AWS, run). The operations below take it as a getter, called only
 * once the input is valid: bad input never needs (or reaches) the store.
 */
export interface ScheduleStore {
  /** False when the name is taken. */
  create(schedule: Schedule): Promise<boolean>;
  get(name: string): Promise<Schedule | undefined>;
  /** Up to `limit` schedules in the store's order, after `cursor`; undefined for a cursor it did not hand out. */
  list(limit: number, cursor?: string): Promise<SchedulePage | undefined>;
  /** False when there is none to replace. */
  replace(schedule: Schedule): Promise<boolean>;
  /** False when there was none. */
  delete(name: string): Promise<boolean>;
}

const notFound = (name: string) => new InvalidInputError('name', `no schedule named "${name}"`, 'NOT_FOUND');

export async function createSchedule(
  store: () => ScheduleStore,
  body: unknown,
  now: Date,
): Promise<ScheduleView> {
  const schedule = parseSchedule(body, now);
  if (!(await store().create(schedule))) {
    throw new InvalidInputError('name', `a schedule named "${schedule.name}" already exists`, 'CONFLICT');
  }
  return scheduleView(schedule, now);
}

export async function getSchedule(
  store: () => ScheduleStore,
  rawName: unknown,
  query: { from?: string; count?: string },
  now: Date,
): Promise<ScheduleView> {
  const name = parseScheduleName(rawName);
  const { from, count } = parseRunsQuery(query, now);
  const schedule = await store().get(name);
  if (!schedule) throw notFound(name);
  return scheduleView(schedule, from, count);
}

export async function replaceSchedule(
  store: () => ScheduleStore,
  rawName: unknown,
  body: unknown,
  now: Date,
): Promise<ScheduleView> {
  const schedule = parseSchedule(body, now, parseScheduleName(rawName));
  if (!(await store().replace(schedule))) throw notFound(schedule.name);
  return scheduleView(schedule, now);
}

export async function deleteSchedule(store: () => ScheduleStore, rawName: unknown): Promise<void> {
  const name = parseScheduleName(rawName);
  if (!(await store().delete(name))) throw notFound(name);
}

export function parseScheduleListQuery(query: { limit?: string; cursor?: string }): {
  limit: number;
  cursor?: string;
} {
  let limit = SCHEDULE_LIST_DEFAULT_LIMIT;
  if (query.limit !== undefined) {
    if (!/^[1-9]\d?$/.test(query.limit) || Number(query.limit) > SCHEDULE_LIST_MAX_LIMIT) {
      throw new InvalidInputError('limit', `must be an integer from 1 to ${SCHEDULE_LIST_MAX_LIMIT}`);
    }
    limit = Number(query.limit);
  }
  if (query.cursor !== undefined && !CURSOR_PATTERN.test(query.cursor)) {
    throw new InvalidInputError('cursor', 'is not a cursor this API handed out');
  }
  return { limit, ...(query.cursor === undefined ? {} : { cursor: query.cursor }) };
}

export async function listSchedules(
  store: () => ScheduleStore,
  query: { limit?: string; cursor?: string },
  now: Date,
): Promise<{ schedules: ScheduleView[]; cursor?: string }> {
  const { limit, cursor } = parseScheduleListQuery(query);
  const page = await store().list(limit, cursor);
  if (!page) throw new InvalidInputError('cursor', 'is not a cursor this API handed out');
  const schedules = page.schedules.map((schedule) => scheduleView(schedule, now));
  return page.cursor === undefined ? { schedules } : { schedules, cursor: page.cursor };
}
