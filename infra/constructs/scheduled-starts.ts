import { Duration, Validations } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import { Construct } from 'constructs';
import type { ScheduledStart } from '../config';
import { DeadLetterQueue } from './queues';

/** A list start that is this late is not made any more: a human decides (it waits in the dead-letter queue). */
export const SCHEDULE_MAX_EVENT_AGE = Duration.minutes(15);
/**
 * EventBridge retries only deliveries Lambda refused (throttling, service errors), when no start has happened,
 * so retrying them is safe.
 */
export const SCHEDULE_DELIVERY_RETRIES = 3;

/** The input the start-list function takes from a schedule. */
export function scheduledStartInput(start: ScheduledStart): {
  scheduledStart: { name: string; conversationId: number };
} {
  return { scheduledStart: { name: start.name, conversationId: start.conversationId } };
}

export interface ScheduledStartsProps {
  starts: readonly ScheduledStart[];
  /** The start-list function. */
  target: lambda.Function;
  alarmAction?: cloudwatch.IAlarmAction;
}

/**
 * One EventBridge rule per configured start, each invoking the start-list function with its conversation id.
 * A start that cannot be delivered, or that the function fails, lands in one dead-letter queue whose alarm says
 * what to do. Lambda's own asynchronous retries are off: the function may have reached DANAConnect before it
 * failed, and a list must never be started twice because of us.
 */
export class ScheduledStarts extends Construct {
  readonly deadLetters: DeadLetterQueue;
  readonly rules: Record<string, events.Rule> = {};

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
    });
    Validations.of(this.deadLetters.queue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is itself a dead-letter queue: of the schedule rules targets and of the start-list ' +
        "function's asynchronous invocations (cdk-nag only recognises SQS redrive policies).",
    });

    props.target.configureAsyncInvoke({
      retryAttempts: 0,
      maxEventAge: SCHEDULE_MAX_EVENT_AGE,
      onFailure: new SqsDestination(this.deadLetters.queue),
    });

    for (const start of props.starts) {
      this.rules[start.name] = new events.Rule(this, `Start-${start.name}`, {
        description: start.description,
        schedule: events.Schedule.expression(start.cron),
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
}
