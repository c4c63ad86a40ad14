/**
 * The synthesized template, property by property (bundling skipped): functions, API methods and validation, the
 * secret grant, schedules, logs, alarms, and the cdk-nag checks that run on every synth.
 */
import { Validations } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { beforeAll, describe, expect, it } from 'vitest';
import { FIELD_CODE_PATTERN } from '../../lambdas/core/validation';
import { takesConversationRef } from '../../lambdas/http/conversation-ref';
import { functionOf, ROUTES } from '../../lambdas/http/routes';
import { SCHEDULE_DELIVERY_RETRIES, SCHEDULE_MAX_EVENT_AGE } from '../../infra/constructs/scheduled-starts';
import {
  callerMethods,
  actionsOf,
  logicalIdOf,
  props,
  reportedViolations,
  resourcesOf,
  roleStatements,
  synthGateway,
  type Json,
  type Synthesized,
} from './synth';

/** The routes whose functions call DANAConnect, and so read its secret; the pipeline's worker does too. */
const DANA_ROUTES = ROUTES.filter((r) => r.callsDana);
const DANA_CALLERS = DANA_ROUTES.length + 1;
/** Our functions: one per route (routes that share a `function` count once), ingest-upload and process-chunk. */
const OUR_FUNCTIONS = new Set(ROUTES.map(functionOf)).size + 2;

/** Logical id of a function's CfnFunction, by operation name. */
function functionLogicalId(s: Synthesized, name: string): string {
  const fn = s.stack.functions[name as keyof typeof s.stack.functions].function;
  return s.stack.getLogicalId(fn.node.defaultChild as never);
}

const SCHEDULES = [
  {
    name: 'weekday-reminders',
    conversationId: 1002,
    cron: 'cron(0 12 ? * MON-FRI *)',
    enabled: true,
    description: 'Weekday reminders',
  },
  {
    name: 'month-end',
    conversationId: 1003,
    cron: 'cron(0 9 L * ? *)',
    enabled: false,
    description: 'Month-end statements (paused)',
  },
];

/**
 * The callers' stack: the operator console (its page function, user pool and /console/api methods; on by default)
 * has its own tests (operator-console.test.ts), so the counts here are of the callers' functions and methods.
 */
const CALLERS_ONLY = { console: { enabled: false } };

let base: Synthesized;
let scheduled: Synthesized;
beforeAll(() => {
  base = synthGateway({ scheduledStarts: [], ...CALLERS_ONLY });
  scheduled = synthGateway({ scheduledStarts: SCHEDULES, alarmEmails: ['ops@example.com'], ...CALLERS_ONLY });
});

