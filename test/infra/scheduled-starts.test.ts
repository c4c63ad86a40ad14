/**
 * Scheduled starts in the template (bundling skipped, cdk-nag on): a UTC `scheduledStarts` entry stays an
 * EventBridge rule; an entry with a time zone (or an `at`) becomes an EventBridge Scheduler schedule with
 * ScheduleExpressionTimezone, the retry policy and the schedule dead-letter queue, invoking start-list through
 * the scheduler role; the runtime schedules API gets its group, may manage schedules in it only, and pass only
 * that role. Plus the configuration's new fields.
 */
import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../../infra/config';
import { SCHEDULE_DELIVERY_RETRIES, SCHEDULE_MAX_EVENT_AGE } from '../../infra/constructs/scheduled-starts';
import { ROUTES } from '../../lambdas/http/routes';
import {
  callerMethods,
  props,
  resourcesOf,
  roleStatements,
  synthGateway,
  type Json,
  type Synthesized,
} from './synth';

const NEXT_YEAR = new Date().getUTCFullYear() + 1;
const UTC_ENTRY = {
  name: 'utc-reminders',
  conversationId: 1001,
  cron: 'cron(0 12 ? * MON-FRI *)',
  enabled: true,
  description: 'Weekdays at 12:00 UTC',
};
const CARACAS_ENTRY = {
  name: 'weekday-reminders',
  conversation: 'newsletter',
  cron: 'cron(0 9 ? * MON-FRI *)',
  timezone: 'America/Caracas',
  flexibleWindowMinutes: 10,
  enabled: true,
  description: 'Weekdays at 9:00 Caracas time',
};
const CHRISTMAS_ENTRY = {
  name: 'christmas',
  conversationId: 1002,
  at: `${NEXT_YEAR}-12-24T08:00:00`,
  timezone: 'America/Bogota',
  enabled: false,
  description: 'Once, on 24 December at 8:00 Bogotá time',
};

let s: Synthesized;
const logicalId = (construct: { node: { defaultChild?: unknown } }) =>
  s.stack.getLogicalId(construct.node.defaultChild as never);

beforeAll(() => {
  s = synthGateway({ scheduledStarts: [UTC_ENTRY, CARACAS_ENTRY, CHRISTMAS_ENTRY] });
});

describe('configured scheduled starts', () => {
  it('a UTC entry stays an EventBridge rule', () => {
    const rules = Object.values(resourcesOf(s.template, 'AWS::Events::Rule')).map(props);
    expect(rules.map((r) => [r.ScheduleExpression, r.Description])).toEqual([
      ['cron(0 12 ? * MON-FRI *)', 'Weekdays at 12:00 UTC'],
    ]);
  });

  it('an entry with a time zone or at is a Scheduler schedule: zone, window, retry policy, DLQ, start-list', () => {
    const startList = logicalId(s.stack.functions['start-list'].function);
    const dlq = logicalId(s.stack.schedules.deadLetters.queue);
    const role = logicalId(s.stack.schedules.schedulerRole);
    const schedules = Object.values(resourcesOf(s.template, 'AWS::Scheduler::Schedule')).map(props);
    expect(schedules).toHaveLength(2);
    const [caracas, christmas] = schedules as [Json, Json];
    expect(caracas).toMatchObject({
      ScheduleExpression: 'cron(0 9 ? * MON-FRI *)',
      ScheduleExpressionTimezone: 'America/Caracas',
      FlexibleTimeWindow: { Mode: 'FLEXIBLE', MaximumWindowInMinutes: 10 },
      State: 'ENABLED',
      Description: CARACAS_ENTRY.description,
    });
    expect(christmas).toMatchObject({
      ScheduleExpression: `at(${NEXT_YEAR}-12-24T08:00:00)`,
      ScheduleExpressionTimezone: 'America/Bogota',
      FlexibleTimeWindow: { Mode: 'OFF' },
      State: 'DISABLED',
    });
    for (const schedule of schedules) {
      // Scheduler's default group: the runtime API (allowed in the stack's own group only) cannot change them.
      expect(schedule.GroupName).toBeUndefined();
      expect(schedule.Target).toMatchObject({
        Arn: { 'Fn::GetAtt': [startList, 'Arn'] },
        RoleArn: { 'Fn::GetAtt': [role, 'Arn'] },
        RetryPolicy: {
          MaximumRetryAttempts: SCHEDULE_DELIVERY_RETRIES,
          MaximumEventAgeInSeconds: SCHEDULE_MAX_EVENT_AGE.toSeconds(),
        },
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [dlq, 'Arn'] } },
      });
    }
    const inputs = schedules.map((schedule) => JSON.parse((schedule.Target as Json).Input as string));
    expect(inputs).toEqual([
      { scheduledStart: { name: 'weekday-reminders', conversation: 'newsletter' } },
      { scheduledStart: { name: 'christmas', conversationId: 1002 } },
    ]);
  });

  it('the scheduler role: assumed by Scheduler of this account only; invokes start-list and dead-letters', () => {
    const role = props(
      resourcesOf(s.template, 'AWS::IAM::Role')[logicalId(s.stack.schedules.schedulerRole)]!,
    );
    expect(role.AssumeRolePolicyDocument).toMatchObject({
      Statement: [
        {
          Principal: { Service: 'scheduler.amazonaws.com' },
          Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
        },
      ],
    });
    const statements = roleStatements(s.template).filter(
      (st) => st.role === logicalId(s.stack.schedules.schedulerRole),
    );
    const actions = statements.flatMap(({ statement }) => [statement.Action].flat()).sort();
    expect([...new Set(actions)]).toEqual(['lambda:InvokeFunction', 'sqs:SendMessage']);
  });
});

