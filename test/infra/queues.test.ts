/** The house queue constructs, alone in a stack: what a later phase's work queue gets by default. */
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as sns from 'aws-cdk-lib/aws-sns';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { WorkQueue } from '../../infra/constructs/queues';

function workQueueStack() {
  const app = new App();
  const stack = new Stack(app, 'QueueTest');
  const topic = new sns.Topic(stack, 'Alarms', { enforceSSL: true });
  const work = new WorkQueue(stack, 'Chunks', {
    consumerTimeout: Duration.seconds(30),
    maxReceiveCount: 5,
    maxMessageAge: Duration.minutes(15),
    holds: 'upload chunks',
    deadLetterRunbook: 'Run npm run redrive after fixing the cause.',
    backlogRunbook: 'Check the worker is running and not throttled.',
    alarmAction: new cloudwatchActions.SnsAction(topic),
  });
  return { app, stack, work, template: Template.fromStack(stack) };
}

describe('WorkQueue', () => {
  it('a queue with its dead-letter queue: redrive after maxReceiveCount, visibility 6× the consumer timeout', () => {
    const { stack, work, template } = workQueueStack();
    template.resourceCountIs('AWS::SQS::Queue', 2);
    const dlqId = stack.getLogicalId(work.deadLetters.queue.node.defaultChild as never);
    template.hasResourceProperties('AWS::SQS::Queue', {
      VisibilityTimeout: 180,
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [dlqId, 'Arn'] }, maxReceiveCount: 5 },
      // Chunks of a long job must not expire before they are started.
      MessageRetentionPeriod: 14 * 24 * 3600,
      SqsManagedSseEnabled: true,
    });
    template.hasResourceProperties('AWS::SQS::Queue', {
      MessageRetentionPeriod: 14 * 24 * 3600,
      SqsManagedSseEnabled: true,
    });
  });

  it('both queues refuse requests without TLS', () => {
    const { template } = workQueueStack();
    const policies = template.findResources('AWS::SQS::QueuePolicy');
    expect(Object.keys(policies)).toHaveLength(2);
    template.allResourcesProperties('AWS::SQS::QueuePolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('alarms on dead letters and on the age of the oldest message, with what to do', () => {
    const { template } = workQueueStack();
    template.resourceCountIs('AWS::CloudWatch::Alarm', 2);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      AlarmDescription: Match.stringLikeRegexp('upload chunks that failed 5 times.*npm run redrive'),
      AlarmActions: [Match.anyValue()],
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateAgeOfOldestMessage',
      Threshold: 900,
      AlarmDescription: Match.stringLikeRegexp('worker is running'),
      AlarmActions: [Match.anyValue()],
    });
  });

  it('passes the AwsSolutions checks without any acknowledgement', () => {
    const { stack } = workQueueStack();
    const report = new AwsSolutionsChecks().validateScope(stack);
    expect(report.violations.map((v) => v.ruleName)).toEqual([]);
  });
});