describe('one function per operation', () => {
  /** Our functions' CloudFormation resources, by name. */
  const ourFunctions = (s: Synthesized) =>
    Object.keys(s.stack.functions).map((name) => {
      const fn = resourcesOf(s.template, 'AWS::Lambda::Function')[functionLogicalId(s, name)];
      expect(fn, name).toBeDefined();
      return [name, fn!] as const;
    });

  it('one function per route and two for the pipeline, Node.js 24 on ARM64, deliberate timeout and memory', () => {
    const functions = resourcesOf(base.template, 'AWS::Lambda::Function');
    // Plus CDK's own handler that sets the bucket notifications at deploy time (see batch-pipeline.test.ts).
    expect(Object.keys(functions)).toHaveLength(OUR_FUNCTIONS + 1);
    expect(Object.keys(base.stack.functions).sort()).toEqual(
      [...ROUTES.map((r) => r.name), 'ingest-upload', 'process-chunk'].sort(),
    );
    for (const [name, fn] of ourFunctions(base)) {
      expect(props(fn), name).toMatchObject({
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
      });
    }
    for (const route of ROUTES) {
      const fn = functions[functionLogicalId(base, route.name)]!;
      expect(props(fn), route.name).toMatchObject({ Timeout: 25, MemorySize: 512 });
      expect(props(fn).Description).toContain(route.path);
    }
  });

  it('each HTTP function has the Powertools environment, source maps on, and DANAConnect’s if it calls it', () => {
    const secretRef = { Ref: base.stack.getLogicalId(base.stack.secret.created!.node.defaultChild as never) };
    const table = { Ref: base.stack.getLogicalId(base.stack.batch.table.table.node.defaultChild as never) };
    const queue = { Ref: base.stack.getLogicalId(base.stack.batch.chunks.queue.node.defaultChild as never) };
    const bucket = {
      Ref: base.stack.getLogicalId(base.stack.batch.bucket.bucket.node.defaultChild as never),
    };
    const cursorKey = {
      Ref: base.stack.getLogicalId(base.stack.jobsApi.cursorSecret.node.defaultChild as never),
    };
    // The jobs API (docs/JOBS.md): JOB_READERS is config `jobReaders` (none here, lambdas/core/job-access.ts).
    const jobsApi: Record<string, Json> = {
      'get-job': { JOB_READERS: '' },
      'list-jobs': { JOB_READERS: '', JOBS_CURSOR_SECRET_ARN: cursorKey },
      'get-job-report': { JOB_READERS: '', BUCKET_NAME: bucket },
      'create-upload': { BUCKET_NAME: bucket, UPLOAD_MAX_BYTES: String(2 * 1024 ** 3) },
    };
    // A function shared by several routes (the schedules API) has its own environment, tested with it.
    for (const route of ROUTES.filter((r) => r.function === undefined)) {
      const fn = resourcesOf(base.template, 'AWS::Lambda::Function')[functionLogicalId(base, route.name)]!;
      expect((props(fn).Environment as Json).Variables, route.name).toEqual({
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_SERVICE_NAME: 'dana-gateway-prod',
        POWERTOOLS_METRICS_NAMESPACE: 'DanaGateway',
        POWERTOOLS_LOG_LEVEL: 'INFO',
        ...(route.callsDana
          ? { DANA_BASE_URL: 'https://appserv.danaconnect.com', DANA_SECRET_ID: secretRef }
          : { JOBS_TABLE_NAME: table }),
        ...(route.respondAsync ? { JOBS_TABLE_NAME: table, QUEUE_URL: queue } : {}),
        // `{conversationId}` may be an alias, read from the jobs table (docs/ALIASES.md).
        ...(takesConversationRef(route) ? { JOBS_TABLE_NAME: table } : {}),
        ...jobsApi[route.name],
      });
    }
  });

  it('each function logs to its own log group with the configured retention', () => {
    const logGroups = resourcesOf(base.template, 'AWS::Logs::LogGroup');
    const used = new Set<string>();
    for (const [name, fn] of ourFunctions(base)) {
      const ref = ((props(fn).LoggingConfig as Json).LogGroup as { Ref: string }).Ref;
      expect(props(logGroups[ref]!).RetentionInDays, name).toBe(30);
      used.add(ref);
    }
    expect(used.size).toBe(OUR_FUNCTIONS);
    const custom = synthGateway({ scheduledStarts: [], logRetentionDays: 365, ...CALLERS_ONLY });
    const groups = Object.values(resourcesOf(custom.template, 'AWS::Logs::LogGroup'));
    // Ours, the API's access log, and the log group of CDK's notification handler.
    expect(groups).toHaveLength(OUR_FUNCTIONS + 2);
    for (const group of groups) expect(props(group).RetentionInDays).toBe(365);
  });

  it('each function runs under its own role without AWS-managed policies', () => {
    const roles = resourcesOf(base.template, 'AWS::IAM::Role');
    for (const role of Object.values(roles)) expect(props(role).ManagedPolicyArns).toBeUndefined();
    const functionRoles = Object.values(resourcesOf(base.template, 'AWS::Lambda::Function')).map(
      (fn) => (props(fn).Role as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0],
    );
    expect(new Set(functionRoles).size).toBe(OUR_FUNCTIONS + 1);
  });
});

