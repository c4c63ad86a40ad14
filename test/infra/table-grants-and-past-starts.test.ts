/**
 * Follow-ups of the security hardening and the schedules (bundling skipped, cdk-nag on): list-jobs gets its index
 * Query from table-access.ts like every other table grant, and only reads under a customer-managed key; a
 * configured one-time start whose `at` has passed is not synthesized, and the synth warns naming it.
 */
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { KEY_ACTIONS } from '../../infra/constructs/data-encryption';
import { TABLE_ACCESS } from '../../infra/constructs/table-access';
import { logicalIdOf, props, resourcesOf, statementsOf, synthGateway, type Json } from './synth';

describe('list-jobs and the table key', () => {
  it('its index Query is the job-list-index kind: Query on ByOwner only, in jobs#… partitions', () => {
    expect(TABLE_ACCESS['job-list-index']).toEqual({
      actions: ['dynamodb:Query'],
      leadingKeys: ['jobs#*'],
      index: 'ByOwner',
    });
    const s = synthGateway({ scheduledStarts: [] });
    const table = { 'Fn::GetAtt': [logicalIdOf(s, s.stack.batch.table.table), 'Arn'] };
    const onTable = statementsOf(s, s.stack.functions['list-jobs']).filter((st) =>
      JSON.stringify(st.Resource).includes(table['Fn::GetAtt'][0]!),
    );
    expect(onTable).toEqual([
      {
        Effect: 'Allow',
        Action: 'dynamodb:Query',
        Resource: { 'Fn::Join': ['', [table, '/index/ByOwner']] },
        Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['jobs#*'] } },
      },
      {
        Effect: 'Allow',
        Action: 'dynamodb:BatchGetItem',
        Resource: table,
        Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['job#*'] } },
      },
    ]);
  });

  it('customer-managed: list-jobs may decrypt through DynamoDB, never encrypt (BatchGetItem only reads)', () => {
    const s = synthGateway({ scheduledStarts: [], encryption: 'customer-managed' });
    const key = props(resourcesOf(s.template, 'AWS::KMS::Key')[logicalIdOf(s, s.stack.encryption.created!)]!);
    const role = logicalIdOf(s, s.stack.functions['list-jobs'].role);
    const forRole = (key.KeyPolicy as { Statement: Json[] }).Statement.filter((st) =>
      JSON.stringify((st.Principal as Json | undefined)?.AWS ?? '').includes(`"${role}"`),
    );
    expect(forRole.length).toBeGreaterThan(0);
    for (const st of forRole) {
      expect(JSON.stringify(st.Condition)).toContain('"dynamodb.');
      expect([st.Action].flat().sort()).toEqual([...KEY_ACTIONS.read].sort());
    }
  });
});

describe('a configured one-time start already past', () => {
  const entry = (name: string, at: string) => ({
    name,
    conversationId: 1001,
    at,
    timezone: 'America/Bogota',
    enabled: true,
    description: `Once, ${at}`,
  });
  const ahead = `${new Date().getUTCFullYear() + 1}-12-24T08:00:00`;

  it('is not synthesized; the synth warns, naming the entry; the entries ahead are deployed', () => {
    const s = synthGateway({
      scheduledStarts: [entry('christmas-2020', '2020-12-24T08:00:00'), entry('christmas-next', ahead)],
    });
    expect(Object.keys(s.stack.schedules.schedules)).toEqual(['christmas-next']);
    const schedules = Object.values(resourcesOf(s.template, 'AWS::Scheduler::Schedule')).map(props);
    expect(schedules.map((p) => p.ScheduleExpression)).toEqual([`at(${ahead})`]);
    Annotations.fromStack(s.stack).hasWarning(
      '*',
      Match.stringLikeRegexp(
        'scheduledStarts entry "christmas-2020": at 2020-12-24T08:00:00 \\(America/Bogota\\) is in the past',
      ),
    );
    Annotations.fromStack(s.stack).hasNoWarning('*', Match.stringLikeRegexp('christmas-next'));
  });

  it('a malformed `at` still stops the synth, naming the field', () => {
    expect(() => synthGateway({ scheduledStarts: [entry('typo', '2099-12-24 08:00')] })).toThrow(
      /scheduledStarts\[0\]\.at: must be a local date-time/,
    );
  });
});
