import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

/** House defaults for every queue: encrypted at rest, TLS-only access, two weeks to look at what is in it. */
const QUEUE_DEFAULTS = {
  encryption: sqs.QueueEncryption.SQS_MANAGED,
  enforceSSL: true,
} as const;

/** The defaults, with a customer-managed key when one is given (`encryption: "customer-managed"`). */
export const queueDefaults = (key: kms.IKey | undefined) =>
  key ? { ...QUEUE_DEFAULTS, encryption: sqs.QueueEncryption.KMS, encryptionMasterKey: key } : QUEUE_DEFAULTS;

export interface DeadLetterQueueProps {
  /** What lands here, for the alarm's text: "scheduled list starts that did not run". */
  holds: string;
  /** What the operator should do when the alarm fires. */
  runbook: string;
  alarmAction?: cloudwatch.IAlarmAction;
  /** A customer-managed key (infra/constructs/data-encryption.ts); SQS-managed encryption without. */
  encryptionKey?: kms.IKey;
}

/** A dead-letter queue and its "not empty" alarm. Anything in it is work that did not happen. */
export class DeadLetterQueue extends Construct {
  readonly queue: sqs.Queue;
  readonly notEmptyAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: DeadLetterQueueProps) {
    super(scope, id);
    this.queue = new sqs.Queue(this, 'Queue', {
      ...queueDefaults(props.encryptionKey),
      retentionPeriod: Duration.days(14),
    });
    this.notEmptyAlarm = new cloudwatch.Alarm(this, 'NotEmptyAlarm', {
      alarmDescription: `Dead-letter queue not empty: it holds ${props.holds}. ${props.runbook}`,
      metric: this.queue.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(1),
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    if (props.alarmAction) this.notEmptyAlarm.addAlarmAction(props.alarmAction);
  }
}

export interface WorkQueueProps {
  /** The consumer's timeout; the visibility timeout is 6 times that (AWS's advice for Lambda event sources). */
  consumerTimeout: Duration;
  /** Receives before a message goes to the dead-letter queue. */
  maxReceiveCount: number;
  /** Alarm when the oldest message has waited this long (the consumer is down or far behind). */
  maxMessageAge: Duration;
  holds: string;
  deadLetterRunbook: string;
  backlogRunbook: string;
  alarmAction?: cloudwatch.IAlarmAction;
  /** For the queue and its dead-letter queue; see DeadLetterQueueProps. */
  encryptionKey?: kms.IKey;
}

/** A work queue with its dead-letter queue, redrive policy and alarms (dead letters, age of the oldest message). */
export class WorkQueue extends Construct {
  readonly queue: sqs.Queue;
  readonly deadLetters: DeadLetterQueue;
  readonly oldestMessageAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: WorkQueueProps) {
    super(scope, id);
    this.deadLetters = new DeadLetterQueue(this, 'DeadLetters', {
      holds: `${props.holds} that failed ${props.maxReceiveCount} times`,
      runbook: props.deadLetterRunbook,
      alarmAction: props.alarmAction,
      encryptionKey: props.encryptionKey,
    });
    this.queue = new sqs.Queue(this, 'Queue', {
      ...queueDefaults(props.encryptionKey),
      // SQS's maximum: a large job at a low rate limit, or a long DANAConnect outage, may keep chunks waiting for
      // days, and a chunk that expires would leave its rows without an outcome. (A standard queue's message keeps
      // its first enqueue time in the dead-letter queue, so both queues hold a message 14 days from its send.)
      retentionPeriod: Duration.days(14),
      visibilityTimeout: Duration.seconds(props.consumerTimeout.toSeconds() * 6),
      deadLetterQueue: { queue: this.deadLetters.queue, maxReceiveCount: props.maxReceiveCount },
    });
    this.oldestMessageAlarm = new cloudwatch.Alarm(this, 'OldestMessageAlarm', {
      alarmDescription:
        `Messages in the queue of ${props.holds} have waited more than ${props.maxMessageAge.toHumanString()}. ` +
        props.backlogRunbook,
      metric: this.queue.metricApproximateAgeOfOldestMessage({
        period: Duration.minutes(1),
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
      threshold: props.maxMessageAge.toSeconds(),
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 5,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    if (props.alarmAction) this.oldestMessageAlarm.addAlarmAction(props.alarmAction);
  }
}