describe('the DANAConnect secret', () => {
  // The jobs list's cursor key (infra/constructs/jobs-api.ts) is a secret too, read by list-jobs alone.
  const isCursorKey = (statement: Json) => JSON.stringify(statement.Resource).includes('JobsApiCursorKey');
  const secretStatementsOf = (s: Synthesized) =>
    roleStatements(s.template).filter(
      ({ statement }) =>
        JSON.stringify(statement.Action).includes('secretsmanager:') && !isCursorKey(statement),
    );

  it('each function that calls DANAConnect may GetSecretValue on that one secret; no other function may', () => {
    const secretRef = { Ref: base.stack.getLogicalId(base.stack.secret.created!.node.defaultChild as never) };
    const secretStatements = secretStatementsOf(base);
    const roleOf = (name: keyof Synthesized['stack']['functions']) =>
      base.stack.getLogicalId(base.stack.functions[name].role.node.defaultChild as never);
    expect(secretStatements.map((s) => s.role).sort()).toEqual(
      [...DANA_ROUTES.map((r) => roleOf(r.name)), roleOf('process-chunk')].sort(),
    );
    for (const { statement } of secretStatements) {
      expect(statement).toEqual({
        Action: 'secretsmanager:GetSecretValue',
        Effect: 'Allow',
        Resource: secretRef,
      });
    }
    const readers = new Set(secretStatements.map((s) => s.role));
    expect(readers.has(roleOf('ingest-upload'))).toBe(false);
    expect(readers.has(roleOf('get-job'))).toBe(false);
  });

  it('no function policy has a wildcard action, nor a wildcard resource but the jobs bucket’s prefixes', () => {
    const bucketArn = {
      'Fn::GetAtt': [
        scheduled.stack.getLogicalId(scheduled.stack.batch.bucket.bucket.node.defaultChild as never),
        'Arn',
      ],
    };
    for (const { statement } of roleStatements(scheduled.template)) {
      expect(JSON.stringify(statement.Action)).not.toContain('*');
      if (!JSON.stringify(statement.Resource).includes('*')) continue;
      // The schedules API: ListSchedules takes no resource, and the schedules of its own group (acknowledged,
      // and checked statement by statement, in scheduled-starts.test.ts).
      if ([statement.Action].flat().every((a) => String(a).startsWith('scheduler:'))) continue;
      // Acknowledged per role, and checked statement by statement, in batch-pipeline.test.ts.
      expect([
        { 'Fn::Join': ['', [bucketArn, '/uploads/*']] },
        { 'Fn::Join': ['', [bucketArn, '/reports/*']] },
      ]).toContainEqual(statement.Resource);
    }
  });

  it('the created secret holds a placeholder the functions refuse, not credentials', () => {
    base.template.hasResourceProperties('AWS::SecretsManager::Secret', {
      GenerateSecretString: {
        SecretStringTemplate: JSON.stringify({ placeholder: 'replace this value, see the README' }),
        GenerateStringKey: 'random',
      },
    });
    base.template.hasOutput('DanaSecretId', {
      Value: { Ref: base.stack.getLogicalId(base.stack.secret.created!.node.defaultChild as never) },
    });
  });

  it('imported by name: the grant is the name plus Secrets Manager’s 6-character suffix, the id is the name', () => {
    const s = synthGateway({ scheduledStarts: [], secret: { source: 'name', name: 'prod/danaconnect' } });
    s.template.resourceCountIs('AWS::SecretsManager::Secret', 1); // the jobs list's cursor key only
    const secretStatements = secretStatementsOf(s);
    expect(secretStatements).toHaveLength(DANA_CALLERS);
    for (const { statement } of secretStatements) {
      expect(statement.Action).toBe('secretsmanager:GetSecretValue');
      expect(JSON.stringify(statement.Resource)).toMatch(
        /:secretsmanager:.*:secret:prod\/danaconnect-\?\?\?\?\?\?"/,
      );
    }
    const ids = Object.values(resourcesOf(s.template, 'AWS::Lambda::Function'))
      .map(
        (fn) => ((props(fn).Environment as Json | undefined)?.Variables as Json | undefined)?.DANA_SECRET_ID,
      )
      .filter((id) => id !== undefined);
    expect(ids).toEqual(Array(DANA_CALLERS).fill('prod/danaconnect'));
  });

  it('imported by ARN with a customer key: GetSecretValue on that ARN, Decrypt on that key via Secrets Manager', () => {
    const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/dana-AbC123';
    const key = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    const s = synthGateway({ scheduledStarts: [], secret: { source: 'arn', arn, kmsKeyArn: key } });
    const statements = roleStatements(s.template).map(({ statement }) => statement);
    const danaSecret = (x: Json) => JSON.stringify(x.Action).includes('secretsmanager:') && !isCursorKey(x);
    expect(
      statements.filter((st) => danaSecret(st) && st.Action === 'secretsmanager:GetSecretValue'),
    ).toHaveLength(DANA_CALLERS);
    for (const st of statements.filter(danaSecret)) {
      expect(st.Resource).toBe(arn);
    }
    const decrypts = statements.filter((st) => st.Action === 'kms:Decrypt');
    expect(decrypts).toHaveLength(DANA_CALLERS);
    for (const st of decrypts) {
      expect(st.Resource).toBe(key);
      expect(JSON.stringify(st.Condition)).toContain('kms:ViaService');
    }
  });
});

