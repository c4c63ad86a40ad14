import { Annotations, Duration, Stack, TimeZone, Validations } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import { Construct } from 'constructs';
import {
  SCHEDULE_RETRY,
  scheduledStartInput as inputFor,
  type ScheduledStartInput,
} from '../../lambdas/core/schedules';
import { usesScheduler, type ScheduledStart } from '../scheduled-start-config';
import type { GatewayFunction } from './gateway-function';
import type { DataEncryption } from './data-encryption';
import { DeadLetterQueue } from './queues';

/** A list start that is this late is not made any more: a human decides (it waits in the dead-letter queue). */
export const SCHEDULE_MAX_EVENT_AGE = Duration.seconds(SCHEDULE_RETRY.maximumEventAgeSeconds);
/**
 * EventBridge retries only deliveries Lambda refused (throttling, service errors), when no start has happened,
 * so retrying them is safe.
 */
export const SCHEDULE_DELIVERY_RETRIES = SCHEDULE_RETRY.maximumRetryAttempts;

/** The input the start-list function takes from a schedule (an alias passes through, resolved when it fires). */
export function scheduledStartInput(start: ScheduledStart): ScheduledStartInput {
  return inputFor(start.name, start.conversation);
}

export interface ScheduledStartsProps {
  starts: readonly ScheduledStart[];
  /** The start-list function. */
  target: lambda.Function;
  alarmAction?: cloudwatch.IAlarmAction;
  /** With a customer-managed key the stack created, the dead-letter queue is under it (docs/SECURITY.md). */
  encryption?: DataEncryption;
}

/**
 * Every scheduled start of the stack. Configured UTC entries are EventBridge rules (as they always were); configured
 * entries with a time zone or `at` are EventBridge Scheduler schedules (in Scheduler's default group, so the
 * runtime API cannot change what CloudFormation owns); runtime schedules (POST /schedules) live in this
 * construct's schedule group. Each invokes start-list with its scheduled start, with a retry policy and this
 * construct's dead-letter queue; Scheduler invokes through one execution role that may invoke start-list and
 * write to the dead-letter queue, nothing else. A start that cannot be delivered, or that the function fails,
 * lands in that queue, whose alarm says what to do. Lambda's own asynchronous retries are off: the function may
 * have reached DANAConnect before it failed, and a list must never be started twice because of us.
 */
export class ScheduledStarts extends Construct {
  readonly deadLetters: DeadLetterQueue;
  readonly rules: Record<string, events.Rule> = {};
  /** Configured entries with a time zone or `at`. */
  readonly schedules: Record<string, scheduler.Schedule> = {};
  /** Where the runtime schedules API creates its schedules. */
  readonly group: scheduler.ScheduleGroup;
  /** The role EventBridge Scheduler assumes to invoke start-list and to dead-letter. */
  readonly schedulerRole: iam.Role;
  private readonly target: lambda.Function;

  constructor(scope: Construct, id: string, props: ScheduledStartsProps) {
    super(scope, id);
    this.deadLetters = new DeadLetterQueue(this, 'DeadLetters', {
      holds:
        'scheduled list starts that did not run (EventBridge could not invoke start-list, or start-list failed)',
      runbook:
        'Read the message: it names the schedule and conversation id (and, for a function failure, the request id ' +
        'to look up in the start-list log). Ask DANAConnect whether the list started; if it did not, start it with ' +
        'POST .../conversation/{conversationId}/start/list. Then delete the message.',
      alarmAction: props.alarmAction,
      // Its senders: EventBridge (rule targets' dead letters), the scheduler role and start-list (its failed
      // asynchronous invocations, sent with the function's role).
      encryptionKey: props.encryption?.keyForServiceSender('events.amazonaws.com'),
    });
    Validations.of(this.deadLetters.queue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is itself a dead-letter queue: of the schedule rules targets and of the start-list ' +
        "function's asynchronous invocations (cdk-nag only recognises SQS redrive policies).",
    });

    this.target = props.target;
    this.group = new scheduler.ScheduleGroup(this, 'RuntimeGroup');
    this.schedulerRole = this.schedulerRoleFor(props.target);
    if (this.deadLetters.queue.encryptionMasterKey) this.grantDeadLetterKey(props.encryption!, props.target);
    props.target.configureAsyncInvoke({
      retryAttempts: 0,
      maxEventAge: SCHEDULE_MAX_EVENT_AGE,
      onFailure: new SqsDestination(this.deadLetters.queue),
    });

