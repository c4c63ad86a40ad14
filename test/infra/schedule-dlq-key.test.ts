/**
 * `encryption: "customer-managed"` covers the schedule dead-letter queue too (issue 14, item 8): under the key the
 * stack created, with a key policy that lets its senders in (EventBridge for rule targets, through SQS, for this
 * account; the scheduler role and start-list through SQS). With a key named by ARN, whose policy the stack cannot
 * change, the queue keeps SQS-managed encryption so that EventBridge's dead letters are never refused.
 */
import { describe, expect, it } from 'vitest';
import { logicalIdOf, props, resourcesOf, synthGateway, type Json } from './synth';

const KEY_ARN = 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const SYNTH = { timeout: 180_000 };

describe('the schedule dead-letter queue and the customer-managed key', () => {
  it(
    'created key: the queue is under it; EventBridge, the scheduler role and start-list may use it via SQS',
    SYNTH,
    () => {
      const s = synthGateway({ encryption: 'customer-managed' });
      const keyId = logicalIdOf(s, s.stack.encryption.created!);
      const queue = resourcesOf(s.template, 'AWS::SQS::Queue')[
        logicalIdOf(s, s.stack.schedules.deadLetters.queue)
      ]!;
      expect(props(queue).KmsMasterKeyId).toEqual({ 'Fn::GetAtt': [keyId, 'Arn'] });
      expect(props(queue).SqsManagedSseEnabled).toBeUndefined();

      const statements = (props(resourcesOf(s.template, 'AWS::KMS::Key')[keyId]!).KeyPolicy as Json)
        .Statement as Json[];
      const viaSqs = {
        'kms:ViaService': { 'Fn::Join': ['', ['sqs.', { Ref: 'AWS::Region' }, '.amazonaws.com']] },
      };
      const events = statements.filter(
        (st) => (st.Principal as Json | undefined)?.Service === 'events.amazonaws.com',
      );
      expect(events).toEqual([
        {
          Sid: 'eventsSendsToQueues',
          Effect: 'Allow',
          Principal: { Service: 'events.amazonaws.com' },
          Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
          Resource: '*',
          Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' }, ...viaSqs } },
        },
      ]);
      const roleIds = [
        logicalIdOf(s, s.stack.schedules.schedulerRole),
        logicalIdOf(s, s.stack.functions['start-list'].function.role!),
      ];
      // CDK merges statements that differ only in their principals: look for the role among each one's.
      const principalsOf = (st: Json) =>
        [(st.Principal as Json | undefined)?.AWS ?? []].flat().map((p) => JSON.stringify(p));
      for (const roleId of roleIds) {
        const granted = statements.filter(
          (st) =>
            principalsOf(st).includes(JSON.stringify({ 'Fn::GetAtt': [roleId, 'Arn'] })) &&
            JSON.stringify((st.Condition as Json | undefined)?.StringEquals) === JSON.stringify(viaSqs),
        );
        expect(
          granted.map((st) => st.Action),
          roleId,
        ).toContainEqual(expect.arrayContaining(['kms:Decrypt', 'kms:GenerateDataKey']));
      }
    },
  );

  it(
    'key named by ARN: the queue stays SQS-managed (EventBridge could not use a key whose policy we cannot set)',
    SYNTH,
    () => {
      const s = synthGateway({ encryption: 'customer-managed', encryptionKeyArn: KEY_ARN });
      const queue = resourcesOf(s.template, 'AWS::SQS::Queue')[
        logicalIdOf(s, s.stack.schedules.deadLetters.queue)
      ]!;
      expect(props(queue).KmsMasterKeyId).toBeUndefined();
      expect(props(queue).SqsManagedSseEnabled).toBe(true);
    },
  );
});