describe('the REST API', () => {
  /** The method resource for a route: found by its operation name. */
  function methodOf(s: Synthesized, name: string): Json {
    const methods = Object.values(resourcesOf(s.template, 'AWS::ApiGateway::Method')).filter(
      (m) => props(m).OperationName === name,
    );
    expect(methods, name).toHaveLength(1);
    return props(methods[0]!);
  }

  it('one method per route, each integrated with its own function through a Lambda proxy', () => {
    expect(callerMethods(base.template)).toHaveLength(ROUTES.length);
    for (const route of ROUTES) {
      const method = methodOf(base, route.name);
      expect(method.HttpMethod).toBe(route.method);
      const integration = method.Integration as Json;
      expect(integration.Type).toBe('AWS_PROXY');
      expect(JSON.stringify(integration.Uri)).toContain(functionLogicalId(base, route.name));
    }
  });

  it('the resource tree holds exactly the routes’ paths', () => {
    const resources = resourcesOf(base.template, 'AWS::ApiGateway::Resource');
    const pathOf = (id: string): string => {
      const r = props(resources[id]!);
      const parent = r.ParentId as { Ref?: string };
      return `${parent.Ref && resources[parent.Ref] ? pathOf(parent.Ref) : ''}/${r.PathPart as string}`;
    };
    const methods = callerMethods(base.template);
    const paths = methods.map(
      (m) => `${props(m).HttpMethod as string} ${pathOf((props(m).ResourceId as { Ref: string }).Ref)}`,
    );
    expect(paths.sort()).toEqual(ROUTES.map((r) => `${r.method} ${r.path}`).sort());
  });

  it('every method requires IAM (SigV4) authorization by default', () => {
    for (const method of callerMethods(base.template)) {
      expect(props(method).AuthorizationType).toBe('AWS_IAM');
      expect(props(method).ApiKeyRequired).toBeUndefined();
    }
  });

  it('API-key mode: every method requires a key of the stack’s usage plan, throttled like the stage', () => {
    const s = synthGateway({
      scheduledStarts: [],
      auth: 'api-key',
      throttling: { rateLimit: 5, burstLimit: 10 },
    });
    for (const method of callerMethods(s.template)) {
      expect(props(method)).toMatchObject({ AuthorizationType: 'NONE', ApiKeyRequired: true });
    }
    s.template.hasResourceProperties('AWS::ApiGateway::UsagePlan', {
      Throttle: { RateLimit: 5, BurstLimit: 10 },
      ApiStages: [Match.objectLike({ Stage: Match.anyValue() })],
    });
    s.template.resourceCountIs('AWS::ApiGateway::ApiKey', 1);
    s.template.resourceCountIs('AWS::ApiGateway::UsagePlanKey', 1);
    s.template.hasOutput('ApiKeyId', {});
  });

  it('path parameters are required, the fields query parameter is optional', () => {
    for (const route of ROUTES) {
      const expected: Record<string, boolean> = {};
      for (const [, name] of route.path.matchAll(/\{([^}]+)\}/g))
        expected[`method.request.path.${name}`] = true;
      for (const q of route.query) expected[`method.request.querystring.${q}`] = false;
      expect(methodOf(base, route.name).RequestParameters, route.name).toEqual(expected);
    }
    expect(methodOf(base, 'get-contact-data').RequestParameters).toEqual({
      'method.request.path.danaparam': true,
      'method.request.querystring.fields': false,
    });
  });

  it('bodies are validated against the record and batch models; other routes validate parameters', () => {
    const validators = resourcesOf(base.template, 'AWS::ApiGateway::RequestValidator');
    const models = resourcesOf(base.template, 'AWS::ApiGateway::Model');
    for (const route of ROUTES) {
      const method = methodOf(base, route.name);
      const validator = props(validators[(method.RequestValidatorId as { Ref: string }).Ref]!);
      expect(validator.ValidateRequestParameters, route.name).toBe(true);
      const bodyModel = { record: 'Record', batch: 'Batch' }[route.body as string];
      expect(validator.ValidateRequestBody, route.name).toBe(bodyModel !== undefined);
      if (bodyModel) {
        const modelRef = (method.RequestModels as Record<string, { Ref: string }>)['$default']!.Ref;
        expect(props(models[modelRef]!).Name, route.name).toBe(bodyModel);
      } else {
        expect(method.RequestModels, route.name).toBeUndefined();
      }
    }
  });

  it('the record model: field codes by the validator’s pattern, string-ish values, nothing else', () => {
    expect(FIELD_CODE_PATTERN.source).toBe('^[A-Za-z0-9_-]{1,64}$');
    base.template.hasResourceProperties('AWS::ApiGateway::Model', {
      Name: 'Record',
      ContentType: '$default',
      Schema: {
        $schema: 'http://json-schema.org/draft-04/schema#',
        type: 'object',
        minProperties: 1,
        maxProperties: 200,
        patternProperties: {
          '^[A-Za-z0-9_-]{1,64}$': { type: ['string', 'number', 'boolean', 'null'], maxLength: 4000 },
        },
        additionalProperties: false,
      },
    });
  });

  it('the batch model: an array of 1 to 10 such records', () => {
    base.template.hasResourceProperties('AWS::ApiGateway::Model', {
      Name: 'Batch',
      Schema: {
        type: 'array',
        minItems: 1,
        maxItems: 10,
        items: Match.objectLike({
          type: 'object',
          additionalProperties: false,
          patternProperties: { '^[A-Za-z0-9_-]{1,64}$': Match.anyValue() },
        }),
      },
    });
  });

  it('the stage: configured throttling, error-level execution logs without bodies, JSON access logs', () => {
    const s = synthGateway({
      scheduledStarts: [],
      stage: 'staging',
      throttling: { rateLimit: 7, burstLimit: 9 },
    });
    const stages = Object.values(resourcesOf(s.template, 'AWS::ApiGateway::Stage'));
    expect(stages).toHaveLength(1);
    const stage = props(stages[0]!);
    expect(stage.StageName).toBe('staging');
    expect(stage.MethodSettings).toEqual([
      {
        HttpMethod: '*',
        ResourcePath: '/*',
        ThrottlingRateLimit: 7,
        ThrottlingBurstLimit: 9,
        LoggingLevel: 'ERROR',
        DataTraceEnabled: false,
        MetricsEnabled: true,
      },
    ]);
    const access = stage.AccessLogSetting as { Format: string; DestinationArn: unknown };
    const format = JSON.parse(access.Format) as Record<string, string>;
    expect(format).toMatchObject({
      requestId: '$context.requestId',
      status: '$context.status',
      resourcePath: '$context.resourcePath',
    });
    // Paths are logged as templates: `$context.path` would log link codes and ids.
    expect(Object.values(format)).not.toContain('$context.path');
    const accessGroup = s.stack.getLogicalId(s.stack.api.accessLogs.node.defaultChild as never);
    expect(JSON.stringify(access.DestinationArn)).toContain(accessGroup);
  });

  it('access logs go to a group the account’s API Gateway logging role may write to', () => {
    // API Gateway delivers access logs through the account's logging role, not a role of the stage: a group
    // outside that role's resources would silently receive nothing.
    const group = props(
      resourcesOf(base.template, 'AWS::Logs::LogGroup')[logicalIdOf(base, base.stack.api.accessLogs)]!,
    );
    const apiId = { Ref: logicalIdOf(base, base.stack.api.api) };
    expect(group.LogGroupName).toEqual({
      'Fn::Join': ['', ['/aws/apigateway/access-logs/', apiId, '/prod']],
    });
    // The role's policy is inline (the role is the account's, outside any function's grants).
    const role = resourcesOf(base.template, 'AWS::IAM::Role')[
      logicalIdOf(base, base.stack.node.findChild('ApiGatewayLoggingRole'))
    ]!;
    const statements = (props(role).Policies as { PolicyDocument: { Statement: Json[] } }[]).flatMap(
      (p) => p.PolicyDocument.Statement,
    );
    const writes = statements.filter((st) => actionsOf(st).includes('logs:PutLogEvents'));
    expect(writes).toHaveLength(1);
    const resources = JSON.stringify(writes[0]!.Resource);
    expect(resources).toContain(':log-group:/aws/apigateway/*');
  });

  it('API Gateway’s own refusals use the gateway’s error envelope', () => {
    base.template.hasResourceProperties('AWS::ApiGateway::GatewayResponse', {
      ResponseType: 'BAD_REQUEST_BODY',
      ResponseTemplates: {
        'application/json': '{"wsError":{"idError":9400,"errorDescription":$context.error.messageString}}',
      },
    });
    base.template.hasResourceProperties('AWS::ApiGateway::GatewayResponse', {
      ResponseType: 'MISSING_AUTHENTICATION_TOKEN',
      ResponseTemplates: { 'application/json': Match.stringLikeRegexp('"idError":9403') },
    });
  });

  it('the URL is a stack output; the account’s logging role is set unless configured as existing', () => {
    base.template.hasOutput('ApiUrl', {});
    base.template.resourceCountIs('AWS::ApiGateway::Account', 1);
    const s = synthGateway({ scheduledStarts: [], apiGatewayAccountRole: 'existing' });
    s.template.resourceCountIs('AWS::ApiGateway::Account', 0);
  });
});

