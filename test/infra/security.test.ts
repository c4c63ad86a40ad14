/**
 * docs/SECURITY.md in the synthesized template (bundling skipped; cdk-nag runs on every synth): the upload door
 * (uploaders, limits), who may send chunks, every role's DynamoDB rights, callers' keys and throttles, and the
 * customer-managed key.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { KEY_ADMIN_ACTIONS } from '../../infra/constructs/data-encryption';
import { TABLE_ACCESS, type TableAccessKind } from '../../infra/constructs/table-access';
import { ROUTES } from '../../lambdas/http/routes';
import {
  actionsOf,
  logicalIdOf,
  props,
  resourcesOf,
  roleStatements,
  statementsOf,
  synthGateway,
  type Json,
  type Synthesized,
} from './synth';

const UPLOADER = 'arn:aws:iam::123456789012:role/crm-exporter';
const UPLOADERS = [UPLOADER, 'arn:aws:iam::123456789012:role/etl-*'];
const KEY_ARN = 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';

/** Each configuration is synthesized once, when a test first needs it (a synth takes seconds). */
const synthesized = new Map<string, Synthesized>();
const synthOnce = (overrides: Record<string, unknown>): Synthesized => {
  const key = JSON.stringify(overrides);
  if (!synthesized.has(key)) synthesized.set(key, synthGateway(overrides));
  return synthesized.get(key)!;
};
const LIMITS = { maxUploadBytes: 1_000_000, maxRowsPerUpload: 1000 };
const base = () => synthOnce({});
const keyed = () => synthOnce({ encryption: 'customer-managed', uploaders: UPLOADERS, batch: LIMITS });
const imported = () => synthOnce({ encryption: 'customer-managed', encryptionKeyArn: KEY_ARN });
/** Synths take long on a busy machine: each test that may synth gets this. */
const SYNTH = { timeout: 180_000 };

const getAtt = (s: Synthesized, construct: Parameters<typeof logicalIdOf>[1]) => ({
  'Fn::GetAtt': [logicalIdOf(s, construct), 'Arn'],
});
const ref = (s: Synthesized, construct: Parameters<typeof logicalIdOf>[1]) => ({
  Ref: logicalIdOf(s, construct),
});
/** A role's logical id -> the role's ARN as a policy names it. */
const roleArn = (roleId: string) => ({ 'Fn::GetAtt': [roleId, 'Arn'] });

/** The kind of table access each of the stack's functions must have (others: none). */
function expectedTableAccess(): Record<string, TableAccessKind> {
  const kinds: Record<string, TableAccessKind> = {
    'ingest-upload': 'ingest',
    'process-chunk': 'worker',
  };
  for (const route of ROUTES) {
    if (route.respondAsync) kinds[route.name] = 'async-http';
    if (route.name === 'get-job') kinds[route.name] = 'job-reader';
  }
  return kinds;
}