describe('the runtime schedules API', () => {
  it('one function behind its five routes, with the group, role, target and DLQ in its environment', () => {
    const api = s.stack.functions['create-schedule'];
    for (const route of ROUTES.filter((r) => r.function === 'schedules')) {
      expect(s.stack.functions[route.name]).toBe(api);
    }
    const fn = props(resourcesOf(s.template, 'AWS::Lambda::Function')[logicalId(api.function)]!);
    const env = (fn.Environment as { Variables: Json }).Variables;
    expect(Object.keys(env)).toEqual(
      expect.arrayContaining([
        'SCHEDULE_GROUP_NAME',
        'START_LIST_FUNCTION_ARN',
        'SCHEDULER_ROLE_ARN',
        'SCHEDULE_DLQ_ARN',
      ]),
    );
    expect(env).not.toHaveProperty('DANA_SECRET_ID');
    const methods = callerMethods(s.template)
      .map(props)
      .filter((m) => JSON.stringify(m.Integration).includes(logicalId(api.function)));
    expect(methods.map((m) => m.HttpMethod).sort()).toEqual(['DELETE', 'GET', 'GET', 'POST', 'PUT']);
    expect(methods.every((m) => m.AuthorizationType === 'AWS_IAM')).toBe(true);
  });

  it('manages schedules of its own group only, and passes only the scheduler role, to Scheduler only', () => {
    const api = s.stack.functions['create-schedule'];
    const statements = roleStatements(s.template)
      .filter((st) => st.role === logicalId(api.role))
      .map((st) => st.statement);
    const manage = statements.find((st) => [st.Action].flat().includes('scheduler:CreateSchedule'))!;
    expect(JSON.stringify(manage.Resource)).toContain(
      `schedule/${s.stack.schedules.group.scheduleGroupName}/*`,
    );
    expect([manage.Action].flat().sort()).toEqual([
      'scheduler:CreateSchedule',
      'scheduler:DeleteSchedule',
      'scheduler:GetSchedule',
      'scheduler:UpdateSchedule',
    ]);
    expect(statements.find((st) => st.Action === 'iam:PassRole')).toMatchObject({
      Resource: { 'Fn::GetAtt': [logicalId(s.stack.schedules.schedulerRole), 'Arn'] },
      Condition: { StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' } },
    });
    s.template.hasResourceProperties('AWS::Scheduler::ScheduleGroup', {
      Name: s.stack.schedules.group.scheduleGroupName,
    });
    expect(
      statements.some((st) => [st.Action].flat().some((a) => String(a).startsWith('secretsmanager:'))),
    ).toBe(false);
    expect(Match).toBeDefined();
  });
});

describe('configuration of scheduled starts', () => {
  it('parses the new forms beside the old one', () => {
    const config = parseGatewayConfig({ scheduledStarts: [UTC_ENTRY, CARACAS_ENTRY, CHRISTMAS_ENTRY] });
    expect(config.scheduledStarts).toEqual([
      { ...UTC_ENTRY, conversation: 1001, flexibleWindowMinutes: 0 },
      { ...CARACAS_ENTRY },
      { ...CHRISTMAS_ENTRY, conversation: 1002, flexibleWindowMinutes: 0 },
    ]);
  });
});