describe('scheduled list starts', () => {
  it('one rule per configured start, with its cron and state', () => {
    const rules = Object.values(resourcesOf(scheduled.template, 'AWS::Events::Rule'));
    expect(rules.map((r) => [props(r).ScheduleExpression, props(r).State, props(r).Description])).toEqual([
      ['cron(0 12 ? * MON-FRI *)', 'ENABLED', 'Weekday reminders'],
      ['cron(0 9 L * ? *)', 'DISABLED', 'Month-end statements (paused)'],
    ]);
    base.template.resourceCountIs('AWS::Events::Rule', 0);
  });

  it('each rule targets start-list with its scheduled start, a retry policy and the dead-letter queue', () => {
    const startList = functionLogicalId(scheduled, 'start-list');
    const dlq = scheduled.stack.getLogicalId(
      scheduled.stack.schedules!.deadLetters.queue.node.defaultChild as never,
    );
    const rules = Object.values(resourcesOf(scheduled.template, 'AWS::Events::Rule'));
    rules.forEach((rule, index) => {
      const targets = props(rule).Targets as Json[];
      expect(targets).toHaveLength(1);
      const target = targets[0]!;
      expect(target.Arn).toEqual({ 'Fn::GetAtt': [startList, 'Arn'] });
      expect(JSON.parse(target.Input as string)).toEqual({
        scheduledStart: { name: SCHEDULES[index]!.name, conversationId: SCHEDULES[index]!.conversationId },
      });
      expect(target.RetryPolicy).toEqual({
        MaximumRetryAttempts: SCHEDULE_DELIVERY_RETRIES,
        MaximumEventAgeInSeconds: SCHEDULE_MAX_EVENT_AGE.toSeconds(),
      });
      expect(target.DeadLetterConfig).toEqual({ Arn: { 'Fn::GetAtt': [dlq, 'Arn'] } });
    });
    // EventBridge may invoke start-list for these rules only.
    const permissions = Object.values(resourcesOf(scheduled.template, 'AWS::Lambda::Permission')).filter(
      (p) => props(p).Principal === 'events.amazonaws.com',
    );
    expect(permissions).toHaveLength(SCHEDULES.length);
  });

  it('start-list is never retried by Lambda after a failure: failures go to the same dead-letter queue', () => {
    const dlq = scheduled.stack.getLogicalId(
      scheduled.stack.schedules!.deadLetters.queue.node.defaultChild as never,
    );
    scheduled.template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: functionLogicalId(scheduled, 'start-list') },
      MaximumRetryAttempts: 0,
      MaximumEventAgeInSeconds: SCHEDULE_MAX_EVENT_AGE.toSeconds(),
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [dlq, 'Arn'] } } },
    });
  });

  it('the dead-letter queue is encrypted and refuses requests without TLS', () => {
    const dlq = scheduled.stack.getLogicalId(
      scheduled.stack.schedules!.deadLetters.queue.node.defaultChild as never,
    );
    // The schedules' own queue, beside the batch pipeline's three.
    scheduled.template.resourceCountIs('AWS::SQS::Queue', 4);
    // Always there: runtime schedules (POST /schedules) dead-letter to it too.
    base.template.resourceCountIs('AWS::SQS::Queue', 4);
    expect(props(resourcesOf(scheduled.template, 'AWS::SQS::Queue')[dlq]!)).toMatchObject({
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 14 * 24 * 3600,
    });
    scheduled.template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: dlq }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'events.amazonaws.com' },
            Action: 'sqs:SendMessage',
          }),
        ]),
      },
    });
  });
});