describe('least privilege in DynamoDB', SYNTH, () => {
  /** A statement as (sorted actions, leading keys), to compare with TABLE_ACCESS whatever CDK's rendering. */
  const normalized = (st: Json) => ({
    actions: actionsOf(st).sort(),
    leadingKeys: (
      st.Condition as { 'ForAllValues:StringLike'?: { 'dynamodb:LeadingKeys'?: string[] } } | undefined
    )?.['ForAllValues:StringLike']?.['dynamodb:LeadingKeys'],
  });
  const kindsAsGranted = Object.fromEntries(
    Object.entries(TABLE_ACCESS).map(([kind, access]) => [
      kind,
      { actions: [...access.actions].sort(), leadingKeys: [...access.leadingKeys] },
    ]),
  );

  it('pins every role: each of its grants on the jobs table is one kind of table-access.ts, with LeadingKeys', () => {
    const s = base();
    const tableArn = JSON.stringify(getAtt(s, s.stack.batch.table.table));
    const expected = expectedTableAccess();
    const byKind = Object.values(kindsAsGranted).map((k) => JSON.stringify(k));
    for (const [name, fn] of Object.entries(s.stack.functions)) {
      const onTable = statementsOf(s, fn)
        .filter((st) => actionsOf(st).some((a) => a.startsWith('dynamodb:')))
        .filter((st) => JSON.stringify(st.Resource) === tableArn);
      for (const st of onTable) {
        expect(st.Effect, name).toBe('Allow');
        expect(byKind, `${name}: ${JSON.stringify(st)}`).toContain(JSON.stringify(normalized(st)));
      }
      const kind = expected[name];
      if (kind !== undefined) {
        expect(
          onTable.map((st) => normalized(st)),
          name,
        ).toContainEqual(kindsAsGranted[kind]);
      }
    }
  });

  it('no role can write the rate limiter but the worker, nor the idempotency records but the async routes', () => {
    const s = base();
    const tableArn = JSON.stringify(getAtt(s, s.stack.batch.table.table));
    const workerRole = logicalIdOf(s, s.stack.batch.worker.role);
    const asyncRoles = ROUTES.filter((r) => r.respondAsync).map((r) =>
      logicalIdOf(s, s.stack.functions[r.name].role),
    );
    for (const { role, statement } of roleStatements(s.template)) {
      if (JSON.stringify(statement.Resource) !== tableArn) continue;
      const keys = normalized(statement).leadingKeys;
      expect(keys, `${role}: every table grant has LeadingKeys`).toBeDefined();
      if (role !== workerRole) expect(keys, role).not.toContain('ratelimit#dana');
      if (!asyncRoles.includes(role)) expect(keys, role).not.toContain('idem#*');
    }
  });

  it('the pinned actions: the async HTTP roles lost BatchWriteItem, Query and ConditionCheckItem', () => {
    expect(TABLE_ACCESS).toMatchObject({
      'job-reader': { actions: ['dynamodb:GetItem', 'dynamodb:Query'], leadingKeys: ['job#*'] },
      'async-http': {
        actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
        leadingKeys: ['job#*', 'idem#*'],
      },
      ingest: {
        actions: [
          'dynamodb:GetItem',
          'dynamodb:PutItem',
          'dynamodb:UpdateItem',
          'dynamodb:BatchWriteItem',
          'dynamodb:Query',
        ],
        leadingKeys: ['job#*'],
      },
      worker: {
        actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:Query'],
        leadingKeys: ['job#*', 'ratelimit#dana'],
      },
    });
  });

  it('only the worker may touch the rate limiter; only the async routes the idempotency records', () => {
    const holders = (key: string) =>
      (Object.entries(TABLE_ACCESS) as [TableAccessKind, (typeof TABLE_ACCESS)[TableAccessKind]][])
        .filter(([, access]) => (access.leadingKeys as readonly string[]).includes(key))
        .map(([kind]) => kind);
    expect(holders('ratelimit#dana')).toEqual(['worker']);
    expect(holders('idem#*')).toEqual(['async-http']);
    // The prefixes are the adapters' own.
    const source = (file: string) => readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8');
    expect(source('lambdas/adapters/dynamo-rate-limiter.ts')).toContain("RATE_LIMIT_PK = 'ratelimit#dana'");
    expect(source('lambdas/adapters/dynamo-job-store.ts')).toContain(
      'jobPk = (jobId: string) => `job#${jobId}`',
    );
  });

  it("each kind covers the commands of the adapters it uses, and no more than its code's", () => {
    const commandsIn = (file: string) =>
      new Set(
        [
          ...readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8').matchAll(/new (\w+)Command\(/g),
        ].map((m) => `dynamodb:${m[1]!.replace('TransactWriteItems', 'UpdateItem')}`),
      );
    const has = (kind: TableAccessKind, actions: Iterable<string>) => {
      for (const action of actions)
        expect(TABLE_ACCESS[kind].actions, `${kind}: ${action}`).toContain(action);
    };
    has('async-http', commandsIn('lambdas/adapters/dynamo-idempotency-store.ts'));
    has('worker', commandsIn('lambdas/adapters/dynamo-rate-limiter.ts'));
    // The job store's writes by who calls them: BatchWriteItem is recordRejected (the ingest only), the
    // transaction is completeChunk (the worker only, Update items).
    expect([...commandsIn('lambdas/adapters/dynamo-job-store.ts')]).toEqual(
      expect.arrayContaining([
        'dynamodb:GetItem',
        'dynamodb:PutItem',
        'dynamodb:UpdateItem',
        'dynamodb:Query',
      ]),
    );
    for (const kind of Object.keys(TABLE_ACCESS) as TableAccessKind[]) {
      expect(TABLE_ACCESS[kind].actions).not.toContain('dynamodb:ConditionCheckItem');
      expect(TABLE_ACCESS[kind].actions).not.toContain('dynamodb:Scan');
    }
  });
});

