/**
 * Job Finished events and signed webhooks in the synthesized template (bundling skipped): who may put events,
 * the rule per webhook, the delivery queue and its dead-letter queue with alarms, one secret per webhook, the
 * delivery function's grants, and config errors that name the field.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../../infra/config';
import { DELIVERY_MAX_RECEIVE_COUNT } from '../../infra/constructs/job-events';
import {
  actionsOf,
  logicalIdOf,
  props,
  reportedViolations,
  resourcesOf,
  statementsOf,
  synthGateway,
  type Json,
  type Synthesized,
} from './synth';

const WEBHOOKS = [
  { name: 'crm', url: 'https://hooks.example.com/dana', events: ['job.finished'] },
  { name: 'erp-2', url: 'https://erp.example.org/in?x=1', events: ['job.finished'] },
];

const statementWith = (statements: Json[], action: string) =>
  statements.filter((s) => actionsOf(s).includes(action));

describe('with webhooks and a custom bus', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synthGateway({ webhooks: WEBHOOKS, events: { busName: 'integration-bus' } });
  });

  it('the ingest and the worker may put dana.gateway events on the bus, and only that', () => {
    for (const fn of [s.stack.batch.ingest, s.stack.batch.worker]) {
      const puts = statementWith(statementsOf(s, fn), 'events:PutEvents');
      expect(puts).toHaveLength(1);
      expect(actionsOf(puts[0]!)).toEqual(['events:PutEvents']);
      expect(JSON.stringify(puts[0]!.Resource)).toContain(':event-bus/integration-bus');
      expect(puts[0]!.Condition).toEqual({ StringEquals: { 'events:source': 'dana.gateway' } });
      const env = props(s.template.toJSON().Resources[logicalIdOf(s, fn.function)]).Environment as {
        Variables: Json;
      };
      expect(env.Variables.EVENT_BUS_NAME).toBe('integration-bus');
    }
    const putters = Object.entries(s.stack.functions).filter(
      ([, fn]) => statementWith(statementsOf(s, fn), 'events:PutEvents').length > 0,
    );
    expect(putters.map(([name]) => name).sort()).toEqual(['ingest-upload', 'process-chunk']);
  });

  it('cdk-nag finds nothing unacknowledged', () => {
    expect(reportedViolations(s.assembly)).toEqual([]);
  });

  it('one rule per webhook on the bus, matching Job Finished, into the delivery queue with the webhook name', () => {
    const events = s.stack.jobEvents;
    expect(events.rules).toHaveLength(2);
    const queueId = logicalIdOf(s, events.queue!);
    for (const [i, rule] of events.rules.entries()) {
      const p = props(s.template.toJSON().Resources[logicalIdOf(s, rule)]);
      expect(p.EventBusName).toBe('integration-bus');
      expect(p.EventPattern).toEqual({ source: ['dana.gateway'], 'detail-type': ['Job Finished'] });
      const [target] = p.Targets as Json[];
      expect(JSON.stringify(target!.Arn)).toContain(queueId);
      const transformer = target!.InputTransformer as Json;
      expect(transformer.InputPathsMap).toEqual({ detail: '$.detail' });
      expect(String(transformer.InputTemplate)).toContain(`"webhook":"${WEBHOOKS[i]!.name}"`);
      expect(target!.DeadLetterConfig).toBeDefined();
      expect(target!.RetryPolicy).toEqual({ MaximumEventAgeInSeconds: 86400, MaximumRetryAttempts: 185 });
    }
  });

  it('the delivery queue keeps messages past the 24-hour window and hands failures to an alarmed DLQ', () => {
    const events = s.stack.jobEvents;
    const queue = props(s.template.toJSON().Resources[logicalIdOf(s, events.queue!)]);
    expect(queue.MessageRetentionPeriod).toBeGreaterThan(34 * 3600);
    expect(queue.RedrivePolicy).toMatchObject({ maxReceiveCount: DELIVERY_MAX_RECEIVE_COUNT });
    expect(queue.SqsManagedSseEnabled).toBe(true);
    const dlqAlarm = props(s.template.toJSON().Resources[logicalIdOf(s, events.deadLetters!.notEmptyAlarm)]);
    expect(String(dlqAlarm.AlarmDescription)).toContain('docs/EVENTS.md#runbook');
    expect(dlqAlarm.AlarmActions).toBeDefined();
    const gone = props(s.template.toJSON().Resources[logicalIdOf(s, events.goneAlarm!)]);
    expect(gone).toMatchObject({ MetricName: 'WebhookGone', Threshold: 1 });
    expect(gone.Dimensions).toEqual(
      expect.arrayContaining([{ Name: 'operation', Value: 'deliver-webhook' }]),
    );
  });

  it('one generated secret per webhook; the delivery function reads those and nothing else', () => {
    const events = s.stack.jobEvents;
    expect(Object.keys(events.secrets).sort()).toEqual(['crm', 'erp-2']);
    for (const secret of Object.values(events.secrets)) {
      const p = props(s.template.toJSON().Resources[logicalIdOf(s, secret)]);
      expect(p.GenerateSecretString).toMatchObject({ PasswordLength: 64, ExcludePunctuation: true });
    }
    const statements = statementsOf(s, events.deliver!);
    const reads = statementWith(statements, 'secretsmanager:GetSecretValue');
    const secretIds = Object.values(events.secrets).map((secret) => logicalIdOf(s, secret));
    expect(
      reads
        .flatMap((r) => [r.Resource].flat())
        .map((r) => (r as { Ref: string }).Ref)
        .sort(),
    ).toEqual(secretIds.sort());
    // No DANAConnect secret, no table, no bucket, no events.
    const text = JSON.stringify(statements);
    expect(text).not.toContain(logicalIdOf(s, s.stack.batch.table.table));
    expect(text).not.toContain('events:PutEvents');
    expect(text).not.toContain('s3:');
    expect(text).not.toContain('dynamodb:');
    const sends = statementWith(statements, 'sqs:SendMessage');
    expect(JSON.stringify(sends)).toContain(logicalIdOf(s, s.stack.jobEvents.deadLetters!.queue));
  });

  it('the function gets its webhooks (names, URLs, secret ARNs) and both queue URLs, no secret values', () => {
    const fn = s.template.toJSON().Resources[logicalIdOf(s, s.stack.jobEvents.deliver!.function)];
    const vars = (props(fn).Environment as { Variables: Json }).Variables;
    expect(Object.keys(vars)).toEqual(
      expect.arrayContaining(['WEBHOOKS', 'QUEUE_URL', 'DEAD_LETTER_QUEUE_URL']),
    );
    const webhooks = JSON.stringify(vars.WEBHOOKS);
    expect(webhooks).toContain('https://hooks.example.com/dana');
    expect(webhooks).toContain('secretArn');
    const mapping = resourcesOf(s.template, 'AWS::Lambda::EventSourceMapping');
    const ours = Object.values(mapping).filter((m) =>
      JSON.stringify(props(m).EventSourceArn).includes(logicalIdOf(s, s.stack.jobEvents.queue!)),
    );
    expect(ours).toHaveLength(1);
    expect(props(ours[0]!).FunctionResponseTypes).toEqual(['ReportBatchItemFailures']);
  });
});

describe('config: webhooks and events', () => {
  const problemsOf = (raw: Json) => {
    try {
      parseGatewayConfig(raw);
      return [];
    } catch (error) {
      return (error as { problems: string[] }).problems;
    }
  };

  it.each([
    ['http://hooks.example.com/', 'webhooks[0].url: must use https://'],
    ['https://10.1.2.3/hook', 'webhooks[0].url: points at a private'],
    ['https://169.254.169.254/latest', 'webhooks[0].url: points at a private'],
    ['https://[::1]/hook', 'webhooks[0].url: points at a private'],
    ['https://localhost:8443/hook', 'webhooks[0].url: must name a public host'],
    ['https://127.0.0.1:8443/hook', 'webhooks[0].url: points at a private'],
  ])('refuses %s, naming the field', (url, problem) => {
    const problems = problemsOf({ webhooks: [{ name: 'crm', url, events: ['job.finished'] }] });
    expect(problems.some((p) => p.startsWith(problem))).toBe(true);
  });

  it('names, events, duplicates and the bus name are checked too', () => {
    const problems = problemsOf({
      events: { busName: 'default', other: 1 },
      webhooks: [
        { name: 'CRM', url: 'https://a.example.com/', events: ['job.finished'] },
        { name: 'crm', url: 'https://a.example.com/', events: ['job.started'] },
        { name: 'erp', url: 'https://a.example.com/', events: ['job.finished'], secret: 'x' },
        { name: 'ok', url: 'https://a.example.com/', events: ['job.finished'] },
        { name: 'ok', url: 'https://b.example.com/', events: ['job.finished'] },
      ],
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^events\.busName: /),
        expect.stringMatching(/^events\.other: is not a known setting/),
        expect.stringMatching(/^webhooks\[0\]\.name: /),
        expect.stringMatching(/^webhooks\[1\]\.events: /),
        expect.stringMatching(/^webhooks\[2\]\.secret: is not a known setting/),
        'webhooks[4].name: "ok" is used twice',
      ]),
    );
  });

  it('defaults: the default bus, no webhooks', () => {
    const config = parseGatewayConfig({});
    expect(config.events).toEqual({});
    expect(config.webhooks).toEqual([]);
  });
});
