/**
 * Schedules on the business's clock: the pure rules shared by the schedules API, the EventBridge Scheduler adapter,
 * the local runner (`npm start`) and the synth-time check of `scheduledStarts` (infra/config.ts).
 *
 * - A schedule is `{name, conversation, cron | at, timezone, flexibleWindowMinutes, enabled, description}`;
 *   `conversation` is an id or an alias (./aliases.ts), kept as given and resolved by start-list when it fires.
 * - `cron` is EventBridge's 6-field cron (Minutes Hours Day-of-month Month Day-of-week Year); `at` a local
 *   date-time without offset (`2026-12-24T08:00:00`), both read in `timezone` (IANA, default UTC).
 * - Time-zone semantics are EventBridge Scheduler's: a local time that does not exist (the spring DST gap) does
 *   not run that day; a local time that occurs twice (autumn) runs once, at its first occurrence.
 *
 * How the runs are computed: croner (a maintained cron library) enumerates the matching *wall-clock* times in a
 * zone without DST, and `instantsOf` (Intl's time-zone data) maps each wall-clock time to the instants it names in
 * the schedule's zone: none (a gap: skipped), one, or two (a fold: the first). Croner's own DST rules differ from
 * Scheduler's (it runs a gap's fixed-time job after the gap, and interval jobs twice in a fold), so it is never
 * given the zone: that one mapping is where Scheduler's semantics live.
 */
import { Cron } from 'croner';
import { parseAliasName, looksLikeAlias } from './aliases';
import { InvalidInputError } from './errors';
import { parseId } from './validation';

export const SCHEDULE_NAME_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
/** EventBridge Scheduler's flexible window: 1..1440 minutes; 0 here means off. */
export const MAX_FLEXIBLE_WINDOW_MINUTES = 1440;
export const MAX_DESCRIPTION_LENGTH = 512;
export const NEXT_RUNS_DEFAULT = 5;
export const NEXT_RUNS_MAX = 50;
const AT_PATTERN = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})$/;
const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;
/** EventBridge's last cron year: nothing runs after it. */
const LAST_CRON_YEAR = 2199;

/** An id (number) or an alias name (string). */
export type ConversationRef = number | string;

export interface Schedule {
  name: string;
  conversation: ConversationRef;
  /** Exactly one of cron and at. */
  cron?: string;
  at?: string;
  timezone: string;
  /** 0: runs at the time; n: Scheduler may run it up to n minutes later (spreads load). */
  flexibleWindowMinutes: number;
  enabled: boolean;
  description: string;
}

/** One run: the UTC instant and the local time it is in the schedule's zone (with its offset). */
export interface ScheduleRun {
  utc: string;
  local: string;
}

export type ScheduleView = Schedule & { nextRuns: ScheduleRun[] };

// ---------------------------------------------------------------------------------------------------------
// Cron: AWS EventBridge's 6-field form. https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const WEEKDAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

interface CronField {
  name: string;
  min: number;
  max: number;
  names?: string[];
  /** Extra forms this field alone accepts (`?`, `L`, `W`, `#`). */
  special?: RegExp;
}