describe('the upload door', SYNTH, () => {
  it('the ingest gets the upload limits of the configuration', () => {
    const s = keyed();
    const fn = resourcesOf(s.template, 'AWS::Lambda::Function')[
      logicalIdOf(s, s.stack.batch.ingest.function)
    ]!;
    const env = (props(fn).Environment as { Variables: Json }).Variables;
    expect(env).toMatchObject({ UPLOAD_MAX_BYTES: '1000000', UPLOAD_MAX_ROWS: '1000' });
  });

  const uploadDenies = (s: Synthesized) =>
    Object.values(resourcesOf(s.template, 'AWS::S3::BucketPolicy'))
      .filter((p) => JSON.stringify(props(p).Bucket) === JSON.stringify(ref(s, s.stack.batch.bucket.bucket)))
      .flatMap((p) => (props(p).PolicyDocument as { Statement: Json[] }).Statement)
      .filter((st) => st.Effect === 'Deny' && actionsOf(st).includes('s3:PutObject'));

  it('without uploaders, no deny: IAM alone decides who uploads (as before)', () => {
    expect(uploadDenies(base())).toEqual([]);
  });

  it('with uploaders, the bucket policy denies PutObject under uploads/ to every other principal', () => {
    const s = keyed();
    expect(uploadDenies(s)).toEqual([
      {
        Sid: 'OnlyUploadersPutUploads',
        Effect: 'Deny',
        Principal: { AWS: '*' },
        Action: 's3:PutObject',
        Resource: { 'Fn::Join': ['', [getAtt(s, s.stack.batch.bucket.bucket), '/uploads/*']] },
        Condition: { ArnNotLike: { 'aws:PrincipalArn': expect.arrayContaining(UPLOADERS) as unknown } },
      },
    ]);
    // Besides the uploaders, only the gateway's own roles that were given grantUpload.
    const allowed = (uploadDenies(s)[0]!.Condition as { ArnNotLike: { 'aws:PrincipalArn': unknown[] } })
      .ArnNotLike['aws:PrincipalArn'];
    for (const other of allowed.filter((a) => !UPLOADERS.includes(a as string))) {
      expect(other).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/Role/) as unknown, 'Arn'] });
    }
  });
});

describe('the chunk queue takes chunks from the gateway only', SYNTH, () => {
  it("its policy denies SendMessage to every principal but the roles granted to send (redrive's included)", () => {
    const s = base();
    const queueArn = getAtt(s, s.stack.batch.chunks.queue);
    const policies = Object.values(resourcesOf(s.template, 'AWS::SQS::QueuePolicy')).filter((p) =>
      JSON.stringify(props(p).Queues).includes(logicalIdOf(s, s.stack.batch.chunks.queue)),
    );
    const denies = policies
      .flatMap((p) => (props(p).PolicyDocument as { Statement: Json[] }).Statement)
      .filter((st) => st.Sid === 'OnlyTheGatewaySendsChunks');
    expect(denies).toHaveLength(1);
    const deny = denies[0]!;
    expect(deny).toMatchObject({
      Effect: 'Deny',
      Principal: { AWS: '*' },
      Action: 'sqs:SendMessage',
      Resource: queueArn,
    });
    const allowed = (deny.Condition as { ArnNotEquals: { 'aws:PrincipalArn': Json[] } }).ArnNotEquals[
      'aws:PrincipalArn'
    ];

    // Exactly the roles whose IAM policy allows sending to the chunk queue.
    const senders = roleStatements(s.template)
      .filter(({ statement }) => actionsOf(statement).includes('sqs:SendMessage'))
      .filter(({ statement }) => JSON.stringify(statement.Resource) === JSON.stringify(queueArn))
      .map(({ role }) => roleArn(role));
    expect(allowed.map((a) => JSON.stringify(a)).sort()).toEqual(
      [...new Set(senders.map((x) => JSON.stringify(x)))].sort(),
    );
    const expectedSenders = [
      s.stack.batch.ingest.role,
      s.stack.batch.worker.role,
      s.stack.batch.redriveRole,
      ...ROUTES.filter((r) => r.respondAsync).map((r) => s.stack.functions[r.name].role),
    ].map((role) => JSON.stringify(getAtt(s, role)));
    expect(allowed.map((a) => JSON.stringify(a)).sort()).toEqual(expectedSenders.sort());
  });

  it('the redrive role: receive and delete from the dead-letter queue, send to the chunk queue, nothing else', () => {
    const s = base();
    const statements = statementsOf(s, { role: s.stack.batch.redriveRole });
    expect(statements.flatMap(actionsOf).sort()).toEqual(
      ['sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:ReceiveMessage', 'sqs:SendMessage'].sort(),
    );
  });
});