    // A one-time start whose `at` has passed is not deployed (Scheduler refuses a past at()); a warning names it.
    for (const start of props.starts.filter((s) => s.past)) {
      Annotations.of(this).addWarningV2(
        'gateway:scheduled-start-past',
        `scheduledStarts entry "${start.name}": at ${start.at} (${start.timezone ?? 'UTC'}) is in the past, so it ` +
          'is not deployed (a schedule deployed before is removed); remove the entry from cdk.json',
      );
    }
    const starts = props.starts.filter((s) => !s.past);
    for (const start of starts.filter(usesScheduler)) this.addSchedulerStart(start);
    for (const start of starts.filter((s) => !usesScheduler(s))) {
      this.rules[start.name] = new events.Rule(this, `Start-${start.name}`, {
        description: start.description,
        schedule: events.Schedule.expression(start.cron!),
        enabled: start.enabled,
        targets: [
          new targets.LambdaFunction(props.target, {
            event: events.RuleTargetInput.fromObject(scheduledStartInput(start)),
            deadLetterQueue: this.deadLetters.queue,
            retryAttempts: SCHEDULE_DELIVERY_RETRIES,
            maxEventAge: SCHEDULE_MAX_EVENT_AGE,
          }),
        ],
      });
    }
  }

  /** The dead-letter queue's key (the created data key) for its senders: the scheduler role and start-list. */
  private grantDeadLetterKey(encryption: DataEncryption, target: lambda.Function): void {
    encryption.grant(this.schedulerRole, 'sqs', 'read-write');
    encryption.grant(target, 'sqs', 'read-write');
    // CDK's own grant for the on-failure destination (grantSendMessages) names the KMS actions with wildcards.
    for (const action of ['kms:GenerateDataKey*', 'kms:ReEncrypt*']) {
      Validations.of(target.role!).acknowledge({
        id: `AwsSolutions-IAM5[Action::${action}]`,
        reason:
          "CDK's grant for Lambda's on-failure destination (the schedule dead-letter queue, encrypted with the " +
          "gateway's key): on that one key, and the key's policy lets the role use it through SQS only.",
      });
    }
  }

  /** Only Scheduler, for this account, may assume it; it may invoke start-list (no version or alias) and dead-letter. */
  private schedulerRoleFor(target: lambda.Function): iam.Role {
    const role = new iam.Role(this, 'SchedulerRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
      description: 'EventBridge Scheduler invokes start-list for scheduled starts',
    });
    role.addToPolicy(
      new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [target.functionArn] }),
    );
    role.addToPolicy(
      new iam.PolicyStatement({ actions: ['sqs:SendMessage'], resources: [this.deadLetters.queue.queueArn] }),
    );
    return role;
  }

  /** A configured entry with a time zone or `at`: a Scheduler schedule (L2), in its zone, retried, dead-lettered. */
  private addSchedulerStart(start: ScheduledStart): void {
    const timeZone = TimeZone.of(start.timezone ?? 'UTC');
    const expression = start.at !== undefined ? `at(${start.at})` : start.cron!;
    this.schedules[start.name] = new scheduler.Schedule(this, `Schedule-${start.name}`, {
      description: start.description,
      schedule: scheduler.ScheduleExpression.expression(expression, timeZone),
      enabled: start.enabled,
      timeWindow:
        start.flexibleWindowMinutes > 0
          ? scheduler.TimeWindow.flexible(Duration.minutes(start.flexibleWindowMinutes))
          : scheduler.TimeWindow.off(),
      target: new schedulerTargets.LambdaInvoke(this.target, {
        role: this.schedulerRole,
        input: scheduler.ScheduleTargetInput.fromObject(scheduledStartInput(start)),
        deadLetterQueue: this.deadLetters.queue,
        retryAttempts: SCHEDULE_DELIVERY_RETRIES,
        maxEventAge: SCHEDULE_MAX_EVENT_AGE,
      }),
    });
    if (Object.keys(this.schedules).length === 1) {
      // The L2 target grants with Function.grantInvoke, which adds the function's versions and aliases (`:*`).
      const fn = Stack.of(this).getLogicalId(this.target.node.defaultChild as lambda.CfnFunction);
      Validations.of(this.schedulerRole).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${fn}.Arn>:*]`,
        reason:
          "Added by the Scheduler L2 target's grantInvoke: start-list's versions and aliases. The role is " +
          'assumed only by EventBridge Scheduler of this account and may invoke start-list and nothing else.',
      });
    }
  }

  /**
   * The runtime schedules API's function: manages schedules in this group only, passes only the scheduler role,
   * and gets what its store needs (../../lambdas/adapters/scheduler-schedule-store.ts).
   */
  grantManageSchedules(fn: GatewayFunction): void {
    const stack = Stack.of(this);
    const schedules = stack.formatArn({
      service: 'scheduler',
      resource: 'schedule',
      resourceName: `${this.group.scheduleGroupName}/*`,
    });
    fn.role.addToPolicy(
      new iam.PolicyStatement({
        actions: [
          'scheduler:CreateSchedule',
          'scheduler:GetSchedule',
          'scheduler:UpdateSchedule',
          'scheduler:DeleteSchedule',
        ],
        resources: [schedules],
      }),
    );
    // ListSchedules takes no resource; it lists names only, each then read through GetSchedule above.
    fn.role.addToPolicy(new iam.PolicyStatement({ actions: ['scheduler:ListSchedules'], resources: ['*'] }));
    fn.role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['iam:PassRole'],
        resources: [this.schedulerRole.roleArn],
        conditions: { StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' } },
      }),
    );
    fn.function.addEnvironment('SCHEDULE_GROUP_NAME', this.group.scheduleGroupName);
    fn.function.addEnvironment('START_LIST_FUNCTION_ARN', this.target.functionArn);
    fn.function.addEnvironment('SCHEDULER_ROLE_ARN', this.schedulerRole.roleArn);
    fn.function.addEnvironment('SCHEDULE_DLQ_ARN', this.deadLetters.queue.queueArn);
    Validations.of(fn.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'scheduler:ListSchedules supports no resource-level permission (it lists names in the given group).',
    });
    Validations.of(fn.role).acknowledge({
      // The L2 group's name is generated at synth, so it is known here.
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:scheduler:<AWS::Region>:<AWS::AccountId>:schedule/${this.group.scheduleGroupName}/*]`,
      reason:
        "Runtime schedules are named by the API's callers at run time; only those of the stack's own group.",
    });
  }
}