describe('alarms', () => {
  const topicOf = (s: Synthesized) => ({
    Ref: s.stack.getLogicalId(s.stack.alarmTopic.node.defaultChild as never),
  });

  it('one errors alarm per function, one on API 5xx, one per dead-letter queue, one on the backlog, all to the topic', () => {
    const alarms = Object.values(resourcesOf(scheduled.template, 'AWS::CloudWatch::Alarm')).map(props);
    // Errors of each function, API 5xx, three dead-letter queues (schedules, chunks, ingests), chunk backlog.
    expect(alarms).toHaveLength(OUR_FUNCTIONS + 5);
    for (const alarm of alarms) {
      expect(alarm.AlarmActions).toEqual([topicOf(scheduled)]);
      expect(String(alarm.AlarmDescription).length).toBeGreaterThan(80);
    }
    const errors = alarms.filter((a) => a.MetricName === 'Errors' && a.Namespace === 'AWS/Lambda');
    // Routes that share a function (schedules, aliases) share its one alarm.
    const dimensions = Object.keys(scheduled.stack.functions).map((name) =>
      JSON.stringify([{ Name: 'FunctionName', Value: { Ref: functionLogicalId(scheduled, name) } }]),
    );
    expect(errors.map((a) => JSON.stringify(a.Dimensions)).sort()).toEqual([...new Set(dimensions)].sort());
    for (const a of errors) expect(a).toMatchObject({ Statistic: 'Sum', Threshold: 1 });

    const serverErrors = alarms.filter((a) => a.MetricName === '5XXError');
    expect(serverErrors).toHaveLength(1);
    expect(serverErrors[0]).toMatchObject({ Namespace: 'AWS/ApiGateway', Statistic: 'Sum', Threshold: 5 });
    const stage = scheduled.stack.getLogicalId(
      scheduled.stack.api.api.deploymentStage.node.defaultChild as never,
    );
    expect(serverErrors[0]!.Dimensions).toEqual([
      { Name: 'ApiName', Value: 'dana-gateway-prod' },
      { Name: 'Stage', Value: { Ref: stage } },
    ]);

    const scheduleDlq = scheduled.stack.getLogicalId(
      scheduled.stack.schedules!.deadLetters.queue.node.defaultChild as never,
    );
    const dlq = alarms.filter(
      (a) =>
        a.MetricName === 'ApproximateNumberOfMessagesVisible' &&
        JSON.stringify(a.Dimensions).includes(`"${scheduleDlq}"`),
    );
    expect(dlq).toHaveLength(1);
    expect(dlq[0]).toMatchObject({
      Namespace: 'AWS/SQS',
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 0,
    });
    expect(dlq[0]!.AlarmDescription).toContain('start it with POST');
  });

  it('the alarm topic accepts only TLS, lets this account’s alarms publish, and mails the configured addresses', () => {
    scheduled.template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          Match.objectLike({ Effect: 'Allow', Principal: { Service: 'cloudwatch.amazonaws.com' } }),
        ]),
      },
    });
    scheduled.template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
      TopicArn: topicOf(scheduled),
    });
    base.template.resourceCountIs('AWS::SNS::Subscription', 0);
  });
});