describe('callers told apart: keys of their own', SYNTH, () => {
  const CALLERS = [
    { name: 'crm', rateLimit: 10, burstLimit: 20 },
    { name: 'billing', rateLimit: 2, burstLimit: 4 },
  ];

  it('api-key mode with apiKeys: one key and one usage plan each, with its own throttle', () => {
    const s = synthOnce({ auth: 'api-key', apiKeys: CALLERS });
    const keys = resourcesOf(s.template, 'AWS::ApiGateway::ApiKey');
    const plans = resourcesOf(s.template, 'AWS::ApiGateway::UsagePlan');
    const links = Object.values(resourcesOf(s.template, 'AWS::ApiGateway::UsagePlanKey'));
    expect(Object.keys(keys)).toHaveLength(2);
    expect(Object.keys(plans)).toHaveLength(2);
    for (const caller of s.stack.api.callerKeys) {
      const config = CALLERS.find((c) => c.name === caller.name)!;
      const plan = props(plans[logicalIdOf(s, caller.plan)]!);
      expect(plan).toMatchObject({
        UsagePlanName: `dana-gateway-prod-${caller.name}`,
        Throttle: { RateLimit: config.rateLimit, BurstLimit: config.burstLimit },
      });
      expect(props(keys[logicalIdOf(s, caller.key)]!)).toMatchObject({
        Name: `dana-gateway-prod-${caller.name}`,
      });
      expect(links.map((l) => props(l))).toContainEqual({
        KeyId: ref(s, caller.key),
        KeyType: 'API_KEY',
        UsagePlanId: ref(s, caller.plan),
      });
    }
    expect(s.stack.api.apiKey).toBeUndefined();
    s.template.hasOutput('CallerApiKeyIds', {});
  });

  it('the access log names the key of every request (apiKeyId) and the IAM caller', () => {
    const stage = Object.values(resourcesOf(base().template, 'AWS::ApiGateway::Stage'))[0]!;
    const format = JSON.parse((props(stage).AccessLogSetting as { Format: string }).Format) as Json;
    expect(format).toMatchObject({
      apiKeyId: '$context.identity.apiKeyId',
      caller: '$context.identity.userArn',
    });
  });

  it('IAM mode with callerThrottles: SigV4 and a key on every method, a usage plan per caller', () => {
    const s = synthOnce({
      callerThrottles: CALLERS.map((c) => ({ ...c, principal: `arn:aws:iam::123456789012:role/${c.name}` })),
    });
    const methods = Object.values(resourcesOf(s.template, 'AWS::ApiGateway::Method')).filter(
      (m) => props(m).HttpMethod !== 'OPTIONS',
    );
    // Every method that SigV4 guards (the API's routes) now needs a key too.
    const iamMethods = methods.filter((m) => props(m).AuthorizationType === 'AWS_IAM');
    expect(iamMethods.length).toBeGreaterThanOrEqual(ROUTES.length);
    for (const method of iamMethods) {
      expect(props(method)).toMatchObject({ ApiKeyRequired: true });
    }
    const plans = Object.values(resourcesOf(s.template, 'AWS::ApiGateway::UsagePlan')).map(
      (p) => props(p).Throttle,
    );
    expect(plans).toEqual(
      expect.arrayContaining([
        { RateLimit: 10, BurstLimit: 20 },
        { RateLimit: 2, BurstLimit: 4 },
      ]),
    );
  });

  it('IAM mode without callerThrottles: no key anywhere (as before)', () => {
    expect(resourcesOf(base().template, 'AWS::ApiGateway::ApiKey')).toEqual({});
    for (const method of Object.values(resourcesOf(base().template, 'AWS::ApiGateway::Method'))) {
      expect(props(method).ApiKeyRequired).toBeUndefined();
    }
  });
});

