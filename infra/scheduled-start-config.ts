/**
 * `scheduledStarts` entries of the configuration (cdk.json → context.gateway), checked at synth with the same
 * rules as the runtime schedules API (../lambdas/core/schedules.ts). infra/config.ts calls this for each entry.
 *
 * - Entries as they always were (`conversationId` + a UTC `cron`) stay EventBridge rules.
 * - Optional `timezone` (IANA), `at` (a local date-time, instead of `cron`), `flexibleWindowMinutes`, and
 *   `conversation` (an id or an alias, instead of `conversationId`). An entry with a `timezone` or an `at` becomes
 *   an EventBridge Scheduler schedule (infra/constructs/scheduled-starts.ts).
 */
import { InvalidInputError } from '../lambdas/core/errors';
import {
  atInstant,
  cronProblem,
  MAX_FLEXIBLE_WINDOW_MINUTES,
  parseConversationRef,
  parseScheduleName,
  parseTimezone,
  type ConversationRef,
} from '../lambdas/core/schedules';
import { parseId } from '../lambdas/core/validation';

/** One configured start of a conversation's preloaded list. */
export interface ScheduledStart {
  /** Unique; names the rule and appears in the function's log. */
  name: string;
  /** The conversation: an id, or an alias resolved by start-list when it fires (survives reactivations). */
  conversation: ConversationRef;
  /** Set when the entry names an id (`conversationId`, or a numeric `conversation`). */
  conversationId?: number;
  /** AWS 6-field cron, e.g. `cron(0 8 ? * MON-FRI *)`: in `timezone` when given, else UTC. */
  cron?: string;
  /** Instead of cron: once, at this local date-time (`2026-12-24T08:00:00`) in `timezone` (default UTC). */
  at?: string;
  /**
   * Set when `at` lies in the past at synth: the one-time start has run (or was missed), so the entry is not
   * synthesized; the stack warns, naming it (infra/constructs/scheduled-starts.ts), so later deploys still work.
   */
  past?: true;
  /** IANA time zone; with it (or with `at`) the entry is an EventBridge Scheduler schedule. */
  timezone?: string;
  /** Scheduler's flexible window, 0 (off, the default) to 1440 minutes. */
  flexibleWindowMinutes: number;
  enabled: boolean;
  description: string;
}

export const SCHEDULED_START_KEYS = [
  'name',
  'conversationId',
  'conversation',
  'cron',
  'at',
  'timezone',
  'flexibleWindowMinutes',
  'enabled',
  'description',
];

/** Whether the entry is a Scheduler schedule (time zone or one-time) rather than a UTC rule. */
export const usesScheduler = (start: ScheduledStart) =>
  start.timezone !== undefined || start.at !== undefined;

type Problems = string[];

/** `conversationId` (a JSON number, as always) or `conversation` (an id or an alias): exactly one. */
function checkConversation(path: string, obj: Record<string, unknown>, problems: Problems) {
  if (obj.conversationId !== undefined && obj.conversation !== undefined) {
    problems.push(`${path}.conversation: give conversationId or conversation, not both`);
    return undefined;
  }
  try {
    if (obj.conversation !== undefined) return parseConversationRef(obj.conversation);
    // The same id rule as every other door; a config holds it as a JSON number.
    if (typeof obj.conversationId === 'number') return parseId('conversationId', obj.conversationId);
    problems.push(`${path}.conversationId: must be a number (not a string)`);
  } catch (error) {
    if (!(error instanceof InvalidInputError)) throw error;
    const field = obj.conversation !== undefined ? 'conversation' : 'conversationId';
    problems.push(`${path}.${field}: ${error.reason}`);
  }
  return undefined;
}

/**
 * `cron` or `at`, exactly one; `at` must exist in the zone. An `at` already past is kept, marked `past`: it is not
 * deployed, and warned about, instead of failing every later synth once the start has run.
 */
function checkWhen(
  path: string,
  obj: Record<string, unknown>,
  timezone: string,
  now: Date,
  problems: Problems,
) {
  const { cron, at } = obj;
  if (cron !== undefined && at !== undefined) problems.push(`${path}.at: give cron or at, not both`);
  else if (at !== undefined) {
    const instant = typeof at === 'string' ? atInstant(at, timezone) : undefined;
    if (typeof at !== 'string' || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/.test(at)) {
      problems.push(`${path}.at: must be a local date-time without offset, such as 2026-12-24T08:00:00`);
    } else if (instant === undefined) {
      problems.push(
        `${path}.at: ${JSON.stringify(at)} does not exist in ${timezone} (daylight saving time gap, or no such date)`,
      );
    } else if (instant <= now.getTime()) return { at, past: true as const };
    else return { at };
  } else if (typeof cron !== 'string') problems.push(`${path}.cron: must be a string like cron(0 8 * * ? *)`);
  else {
    const problem = cronProblem(cron);
    if (problem) problems.push(`${path}.cron: ${JSON.stringify(cron)} ${problem}`);
    else return { cron: cron.trim() };
  }
  return undefined;
}

/** The runtime API's rule (parseScheduleName), which EventBridge rule and Scheduler names allow too. */
function checkName(path: string, raw: unknown, problems: Problems): string | undefined {
  try {
    return parseScheduleName(raw);
  } catch (error) {
    if (!(error instanceof InvalidInputError)) throw error;
    problems.push(`${path}.name: ${error.reason}`);
    return undefined;
  }
}

function checkTimezone(path: string, raw: unknown, problems: Problems): string | undefined {
  try {
    return parseTimezone(raw);
  } catch (error) {
    if (!(error instanceof InvalidInputError)) throw error;
    problems.push(`${path}.timezone: ${error.reason}`);
    return undefined;
  }
}

/**
 * One entry (an object whose keys the caller has checked against SCHEDULED_START_KEYS); its problems, each named
 * by its path, go into `problems`.
 */
export function checkScheduledStartEntry(
  path: string,
  obj: Record<string, unknown>,
  problems: Problems,
  now: Date = new Date(),
): ScheduledStart | undefined {
  const before = problems.length;
  const name = checkName(path, obj.name, problems);
  const conversation = checkConversation(path, obj, problems);
  const timezone = obj.timezone === undefined ? undefined : checkTimezone(path, obj.timezone, problems);
  const when = checkWhen(path, obj, timezone ?? 'UTC', now, problems);
  const window = obj.flexibleWindowMinutes ?? 0;
  if (
    !Number.isInteger(window) ||
    (window as number) < 0 ||
    (window as number) > MAX_FLEXIBLE_WINDOW_MINUTES
  ) {
    problems.push(
      `${path}.flexibleWindowMinutes: must be an integer from 0 to ${MAX_FLEXIBLE_WINDOW_MINUTES}`,
    );
  } else if ((window as number) > 0 && obj.timezone === undefined && obj.at === undefined) {
    problems.push(`${path}.flexibleWindowMinutes: needs a timezone (a UTC rule has no flexible window)`);
  }
  if (typeof obj.enabled !== 'boolean') problems.push(`${path}.enabled: must be true or false`);
  if (typeof obj.description !== 'string' || !/^[^\n]{1,512}$/.test(obj.description)) {
    problems.push(`${path}.description: must be 1 to 512 characters on one line`);
  }
  if (problems.length > before || !name || conversation === undefined || !when) return undefined;
  return {
    name,
    conversation,
    ...(typeof conversation === 'number' ? { conversationId: conversation } : {}),
    ...when,
    ...(timezone === undefined ? {} : { timezone }),
    flexibleWindowMinutes: window as number,
    enabled: obj.enabled as boolean,
    description: obj.description as string,
  };
}