const CRON_FIELDS: CronField[] = [
  { name: 'minutes', min: 0, max: 59 },
  { name: 'hours', min: 0, max: 23 },
  { name: 'day-of-month', min: 1, max: 31, special: /^(\?|L|LW|([1-9]|[12][0-9]|3[01])W)$/ },
  { name: 'month', min: 1, max: 12, names: MONTHS },
  { name: 'day-of-week', min: 1, max: 7, names: WEEKDAYS, special: /^(\?|L|[1-7]L|[1-7]#[1-5])$/ },
  { name: 'year', min: 1970, max: LAST_CRON_YEAR },
];

function cronValue(field: CronField, token: string): number | undefined {
  if (/^\d+$/.test(token)) {
    const n = Number(token);
    return n >= field.min && n <= field.max ? n : undefined;
  }
  const index = field.names?.indexOf(token.toUpperCase()) ?? -1;
  return index >= 0 ? field.min + index : undefined;
}

/** Why one cron field is malformed, or undefined when it is fine. */
function cronFieldProblem(field: CronField, text: string): string | undefined {
  if (field.special?.test(text.toUpperCase())) return undefined;
  const range = field.names
    ? `${field.min}-${field.max} or ${field.names[0]}-${field.names[field.names.length - 1]}`
    : `${field.min}-${field.max}`;
  for (const item of text.split(',')) {
    const [base = '', step, ...rest] = item.split('/');
    if (rest.length > 0 || (step !== undefined && !/^[1-9]\d*$/.test(step))) {
      return `${field.name} "${text}": "${item}" has a malformed /step`;
    }
    if (base === '*') continue;
    const bounds = base.split('-');
    if (bounds.length > 2 || bounds.some((b) => cronValue(field, b) === undefined)) {
      return `${field.name} "${text}": "${base}" is not a value, range or * within ${range}`;
    }
  }
  return undefined;
}

/** The six fields of a well-formed EventBridge cron, or why it is not one (naming the field). */
function cronFields(expression: string): string[] | string {
  const match = /^cron\((.*)\)$/.exec(expression.trim());
  if (!match) return 'must look like cron(Minutes Hours Day-of-month Month Day-of-week Year)';
  const fields = (match[1] ?? '').trim().split(/\s+/);
  if (fields.length !== 6) {
    return `has ${fields.length} fields; EventBridge cron has 6 (Minutes Hours Day-of-month Month Day-of-week Year), e.g. cron(0 8 * * ? *)`;
  }
  for (const [index, field] of CRON_FIELDS.entries()) {
    const problem = cronFieldProblem(field, fields[index] ?? '');
    if (problem) return problem;
  }
  const [, , dayOfMonth, , dayOfWeek] = fields;
  if ((dayOfMonth === '?') === (dayOfWeek === '?')) {
    return 'exactly one of day-of-month and day-of-week must be "?" (e.g. cron(0 8 * * ? *) or cron(0 8 ? * MON-FRI *))';
  }
  return fields;
}

/** Why `expression` is not a valid EventBridge cron expression, or undefined when it is. */
export function cronProblem(expression: string): string | undefined {
  const fields = cronFields(expression);
  return typeof fields === 'string' ? fields : undefined;
}

/**
 * The croner pattern (7 parts: second … year, Quartz weekdays 1=SUN) for validated EventBridge fields. The only
 * translations: `?` is croner's `*` (with day-of-month AND day-of-week), EventBridge's `start/step` is croner's
 * `start-max/step`, and `L` alone in day-of-week is Saturday (the week's last day).
 */
function cronerPattern(fields: string[]): string {
  const translated = fields.map((text, index) => {
    const field = CRON_FIELDS[index]!;
    if (text === '?') return '*';
    if (field.name === 'day-of-week' && text.toUpperCase() === 'L') return '7';
    return text
      .split(',')
      .map((item) =>
        item.replace(/^(\d+)\/(\d+)$/, (_, start: string, step: string) => `${start}-${field.max}/${step}`),
      )
      .join(',');
  });
  return `0 ${translated.join(' ')}`;
}

/** The wall-clock times (as UTC-based ms, in no zone) the cron matches, via croner in a zone without DST. */
function wallClockCron(expression: string): Cron {
  const fields = cronFields(expression);
  if (typeof fields === 'string') throw new InvalidInputError('cron', fields);
  return new Cron(cronerPattern(fields), {
    timezone: 'UTC',
    mode: '7-part',
    alternativeWeekdays: true,
    domAndDow: true,
    paused: true,
  });
}

// ---------------------------------------------------------------------------------------------------------
// Time zones, from Intl (the runtime's IANA data).

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

/** The wall-clock time at `instant` in `timeZone`, as the ms of that date-time read as UTC (whole seconds). */
export function wallClockOf(instant: number, timeZone: string): number {
  const parts: Record<string, number> = {};
  for (const part of formatterFor(timeZone).formatToParts(new Date(instant))) {
    if (part.type !== 'literal') parts[part.type] = Number(part.value);
  }
  return Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour!, parts.minute!, parts.second!);
}

/**
 * The instants at which the wall clock of `timeZone` reads `wallClock` (ms of a date-time read as UTC), earliest
 * first: none in a spring gap, two in an autumn fold. Temporal's algorithm: the zone's offsets a day before and
 * a day after are the only candidates.
 */
export function instantsOf(wallClock: number, timeZone: string): number[] {
  const offsets = new Set([wallClock - DAY_MS, wallClock + DAY_MS].map((t) => wallClockOf(t, timeZone) - t));
  return [...offsets]
    .map((offset) => wallClock - offset)
    .filter((instant) => wallClockOf(instant, timeZone) === wallClock)
    .sort((a, b) => a - b);
}

/** `2026-03-08T03:00:00-04:00`: the local time at `instant` in `timeZone`, with its offset. */
export function localTimeOf(instant: number, timeZone: string): string {
  const wall = wallClockOf(instant, timeZone);
  const offsetMinutes = Math.round((wall - Math.floor(instant / 1000) * 1000) / MINUTE_MS);
  const sign = offsetMinutes < 0 ? '-' : '+';
  const abs = Math.abs(offsetMinutes);
  const pad = (n: number) => String(n).padStart(2, '0');
  const offset = abs === 0 ? 'Z' : `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
  return `${new Date(wall).toISOString().slice(0, 19)}${offset}`;
}

/** Why `timeZone` is not an IANA time zone this runtime knows, or undefined; also its canonical spelling. */
export function checkTimezone(timeZone: unknown): { timezone: string } | { problem: string } {
  const problem = { problem: 'must be an IANA time zone such as America/Caracas or UTC' };
  // Names only: offsets such as +01:00 are not IANA zones (and Scheduler refuses them).
  if (typeof timeZone !== 'string' || !/^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/.test(timeZone)) {
    return problem;
  }
  try {
    const resolved = new Intl.DateTimeFormat('en-US', { timeZone }).resolvedOptions().timeZone;
    // Same name in another case: keep the zone's own spelling (Scheduler matches names exactly).
    return { timezone: resolved.toLowerCase() === timeZone.toLowerCase() ? resolved : timeZone };
  } catch {
    return { problem: `"${timeZone}" is not a known IANA time zone (e.g. America/Caracas, UTC)` };
  }
}

// ---------------------------------------------------------------------------------------------------------
// Next runs.

/** The wall-clock ms of a well-formed `at` (`2026-12-24T08:00:00`), or undefined for a date that does not exist. */
function atWallClock(at: string): number | undefined {
  const m = AT_PATTERN.exec(at);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const ms = Date.UTC(y, mo - 1, d, h, mi, s);
  const back = new Date(ms);
  const same =
    back.getUTCFullYear() === y && back.getUTCMonth() === mo - 1 && back.getUTCDate() === d && h < 24;
  return same && mi < 60 && s < 60 ? ms : undefined;
}

/** The instant a one-time schedule runs: the first occurrence of its local time; undefined in a DST gap. */
export function atInstant(at: string, timeZone: string): number | undefined {
  const wall = atWallClock(at);
  return wall === undefined ? undefined : instantsOf(wall, timeZone)[0];
}

function run(instant: number, timeZone: string): ScheduleRun {
  return { utc: new Date(instant).toISOString(), local: localTimeOf(instant, timeZone) };
}

/**
 * The next `count` runs strictly after `from`, with Scheduler's DST semantics (see the module comment). Wall-clock
 * times are walked from the wall clock at `from`: every earlier one has its first occurrence before `from`.
 */
export function nextRuns(
  schedule: Pick<Schedule, 'cron' | 'at' | 'timezone'>,
  from: Date,
  count: number = NEXT_RUNS_DEFAULT,
): ScheduleRun[] {
  const { timezone } = schedule;
  if (schedule.at !== undefined) {
    const instant = atInstant(schedule.at, timezone);
    return instant !== undefined && instant > from.getTime() ? [run(instant, timezone)] : [];
  }
  if (schedule.cron === undefined) return [];
  const cron = wallClockCron(schedule.cron);
  const runs: ScheduleRun[] = [];
  let cursor = wallClockOf(from.getTime(), timezone);
  // Bounded: a gap skips at most an hour of an every-minute cron; far more than that means no more runs.
  for (let steps = 0; runs.length < count && steps < count + 200; steps++) {
    const next = cron.nextRun(new Date(cursor));
    if (!next) break;
    cursor = next.getTime();
    const first = instantsOf(cursor, timezone)[0];
    if (first !== undefined && first > from.getTime()) runs.push(run(first, timezone));
  }
  return runs;
}

export function scheduleView(schedule: Schedule, from: Date, count = NEXT_RUNS_DEFAULT): ScheduleView {
  return { ...schedule, nextRuns: nextRuns(schedule, from, count) };
}

// ---------------------------------------------------------------------------------------------------------
// Validation of what the API (and the config) is given.

/** `[A-Za-z0-9_.-]{1,64}`, not dots only (`.` and `..` cannot be named in a URL path). */
export function parseScheduleName(raw: unknown, target = 'name'): string {
  if (typeof raw !== 'string' || !SCHEDULE_NAME_PATTERN.test(raw) || /^\.+$/.test(raw)) {
    throw new InvalidInputError(
      target,
      'must be 1 to 64 characters of A-Z, a-z, 0-9, _, . and -, not dots only',
    );
  }
  return raw;
}

/** An id (1001 or "1001") or an alias name; only its shape is checked, it is resolved when the schedule fires. */
export function parseConversationRef(raw: unknown, target = 'conversation'): ConversationRef {
  if (looksLikeAlias(raw)) return parseAliasName(raw, target);
  try {
    return parseId(target, raw);
  } catch {
    throw new InvalidInputError(target, 'must be a conversation id (1 to 2147483647) or an alias name');
  }
}

export function parseTimezone(raw: unknown, target = 'timezone'): string {
  if (raw === undefined) return 'UTC';
  const checked = checkTimezone(raw);
  if ('problem' in checked) throw new InvalidInputError(target, checked.problem);
  return checked.timezone;
}

const SCHEDULE_KEYS = [
  'name',
  'conversation',
  'cron',
  'at',
  'timezone',
  'flexibleWindowMinutes',
  'enabled',
  'description',
];

/** `cron` or `at`, exactly one, each well-formed and with a run after `now`. */
function parseWhen(
  body: Record<string, unknown>,
  timezone: string,
  now: Date,
): Pick<Schedule, 'cron' | 'at'> {
  const { cron, at } = body;
  if (cron !== undefined && at !== undefined) throw new InvalidInputError('at', 'give cron or at, not both');
  if (cron === undefined && at === undefined) {
    throw new InvalidInputError('cron', 'one of cron or at is required');
  }
  if (cron !== undefined) {
    if (typeof cron !== 'string')
      throw new InvalidInputError('cron', 'must be a string like cron(0 9 ? * MON-FRI *)');
    const problem = cronProblem(cron);
    if (problem) throw new InvalidInputError('cron', problem);
    if (nextRuns({ cron, timezone }, now, 1).length === 0) {
      throw new InvalidInputError('cron', 'never runs after now (check the year field)');
    }
    return { cron: cron.trim() };
  }
  if (typeof at !== 'string' || atWallClock(at) === undefined) {
    throw new InvalidInputError(
      'at',
      'must be a local date-time without offset, such as 2026-12-24T08:00:00',
    );
  }
  const instant = atInstant(at, timezone);
  if (instant === undefined) {
    throw new InvalidInputError(
      'at',
      `does not exist in ${timezone} (the clocks skip it for daylight saving time)`,
    );
  }
  if (instant <= now.getTime()) throw new InvalidInputError('at', `is in the past in ${timezone}`);
  return { at };
}

function parseOptional<T>(
  value: unknown,
  fallback: T,
  valid: (v: unknown) => v is T,
  target: string,
  rule: string,
): T {
  if (value === undefined) return fallback;
  if (!valid(value)) throw new InvalidInputError(target, rule);
  return value;
}

/**
 * A schedule from a POST or PUT body, every field checked (400 naming it). `pathName` is the `{name}` of a PUT:
 * the body may repeat it but not change it.
 */
export function parseSchedule(raw: unknown, now: Date, pathName?: string): Schedule {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new InvalidInputError('body', 'must be a JSON object');
  }
  const body = raw as Record<string, unknown>;
  const unknown = Object.keys(body).find((key) => !SCHEDULE_KEYS.includes(key));
  if (unknown !== undefined)
    throw new InvalidInputError(unknown, `is not a schedule field (${SCHEDULE_KEYS.join(', ')})`);
  const name = pathName ?? parseScheduleName(body.name);
  if (pathName !== undefined && body.name !== undefined && body.name !== pathName) {
    throw new InvalidInputError('name', 'must match the name in the path (a schedule cannot be renamed)');
  }
  const conversation = parseConversationRef(body.conversation);
  const timezone = parseTimezone(body.timezone);
  const when = parseWhen(body, timezone, now);
  const isWindow = (v: unknown): v is number =>
    Number.isInteger(v) && (v as number) >= 0 && (v as number) <= MAX_FLEXIBLE_WINDOW_MINUTES;
  const flexibleWindowMinutes = parseOptional(
    body.flexibleWindowMinutes,
    0,
    isWindow,
    'flexibleWindowMinutes',
    `must be an integer from 0 to ${MAX_FLEXIBLE_WINDOW_MINUTES}`,
  );
  const enabled = parseOptional(
    body.enabled,
    true,
    (v): v is boolean => typeof v === 'boolean',
    'enabled',
    'must be true or false',
  );
  const isDescription = (v: unknown): v is string =>
    typeof v === 'string' &&
    v.length <= MAX_DESCRIPTION_LENGTH &&
    ![...v].some((c) => c.charCodeAt(0) < 0x20);
  const description = parseOptional(
    body.description,
    '',
    isDescription,
    'description',
    `must be at most ${MAX_DESCRIPTION_LENGTH} characters on one line`,
  );
  return { name, conversation, ...when, timezone, flexibleWindowMinutes, enabled, description };
}

/** `?from=<instant>&count=<1..50>` of GET /schedules/{name}. */
export function parseRunsQuery(
  query: { from?: string; count?: string },
  now: Date,
): { from: Date; count: number } {
  let from = now;
  if (query.from !== undefined) {
    const ms = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/.test(query.from)
      ? Date.parse(query.from)
      : NaN;
    if (Number.isNaN(ms))
      throw new InvalidInputError(
        'from',
        'must be an ISO 8601 instant with Z or an offset, e.g. 2026-03-08T00:00:00Z',
      );
    from = new Date(ms);
  }
  let count = NEXT_RUNS_DEFAULT;
  if (query.count !== undefined) {
    if (!/^[1-9]\d?$/.test(query.count) || Number(query.count) > NEXT_RUNS_MAX) {
      throw new InvalidInputError('count', `must be an integer from 1 to ${NEXT_RUNS_MAX}`);
    }
    count = Number(query.count);
  }
  return { from, count };
}

// ---------------------------------------------------------------------------------------------------------
// What a schedule hands start-list when it fires (EventBridge rules, Scheduler schedules, the local runner).

/**
 * How every schedule (rule or Scheduler) retries delivering to start-list: a list start this late is not made any
 * more (it waits in the schedule dead-letter queue for a human). Only deliveries Lambda refused are retried, when
 * no start has happened, so retrying them is safe.
 */
export const SCHEDULE_RETRY = { maximumEventAgeSeconds: 15 * 60, maximumRetryAttempts: 3 } as const;

export interface ScheduledStartInput {
  scheduledStart: { name: string; conversationId?: number; conversation?: string };
}

/** Ids as they always were (`conversationId`); an alias passed through as `conversation`, resolved at fire time. */
export function scheduledStartInput(name: string, conversation: ConversationRef): ScheduledStartInput {
  return typeof conversation === 'number'
    ? { scheduledStart: { name, conversationId: conversation } }
    : { scheduledStart: { name, conversation } };
}
