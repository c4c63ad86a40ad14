/**
 * The schedule store in AWS: EventBridge Scheduler schedules in the stack's schedule group, each targeting the
 * start-list function through the scheduler execution role, with the retry policy and the schedule dead-letter
 * queue. Scheduler is the only store: `enabled` is its State, `description` its Description, the conversation
 * lives in the target's Input (`{"scheduledStart":{...}}`, the input start-list reads), `cron`/`at` in the
 * expression and `timezone` in ScheduleExpressionTimezone. One-time schedules delete themselves after they run
 * (ActionAfterCompletion DELETE).
 *
 * Environment: SCHEDULE_GROUP_NAME, START_LIST_FUNCTION_ARN, SCHEDULER_ROLE_ARN, SCHEDULE_DLQ_ARN.
 */
import {
  ConflictException,
  CreateScheduleCommand,
  DeleteScheduleCommand,
  GetScheduleCommand,
  ListSchedulesCommand,
  ResourceNotFoundException,
  SchedulerClient,
  UpdateScheduleCommand,
  ValidationException,
  type CreateScheduleCommandInput,
  type GetScheduleCommandOutput,
} from '@aws-sdk/client-scheduler';
import { ConfigurationError } from '../core/errors';
import type { SchedulePage, ScheduleStore } from '../core/schedule-api';
import { SCHEDULE_RETRY, scheduledStartInput, type Schedule } from '../core/schedules';
import { awsClientConfig } from './aws-clients';

export interface SchedulerStoreOptions {
  client: SchedulerClient;
  groupName: string;
  /** The start-list function. */
  targetArn: string;
  /** The role Scheduler assumes to invoke the target (lambda:InvokeFunction on start-list only). */
  roleArn: string;
  /** The schedule dead-letter queue. */
  deadLetterArn: string;
}

/** Reads of a listed page at once: Scheduler's GetSchedule is throttled per account. */
const LIST_READ_CONCURRENCY = 5;

export class SchedulerScheduleStore implements ScheduleStore {
  constructor(private readonly options: SchedulerStoreOptions) {}

  async create(schedule: Schedule): Promise<boolean> {
    try {
      await this.options.client.send(new CreateScheduleCommand(this.request(schedule)));
      return true;
    } catch (error) {
      if (error instanceof ConflictException) return false;
      throw error;
    }
  }

  async get(name: string): Promise<Schedule | undefined> {
    try {
      const { client, groupName } = this.options;
      return scheduleOf(await client.send(new GetScheduleCommand({ Name: name, GroupName: groupName })));
    } catch (error) {
      if (error instanceof ResourceNotFoundException) return undefined;
      throw error;
    }
  }

  async list(limit: number, cursor?: string): Promise<SchedulePage | undefined> {
    const { client, groupName } = this.options;
    let page;
    try {
      page = await client.send(
        new ListSchedulesCommand({ GroupName: groupName, MaxResults: limit, NextToken: cursor }),
      );
    } catch (error) {
      // A NextToken Scheduler did not hand out is refused with a 400 (ValidationException; moto: InvalidToken).
      const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (cursor !== undefined && (error instanceof ValidationException || status === 400)) return undefined;
      throw error;
    }
    const names = (page.Schedules ?? []).map((s) => s.Name!).filter(Boolean);
    const schedules: Schedule[] = [];
    for (let i = 0; i < names.length; i += LIST_READ_CONCURRENCY) {
      const read = await Promise.all(names.slice(i, i + LIST_READ_CONCURRENCY).map((n) => this.get(n)));
      // A one-time schedule may have run (and deleted itself) between the list and the read.
      for (const schedule of read) if (schedule) schedules.push(schedule);
    }
    return page.NextToken ? { schedules, cursor: page.NextToken } : { schedules };
  }

  async replace(schedule: Schedule): Promise<boolean> {
    try {
      await this.options.client.send(new UpdateScheduleCommand(this.request(schedule)));
      return true;
    } catch (error) {
      if (error instanceof ResourceNotFoundException) return false;
      throw error;
    }
  }

  async delete(name: string): Promise<boolean> {
    try {
      const { client, groupName } = this.options;
      await client.send(new DeleteScheduleCommand({ Name: name, GroupName: groupName }));
      return true;
    } catch (error) {
      if (error instanceof ResourceNotFoundException) return false;
      throw error;
    }
  }

  /** The whole Scheduler schedule for `schedule` (create and update both take all of it). */
  private request(schedule: Schedule): CreateScheduleCommandInput {
    const { groupName, targetArn, roleArn, deadLetterArn } = this.options;
    const window = schedule.flexibleWindowMinutes;
    return {
      Name: schedule.name,
      GroupName: groupName,
      Description: schedule.description,
      ScheduleExpression: schedule.at !== undefined ? `at(${schedule.at})` : schedule.cron!,
      ScheduleExpressionTimezone: schedule.timezone,
      FlexibleTimeWindow: window > 0 ? { Mode: 'FLEXIBLE', MaximumWindowInMinutes: window } : { Mode: 'OFF' },
      State: schedule.enabled ? 'ENABLED' : 'DISABLED',
      ActionAfterCompletion: schedule.at !== undefined ? 'DELETE' : 'NONE',
      Target: {
        Arn: targetArn,
        RoleArn: roleArn,
        Input: JSON.stringify(scheduledStartInput(schedule.name, schedule.conversation)),
        RetryPolicy: {
          MaximumEventAgeInSeconds: SCHEDULE_RETRY.maximumEventAgeSeconds,
          MaximumRetryAttempts: SCHEDULE_RETRY.maximumRetryAttempts,
        },
        DeadLetterConfig: { Arn: deadLetterArn },
      },
    };
  }
}

/** Back from Scheduler's shape; undefined for a schedule this API did not write (no scheduledStart input). */
export function scheduleOf(output: GetScheduleCommandOutput): Schedule | undefined {
  const expression = output.ScheduleExpression ?? '';
  let input: { scheduledStart?: { conversationId?: number; conversation?: string } };
  try {
    input = JSON.parse(output.Target?.Input ?? '{}') as typeof input;
  } catch {
    return undefined;
  }
  const start = input.scheduledStart;
  const conversation = start?.conversation ?? start?.conversationId;
  const at = /^at\((.*)\)$/.exec(expression)?.[1];
  if (!output.Name || conversation === undefined || (at === undefined && !expression.startsWith('cron('))) {
    return undefined;
  }
  const window = output.FlexibleTimeWindow;
  return {
    name: output.Name,
    conversation,
    ...(at === undefined ? { cron: expression } : { at }),
    timezone: output.ScheduleExpressionTimezone ?? 'UTC',
    flexibleWindowMinutes: window?.Mode === 'FLEXIBLE' ? (window.MaximumWindowInMinutes ?? 0) : 0,
    enabled: output.State !== 'DISABLED',
    description: output.Description ?? '',
  };
}

function required(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (!value) throw new ConfigurationError(`${name} is not set`);
  return value;
}

/** The store of this execution environment, from its environment; built on first use. */
export function schedulerStoreFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  client?: SchedulerClient,
): () => ScheduleStore {
  let built: ScheduleStore | undefined;
  return () =>
    (built ??= new SchedulerScheduleStore({
      client: client ?? new SchedulerClient(awsClientConfig('scheduler')),
      groupName: required(env, 'SCHEDULE_GROUP_NAME'),
      targetArn: required(env, 'START_LIST_FUNCTION_ARN'),
      roleArn: required(env, 'SCHEDULER_ROLE_ARN'),
      deadLetterArn: required(env, 'SCHEDULE_DLQ_ARN'),
    }));
}