describe('encryption', SYNTH, () => {
  const keysOf = (s: Synthesized) => resourcesOf(s.template, 'AWS::KMS::Key');
  const only = <T>(record: Record<string, T>): T => {
    const values = Object.values(record);
    expect(values).toHaveLength(1);
    return values[0]!;
  };
  const batchQueues = (s: Synthesized) => [
    s.stack.batch.chunks.queue,
    s.stack.batch.chunks.deadLetters.queue,
    s.stack.batch.ingestFailures.queue,
  ];

  it('aws-managed (the default): AWS keys for the data, and the alarm topic under a small key of its own', () => {
    const s = base();
    const key = only(keysOf(s));
    expect(props(key).EnableKeyRotation).toBe(true);
    const topic = resourcesOf(s.template, 'AWS::SNS::Topic')[logicalIdOf(s, s.stack.alarmTopic)]!;
    expect(props(topic).KmsMasterKeyId).toEqual(
      getAtt(s, s.stack.encryption.node.findChild('AlarmTopicKey') as never),
    );
    const statements = (props(key).KeyPolicy as { Statement: Json[] }).Statement;
    expect(statements).toContainEqual(
      expect.objectContaining({
        Principal: { Service: 'cloudwatch.amazonaws.com' },
        Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
      }),
    );
    const table = resourcesOf(s.template, 'AWS::DynamoDB::Table')[logicalIdOf(s, s.stack.batch.table.table)]!;
    expect(props(table).SSESpecification).toEqual({ SSEEnabled: true });
    for (const queue of batchQueues(s)) {
      const q = resourcesOf(s.template, 'AWS::SQS::Queue')[logicalIdOf(s, queue)]!;
      expect(props(q).SqsManagedSseEnabled).toBe(true);
    }
  });

  it('customer-managed: one key, rotation on, for the bucket, the batch queues, the table, the secret and the topic', () => {
    const s = keyed();
    const keyId = logicalIdOf(s, s.stack.encryption.created!);
    expect(Object.keys(keysOf(s))).toEqual([keyId]);
    const keyArn = { 'Fn::GetAtt': [keyId, 'Arn'] };
    expect(props(keysOf(s)[keyId]!)).toMatchObject({ EnableKeyRotation: true });
    const bucket = resourcesOf(s.template, 'AWS::S3::Bucket')[logicalIdOf(s, s.stack.batch.bucket.bucket)]!;
    expect(props(bucket).BucketEncryption).toEqual({
      ServerSideEncryptionConfiguration: [
        {
          BucketKeyEnabled: true,
          ServerSideEncryptionByDefault: { KMSMasterKeyID: keyArn, SSEAlgorithm: 'aws:kms' },
        },
      ],
    });
    for (const queue of batchQueues(s)) {
      const q = resourcesOf(s.template, 'AWS::SQS::Queue')[logicalIdOf(s, queue)]!;
      expect(props(q).KmsMasterKeyId, queue.node.path).toEqual(keyArn);
    }
    const resource = (type: string, construct: Parameters<typeof logicalIdOf>[1]) =>
      props(resourcesOf(s.template, type)[logicalIdOf(s, construct)]!);
    expect(resource('AWS::DynamoDB::Table', s.stack.batch.table.table).SSESpecification).toEqual({
      KMSMasterKeyId: keyArn,
      SSEEnabled: true,
      SSEType: 'KMS',
    });
    expect(resource('AWS::SecretsManager::Secret', s.stack.secret.created!).KmsKeyId).toEqual(keyArn);
    expect(resource('AWS::SNS::Topic', s.stack.alarmTopic).KmsMasterKeyId).toEqual(keyArn);
  });

  it('customer-managed: the key policy lets the account administer, and each role use it through its service only', () => {
    const s = keyed();
    const key = props(keysOf(s)[logicalIdOf(s, s.stack.encryption.created!)]!);
    const statements = (key.KeyPolicy as { Statement: Json[] }).Statement;
    const useActions = ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey*', 'kms:ReEncrypt*', 'kms:*'];
    for (const st of statements) {
      const actions = actionsOf(st);
      if (st.Sid === 'AccountAdministersTheKey') {
        expect(actions.sort()).toEqual([...KEY_ADMIN_ACTIONS].sort());
        for (const use of useActions) expect(actions).not.toContain(use);
        continue;
      }
      // Every other statement uses the key: through one service, as CloudWatch publishing alarms, or as
      // EventBridge dead-lettering into the schedule queue through SQS (test/infra/schedule-dlq-key.test.ts).
      const principal = st.Principal as Json;
      if (principal.Service === 'events.amazonaws.com') {
        expect(st.Sid).toBe('eventsSendsToQueues');
        expect(
          JSON.stringify((st.Condition as { StringEquals: Json }).StringEquals['kms:ViaService']),
        ).toMatch(/"sqs\.",/);
        continue;
      }
      if (principal.Service) {
        expect(principal.Service).toBe('cloudwatch.amazonaws.com');
        continue;
      }
      const via = JSON.stringify((st.Condition as { StringEquals: Json }).StringEquals['kms:ViaService']);
      expect(via, JSON.stringify(st)).toMatch(/"(dynamodb|sqs|s3|secretsmanager)\.",/);
    }

    /** The role logical ids allowed through one service. */
    const rolesVia = (service: string) =>
      statements
        .filter((st) => JSON.stringify(st.Condition ?? {}).includes(`"${service}.`))
        .flatMap((st) => [(st.Principal as { AWS?: unknown }).AWS ?? []].flat())
        .map((p) => (p as { 'Fn::GetAtt'?: [string] })['Fn::GetAtt']?.[0])
        .filter((id): id is string => id !== undefined)
        .filter((id, i, all) => all.indexOf(id) === i)
        .sort();
    const rolesWith = (test: (st: Json) => boolean) =>
      [
        ...new Set(
          roleStatements(s.template)
            .filter(({ statement }) => test(statement))
            .map(({ role }) => role),
        ),
      ].sort();
    const tableArn = JSON.stringify(getAtt(s, s.stack.batch.table.table));
    expect(rolesVia('dynamodb')).toEqual(
      rolesWith(
        (st) =>
          actionsOf(st).some((a) => a.startsWith('dynamodb:')) && JSON.stringify(st.Resource) === tableArn,
      ),
    );
    // The DANAConnect secret's readers (other secrets of the stack keep their AWS-managed key).
    const secretRef = JSON.stringify({ Ref: logicalIdOf(s, s.stack.secret.created!) });
    expect(rolesVia('secretsmanager')).toEqual(
      rolesWith(
        (st) =>
          actionsOf(st).includes('secretsmanager:GetSecretValue') &&
          JSON.stringify(st.Resource) === secretRef,
      ),
    );
    // The senders to the chunk queue (and the ingest, to its failure queue; the scheduler role and start-list,
    // to the schedule dead-letter queue) and the worker that consumes.
    const batchQueueArns = [
      s.stack.batch.chunks.queue,
      s.stack.batch.ingestFailures.queue,
      s.stack.schedules.deadLetters.queue,
    ].map((q) => JSON.stringify(getAtt(s, q)));
    expect(rolesVia('sqs')).toEqual(
      rolesWith(
        (st) =>
          actionsOf(st).includes('sqs:SendMessage') && batchQueueArns.includes(JSON.stringify(st.Resource)),
      ),
    );
    // People outside the stack use the bucket's data through S3 only: the named uploaders put, the account reads.
    expect(statements).toContainEqual(
      expect.objectContaining({
        Principal: { AWS: expect.anything() as unknown },
        Condition: {
          StringEquals: {
            'kms:ViaService': { 'Fn::Join': ['', ['s3.', { Ref: 'AWS::Region' }, '.amazonaws.com']] },
          },
          ArnLike: { 'aws:PrincipalArn': UPLOADERS },
        },
      }),
    );
  });

  it('customer-managed by ARN: no key created, every resource on that key, roles get it in their IAM policies', () => {
    const s = imported();
    expect(keysOf(s)).toEqual({});
    const resource = (type: string, construct: Parameters<typeof logicalIdOf>[1]) =>
      props(resourcesOf(s.template, type)[logicalIdOf(s, construct)]!);
    expect(resource('AWS::SNS::Topic', s.stack.alarmTopic).KmsMasterKeyId).toBe(KEY_ARN);
    expect(resource('AWS::DynamoDB::Table', s.stack.batch.table.table).SSESpecification).toMatchObject({
      KMSMasterKeyId: KEY_ARN,
    });
    // (CDK's own grant for the event source adds a kms:Decrypt without condition; ours name the service.)
    const worker = statementsOf(s, s.stack.batch.worker).filter(
      (st) => st.Resource === KEY_ARN && st.Condition,
    );
    const via = worker.map((st) => JSON.stringify((st.Condition as { StringEquals: Json }).StringEquals));
    for (const service of ['dynamodb', 'sqs', 's3', 'secretsmanager']) {
      expect(
        via.some((v) => v.includes(`"${service}.`)),
        service,
      ).toBe(true);
    }
  });
});