describe('cdk-nag (AwsSolutions) on every synth', () => {
  /** Every acknowledged finding in the app, as `path: id`. */
  function acknowledgements(s: Synthesized): string[] {
    const out: string[] = [];
    for (const construct of s.app.node.findAll()) {
      for (const entry of construct.node.metadata) {
        if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
        for (const [id, reason] of Object.entries(entry.data as Record<string, string>)) {
          expect(reason.length, id).toBeGreaterThan(60);
          out.push(
            `${construct.node.path.replace(/^DanaGateway-\w+\//, '')}: ${id.replace(/^Annotation::/, '')}`,
          );
        }
      }
    }
    return out.sort();
  }

  it('the cdk.json app synthesizes with no unacknowledged finding', () => {
    const s = synthGateway();
    expect(reportedViolations(s.assembly)).toEqual([]);
  });

  it('API-key mode, a schedule and an imported secret synthesize clean too', () => {
    const s = synthGateway({
      auth: 'api-key',
      scheduledStarts: SCHEDULES,
      secret: { source: 'name', name: 'prod/danaconnect' },
      apiGatewayAccountRole: 'existing',
    });
    expect(reportedViolations(s.assembly)).toEqual([]);
  });

  it('acknowledges exactly these findings, each with a reason', () => {
    const logs = 'arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:';
    const bucket = scheduled.stack.getLogicalId(
      scheduled.stack.batch.bucket.bucket.node.defaultChild as never,
    );
    expect(acknowledgements(scheduled)).toEqual(
      [
        'ApiGatewayLoggingRole: AwsSolutions-IAM5[Resource::' + logs + '*]',
        'ApiGatewayLoggingRole: AwsSolutions-IAM5[Resource::' + logs + '/aws/apigateway/*]',
        'ApiGatewayLoggingRole: AwsSolutions-IAM5[Resource::' + logs + 'API-Gateway-Execution-Logs_*]',
        'DanaCredentials/Secret: AwsSolutions-SMG4',
        'Http: AwsSolutions-COG4',
        'Http/Api/DeploymentStage.prod: AwsSolutions-APIG3',
        'Schedules/DeadLetters/Queue: AwsSolutions-SQS3',
        'SchedulesApi/Role: AwsSolutions-IAM5[Resource::*]',
        `SchedulesApi/Role: AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:scheduler:<AWS::Region>:<AWS::AccountId>:schedule/${scheduled.stack.schedules.group.scheduleGroupName}/*]`,
        'Batch/IngestFailures/Queue: AwsSolutions-SQS3',
        'Batch/Jobs/AccessLogs: AwsSolutions-S1',
        ...['Batch/IngestUpload/Role', 'Batch/ProcessChunk/Role'].map(
          (role) => `${role}: AwsSolutions-IAM5[Resource::<${bucket}.Arn>/reports/*]`,
        ),
        `Batch/IngestUpload/Role: AwsSolutions-IAM5[Resource::<${bucket}.Arn>/uploads/*]`,
        // The jobs API (infra/constructs/jobs-api.ts): it signs upload forms and report links.
        `CreateUpload/Role: AwsSolutions-IAM5[Resource::<${bucket}.Arn>/uploads/*]`,
        `GetJobReport/Role: AwsSolutions-IAM5[Resource::<${bucket}.Arn>/reports/*]`,
        'JobsApi/CursorKey: AwsSolutions-SMG4',
      ].sort(),
    );
    const apiKey = synthGateway({ scheduledStarts: [], auth: 'api-key' });
    expect(acknowledgements(apiKey)).toContain('Http: AwsSolutions-APIG4');
    expect(acknowledgements(base)).not.toContain('Http: AwsSolutions-APIG4');
  });

  it('a finding that is not acknowledged fails the synth, naming the rule and the resource', () => {
    expect(() =>
      synthGateway({ scheduledStarts: [] }, ({ stack }) => {
        new sqs.Queue(stack, 'CarelessQueue', { encryption: sqs.QueueEncryption.SQS_MANAGED });
      }),
    ).toThrow(/DanaGateway-prod\/CarelessQueue\/Resource[\s\S]*AwsSolutions-SQS4/);
  });
});
