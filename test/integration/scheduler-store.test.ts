/**
 * The runtime schedules' AWS store on moto_server's EventBridge Scheduler, through the real SDK and the fault
 * proxy (`inject('awsEndpoint')`, which forwards Scheduler's REST-JSON requests to moto unchanged): create, list
 * (paged), read, replace and delete, and what Scheduler is actually given — the time zone, the state, the target
 * with its input, retry policy and dead-letter queue, and one-time schedules that delete themselves.
 */
import { CreateScheduleGroupCommand, GetScheduleCommand, SchedulerClient } from '@aws-sdk/client-scheduler';
import { beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { awsClientConfig } from '../../lambdas/adapters/aws-clients';
import { SchedulerScheduleStore } from '../../lambdas/adapters/scheduler-schedule-store';
import { InvalidInputError } from '../../lambdas/core/errors';
import {
  createSchedule,
  deleteSchedule,
  getSchedule,
  listSchedules,
  replaceSchedule,
} from '../../lambdas/core/schedule-api';
import { SCHEDULE_RETRY, type Schedule } from '../../lambdas/core/schedules';

const ACCOUNT = '123456789012';
const TARGET = `arn:aws:lambda:us-east-1:${ACCOUNT}:function:start-list`;
const ROLE = `arn:aws:iam::${ACCOUNT}:role/scheduler`;
const DLQ = `arn:aws:sqs:us-east-1:${ACCOUNT}:schedule-dlq`;
const NOW = new Date();
const NEXT_YEAR = NOW.getUTCFullYear() + 1;

let client: SchedulerClient;
let store: SchedulerScheduleStore;
let group: string;

const weekday: Schedule = {
  name: 'weekday-reminders',
  conversation: 'newsletter',
  cron: 'cron(0 9 ? * MON-FRI *)',
  timezone: 'America/Caracas',
  flexibleWindowMinutes: 0,
  enabled: true,
  description: 'Weekdays at 9:00 Caracas time',
};
const christmas: Schedule = {
  name: 'christmas',
  conversation: 1001,
  at: `${NEXT_YEAR}-12-24T08:00:00`,
  timezone: 'America/Bogota',
  flexibleWindowMinutes: 15,
  enabled: false,
  description: '',
};

beforeAll(() => {
  client = new SchedulerClient({
    ...awsClientConfig('scheduler'),
    endpoint: inject('awsEndpoint'),
    region: 'us-east-1',
  });
});

// Every test on a group of its own: no test depends on another's schedules.
beforeEach(async () => {
  group = `gateway-test-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  await client.send(new CreateScheduleGroupCommand({ Name: group }));
  store = new SchedulerScheduleStore({
    client,
    groupName: group,
    targetArn: TARGET,
    roleArn: ROLE,
    deadLetterArn: DLQ,
  });
});

async function seed(...schedules: Schedule[]): Promise<void> {
  for (const schedule of schedules) expect(await store.create(schedule)).toBe(true);
}

const codeOf = async (promise: Promise<unknown>) => {
  try {
    await promise;
  } catch (error) {
    if (error instanceof InvalidInputError) return error.code;
    throw error;
  }
  return 'no error';
};

describe('EventBridge Scheduler schedule store (moto)', () => {
  it('creates what Scheduler needs: zone, state, window, target input, retry policy, DLQ, self-deletion', async () => {
    await seed(weekday, christmas);
    const cron = await client.send(new GetScheduleCommand({ Name: weekday.name, GroupName: group }));
    expect(cron).toMatchObject({
      ScheduleExpression: 'cron(0 9 ? * MON-FRI *)',
      ScheduleExpressionTimezone: 'America/Caracas',
      State: 'ENABLED',
      FlexibleTimeWindow: { Mode: 'OFF' },
      ActionAfterCompletion: 'NONE',
      Description: weekday.description,
      Target: {
        Arn: TARGET,
        RoleArn: ROLE,
        RetryPolicy: {
          MaximumEventAgeInSeconds: SCHEDULE_RETRY.maximumEventAgeSeconds,
          MaximumRetryAttempts: SCHEDULE_RETRY.maximumRetryAttempts,
        },
        DeadLetterConfig: { Arn: DLQ },
      },
    });
    // The alias goes to start-list unresolved: it is resolved when the schedule fires.
    expect(JSON.parse(cron.Target!.Input!)).toEqual({
      scheduledStart: { name: weekday.name, conversation: 'newsletter' },
    });
    const once = await client.send(new GetScheduleCommand({ Name: christmas.name, GroupName: group }));
    expect(once).toMatchObject({
      ScheduleExpression: `at(${NEXT_YEAR}-12-24T08:00:00)`,
      ScheduleExpressionTimezone: 'America/Bogota',
      State: 'DISABLED',
      FlexibleTimeWindow: { Mode: 'FLEXIBLE', MaximumWindowInMinutes: 15 },
      ActionAfterCompletion: 'DELETE',
    });
    expect(JSON.parse(once.Target!.Input!)).toEqual({
      scheduledStart: { name: 'christmas', conversationId: 1001 },
    });
  });

  it('reads back exactly what was stored; a taken name is refused', async () => {
    await seed(weekday, christmas);
    expect(await store.get(weekday.name)).toEqual(weekday);
    expect(await store.get(christmas.name)).toEqual(christmas);
    expect(await store.get('nobody')).toBeUndefined();
    expect(await store.create({ ...weekday, description: 'again' })).toBe(false);
  });

  it('lists in pages with an opaque cursor', async () => {
    await seed(weekday, christmas, { ...weekday, name: 'third' });
    const first = await store.list(2);
    expect(first!.schedules).toHaveLength(2);
    expect(first!.cursor).toBeTruthy();
    const second = await store.list(2, first!.cursor);
    expect(second!.cursor).toBeUndefined();
    expect(await store.list(2, 'bm90LWEtdG9rZW4=')).toBeUndefined();
    const names = [...first!.schedules, ...second!.schedules].map((s) => s.name).sort();
    expect(names).toEqual(['christmas', 'third', 'weekday-reminders']);
  });

  it('replaces and deletes; a missing one is reported as missing', async () => {
    await seed(weekday, { ...weekday, name: 'third' });
    const replaced = {
      ...weekday,
      cron: 'cron(30 8 ? * MON *)',
      timezone: 'America/Santiago',
      enabled: false,
    };
    expect(await store.replace(replaced)).toBe(true);
    expect(await store.get(weekday.name)).toEqual(replaced);
    expect(await store.replace({ ...weekday, name: 'nobody' })).toBe(false);
    expect(await store.delete('third')).toBe(true);
    expect(await store.delete('third')).toBe(false);
    expect(await store.get('third')).toBeUndefined();
  });

  it('the API operations on this store: 201 view with next runs, 409, 404, paged list, 204', async () => {
    const getter = () => store;
    const created = await createSchedule(
      getter,
      { name: 'api-made', conversation: 1002, cron: 'cron(0 12 * * ? *)', timezone: 'America/New_York' },
      NOW,
    );
    expect(created.nextRuns).toHaveLength(5);
    expect(created.nextRuns[0]!.local).toMatch(/T12:00:00-0[45]:00$/);
    expect(
      await codeOf(
        createSchedule(getter, { name: 'api-made', conversation: 1, cron: 'cron(0 1 * * ? *)' }, NOW),
      ),
    ).toBe('CONFLICT');
    const read = await getSchedule(getter, 'api-made', { from: '2026-11-01T00:00:00Z', count: '2' }, NOW);
    expect(read.nextRuns.map((r) => r.utc)).toEqual(['2026-11-01T17:00:00.000Z', '2026-11-02T17:00:00.000Z']);
    const replaced = await replaceSchedule(
      getter,
      'api-made',
      { conversation: 'promo', at: `${NEXT_YEAR}-01-02T03:04:05` },
      NOW,
    );
    expect(replaced).toMatchObject({
      name: 'api-made',
      conversation: 'promo',
      timezone: 'UTC',
      nextRuns: [{ local: `${NEXT_YEAR}-01-02T03:04:05Z` }],
    });
    const page = await listSchedules(getter, { limit: '50' }, NOW);
    expect(page.schedules.every((s) => Array.isArray(s.nextRuns))).toBe(true);
    await deleteSchedule(getter, 'api-made');
    expect(await codeOf(getSchedule(getter, 'api-made', {}, NOW))).toBe('NOT_FOUND');
    expect(await codeOf(deleteSchedule(getter, 'api-made'))).toBe('NOT_FOUND');
    expect(
      await codeOf(replaceSchedule(getter, 'api-made', { conversation: 1, cron: 'cron(0 1 * * ? *)' }, NOW)),
    ).toBe('NOT_FOUND');
  });
});
