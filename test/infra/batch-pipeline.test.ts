/**
 * The batch pipeline in the synthesized template (bundling skipped): the jobs bucket and its notification, the
 * chunk queue and its worker, the jobs table, alarms, and each function's grants, statement by statement.
 */
import { readFileSync } from 'node:fs';
import { Validations } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  INGEST_RETRY_ATTEMPTS,
  PROCESS_CHUNK_BATCH_SIZE,
  PROCESS_CHUNK_TIMEOUT,
} from '../../infra/constructs/batch-pipeline';
import { TABLE_ACCESS, type TableAccessKind } from '../../infra/constructs/table-access';
import { takesConversationRef } from '../../lambdas/http/conversation-ref';
import { ROUTES } from '../../lambdas/http/routes';
import {
  actionsOf,
  logicalIdOf,
  props,
  resourcesOf,
  statementsOf,
  synthGateway,
  type Json,
  type Synthesized,
} from './synth';

const CUSTOM_BATCH = {
  rateLimitPerSecond: 2.5,
  workerMaxConcurrency: 3,
  maxReceiveCount: 7,
  backlogAlarmMinutes: 45,
  ingestTimeoutSeconds: 300,
  ingestMemoryMb: 2048,
  lifecycle: {
    uploadsDays: 3,
    reportsDays: 400,
    noncurrentVersionsDays: 2,
    incompleteMultipartUploadDays: 1,
    accessLogsDays: 30,
  },
};

let base: Synthesized;
let custom: Synthesized;
beforeAll(() => {
  base = synthGateway({ scheduledStarts: [] });
  custom = synthGateway({ scheduledStarts: [], batch: CUSTOM_BATCH });
});

const ref = (s: Synthesized, construct: Parameters<typeof logicalIdOf>[1]) => ({
  Ref: logicalIdOf(s, construct),
});
const arnOf = (s: Synthesized, construct: Parameters<typeof logicalIdOf>[1]) => ({
  'Fn::GetAtt': [logicalIdOf(s, construct), 'Arn'],
});
const objectsArn = (s: Synthesized, prefix: string) => ({
  'Fn::Join': ['', [arnOf(s, s.stack.batch.bucket.bucket), `/${prefix}*`]],
});
const resource = (s: Synthesized, construct: Parameters<typeof logicalIdOf>[1]) =>
  s.template.toJSON().Resources[logicalIdOf(s, construct)] as Json & { Properties: Json };
const functionOf = (s: Synthesized, name: keyof Synthesized['stack']['functions']) =>
  resource(s, s.stack.functions[name].function);
const envOf = (s: Synthesized, name: keyof Synthesized['stack']['functions']) =>
  (functionOf(s, name).Properties.Environment as { Variables: Json }).Variables;

describe('the jobs bucket', () => {
  it('blocks all public access, is encrypted, versioned, logged, and kept when the stack goes', () => {
    const bucket = resource(base, base.stack.batch.bucket.bucket);
    expect(bucket).toMatchObject({ DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
    expect(bucket.Properties).toMatchObject({
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      VersioningConfiguration: { Status: 'Enabled' },
      OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
      LoggingConfiguration: {
        DestinationBucketName: ref(base, base.stack.batch.bucket.accessLogs),
        LogFilePrefix: 'jobs-bucket/',
      },
    });
    // autoDeleteObjects would add a custom resource that empties the bucket on stack deletion.
    base.template.resourceCountIs('Custom::S3AutoDeleteObjects', 0);
  });

  it('refuses every request without TLS, on the bucket and on its objects', () => {
    const bucketArn = arnOf(base, base.stack.batch.bucket.bucket);
    base.template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: ref(base, base.stack.batch.bucket.bucket),
      PolicyDocument: {
        Statement: [
          {
            Effect: 'Deny',
            Principal: { AWS: '*' },
            Action: 's3:*',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            Resource: [bucketArn, { 'Fn::Join': ['', [bucketArn, '/*']] }],
          },
        ],
      },
    });
  });

  it('uploads and reports expire on their own schedules, old versions and stale multipart uploads too', () => {
    const rules = (s: Synthesized) =>
      (resource(s, s.stack.batch.bucket.bucket).Properties.LifecycleConfiguration as { Rules: Json[] }).Rules;
    const prefixRule = (prefix: string, days: number, noncurrent: number, multipart: number) => ({
      Prefix: prefix,
      Status: 'Enabled',
      ExpirationInDays: days,
      NoncurrentVersionExpiration: { NoncurrentDays: noncurrent },
      AbortIncompleteMultipartUpload: { DaysAfterInitiation: multipart },
    });
    expect(rules(base)).toEqual([
      { Id: 'ExpireUploads', ...prefixRule('uploads/', 30, 7, 7) },
      { Id: 'ExpireReports', ...prefixRule('reports/', 90, 7, 7) },
      { Id: 'RemoveExpiredDeleteMarkers', ExpiredObjectDeleteMarker: true, Status: 'Enabled' },
    ]);
    expect(rules(custom)).toEqual([
      { Id: 'ExpireUploads', ...prefixRule('uploads/', 3, 2, 1) },
      { Id: 'ExpireReports', ...prefixRule('reports/', 400, 2, 1) },
      { Id: 'RemoveExpiredDeleteMarkers', ExpiredObjectDeleteMarker: true, Status: 'Enabled' },
    ]);
  });

  it('access logs go to their own private, encrypted, TLS-only bucket, written by S3 logging for this bucket only', () => {
    const logs = resource(custom, custom.stack.batch.bucket.accessLogs);
    expect(logs).toMatchObject({ DeletionPolicy: 'Retain' });
    expect(logs.Properties).toMatchObject({
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, RestrictPublicBuckets: true },
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      LifecycleConfiguration: { Rules: [expect.objectContaining({ ExpirationInDays: 30 })] },
    });
    expect(logs.Properties.AccessControl).toBeUndefined();
    const logsArn = arnOf(custom, custom.stack.batch.bucket.accessLogs);
    custom.template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: ref(custom, custom.stack.batch.bucket.accessLogs),
      PolicyDocument: {
        Statement: [
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          {
            Effect: 'Allow',
            Principal: { Service: 'logging.s3.amazonaws.com' },
            Action: 's3:PutObject',
            Resource: { 'Fn::Join': ['', [logsArn, '/jobs-bucket/*']] },
            Condition: {
              ArnLike: { 'aws:SourceArn': arnOf(custom, custom.stack.batch.bucket.bucket) },
              StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
            },
          },
        ],
      },
    });
  });

  it('an object created under uploads/ invokes ingest-upload, and only S3 for this bucket may invoke it', () => {
    const notifications = Object.values(resourcesOf(base.template, 'Custom::S3BucketNotifications'));
    expect(notifications).toHaveLength(1);
    expect(props(notifications[0]!)).toMatchObject({
      BucketName: ref(base, base.stack.batch.bucket.bucket),
      Managed: true,
      NotificationConfiguration: {
        LambdaFunctionConfigurations: [
          {
            Events: ['s3:ObjectCreated:*'],
            Filter: { Key: { FilterRules: [{ Name: 'prefix', Value: 'uploads/' }] } },
            LambdaFunctionArn: arnOf(base, base.stack.batch.ingest.function),
          },
        ],
      },
    });
    const permissions = Object.values(resourcesOf(base.template, 'AWS::Lambda::Permission')).filter(
      (p) => props(p).Principal === 's3.amazonaws.com',
    );
    expect(permissions.map(props)).toEqual([
      {
        Action: 'lambda:InvokeFunction',
        FunctionName: arnOf(base, base.stack.batch.ingest.function),
        Principal: 's3.amazonaws.com',
        SourceAccount: { Ref: 'AWS::AccountId' },
        SourceArn: arnOf(base, base.stack.batch.bucket.bucket),
      },
    ]);
  });

  it("CDK's notification handler runs under a role without AWS-managed policies, scoped to this bucket", () => {
    const s = synthGateway({ scheduledStarts: [], logRetentionDays: 14 });
    const jobsBucket = s.stack.batch.bucket;
    const handlers = Object.entries(resourcesOf(s.template, 'AWS::Lambda::Function')).filter(([id]) =>
      id.startsWith('BucketNotificationsHandler'),
    );
    expect(handlers).toHaveLength(1);
    const [handlerId, handler] = handlers[0]!;
    const roleId = logicalIdOf(s, jobsBucket.node.findChild('NotificationsHandlerRole'));
    expect(props(handler).Role).toEqual({ 'Fn::GetAtt': [roleId, 'Arn'] });
    expect(props(resource(s, jobsBucket.node.findChild('NotificationsHandlerRole')))).not.toHaveProperty(
      'ManagedPolicyArns',
    );
    const policies = Object.values(resourcesOf(s.template, 'AWS::IAM::Policy')).filter((p) =>
      JSON.stringify(props(p).Roles).includes(roleId),
    );
    expect(policies).toHaveLength(1);
    const logGroup = jobsBucket.node.findChild('NotificationsHandlerLogs');
    expect((props(policies[0]!).PolicyDocument as { Statement: unknown[] }).Statement).toEqual([
      {
        Effect: 'Allow',
        Action: 's3:PutBucketNotification',
        Resource: arnOf(s, jobsBucket.bucket),
      },
      {
        Effect: 'Allow',
        Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        Resource: arnOf(s, logGroup),
      },
    ]);
    expect(props(resource(s, logGroup))).toMatchObject({
      LogGroupName: { 'Fn::Join': ['', ['/aws/lambda/', { Ref: handlerId }]] },
      RetentionInDays: 14,
    });
    // The handler runs when the notification resource is created: its permissions and log group exist by then.
    const notification = Object.values(resourcesOf(s.template, 'Custom::S3BucketNotifications'))[0]!;
    expect(notification.DependsOn).toEqual(
      expect.arrayContaining([
        logicalIdOf(s, logGroup),
        logicalIdOf(s, jobsBucket.node.findChild('NotificationsHandlerPolicy')),
      ]),
    );
  });
});

describe('the chunk queue and its worker', () => {
  it('encrypted queues; the redrive maxReceiveCount is the worker’s MAX_RECEIVE_COUNT, from one setting', () => {
    for (const [s, count] of [
      [base, 5],
      [custom, 7],
    ] as const) {
      const queue = resource(s, s.stack.batch.chunks.queue).Properties;
      expect(queue).toMatchObject({
        SqsManagedSseEnabled: true,
        RedrivePolicy: {
          deadLetterTargetArn: arnOf(s, s.stack.batch.chunks.deadLetters.queue),
          maxReceiveCount: count,
        },
      });
      expect(envOf(s, 'process-chunk').MAX_RECEIVE_COUNT).toBe(String(count));
      expect(resource(s, s.stack.batch.chunks.deadLetters.queue).Properties).toMatchObject({
        SqsManagedSseEnabled: true,
        MessageRetentionPeriod: 14 * 24 * 3600,
      });
    }
  });

  it('the visibility timeout is at least 6 times the worker’s timeout', () => {
    const timeout = functionOf(base, 'process-chunk').Properties.Timeout as number;
    expect(timeout).toBe(PROCESS_CHUNK_TIMEOUT.toSeconds());
    const visibility = resource(base, base.stack.batch.chunks.queue).Properties.VisibilityTimeout as number;
    expect(visibility).toBeGreaterThanOrEqual(6 * timeout);
  });

  it('every queue of the pipeline refuses requests without TLS', () => {
    const { batch } = base.stack;
    for (const queue of [batch.chunks.queue, batch.chunks.deadLetters.queue, batch.ingestFailures.queue]) {
      base.template.hasResourceProperties('AWS::SQS::QueuePolicy', {
        Queues: [ref(base, queue)],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          ]),
        },
      });
    }
  });

  it('the worker consumes it with ReportBatchItemFailures, a modest batch and the configured concurrency', () => {
    for (const [s, concurrency] of [
      [base, 5],
      [custom, 3],
    ] as const) {
      const mappings = Object.values(resourcesOf(s.template, 'AWS::Lambda::EventSourceMapping')).map(props);
      expect(mappings).toEqual([
        {
          EventSourceArn: arnOf(s, s.stack.batch.chunks.queue),
          FunctionName: ref(s, s.stack.batch.worker.function),
          BatchSize: PROCESS_CHUNK_BATCH_SIZE,
          FunctionResponseTypes: ['ReportBatchItemFailures'],
          ScalingConfig: { MaximumConcurrency: concurrency },
          Tags: expect.any(Array),
        },
      ]);
    }
  });

  it('alarms on dead letters and on the age of the oldest chunk, to the alarm topic', () => {
    const topic = ref(custom, custom.stack.alarmTopic);
    const alarms = Object.values(resourcesOf(custom.template, 'AWS::CloudWatch::Alarm')).map(props);
    const onQueue = (queue: Parameters<typeof logicalIdOf>[1], metric: string) =>
      alarms.filter(
        (a) =>
          a.MetricName === metric &&
          JSON.stringify(a.Dimensions) ===
            JSON.stringify([
              { Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalIdOf(custom, queue), 'QueueName'] } },
            ]),
      );
    const { batch } = custom.stack;
    const dead = onQueue(batch.chunks.deadLetters.queue, 'ApproximateNumberOfMessagesVisible');
    expect(dead).toEqual([
      expect.objectContaining({
        Namespace: 'AWS/SQS',
        ComparisonOperator: 'GreaterThanThreshold',
        Threshold: 0,
        AlarmActions: [topic],
        // The chunk queue refuses other senders: the runbook names the role to assume (docs/RUNBOOK.md#redrive).
        AlarmDescription: expect.stringMatching(
          /failed 7 times.*assume the ChunkRedriveRole \(output ChunkRedriveRoleArn.*npm run redrive/,
        ),
      }),
    ]);
    const age = onQueue(batch.chunks.queue, 'ApproximateAgeOfOldestMessage');
    expect(age).toEqual([
      expect.objectContaining({
        Threshold: 45 * 60,
        ComparisonOperator: 'GreaterThanThreshold',
        AlarmActions: [topic],
        AlarmDescription: expect.stringContaining(
          'At 2.5 calls per second a job of N rows needs about N / 25',
        ),
      }),
    ]);
    const ingestDead = onQueue(batch.ingestFailures.queue, 'ApproximateNumberOfMessagesVisible');
    expect(ingestDead).toEqual([
      expect.objectContaining({
        Threshold: 0,
        AlarmActions: [topic],
        AlarmDescription: expect.stringContaining('invoke ingest-upload again with the requestPayload'),
      }),
    ]);
  });
});

describe('the jobs table', () => {
  it('pk/sk strings, TTL on expiresAt, on demand, point-in-time recovery, encrypted, kept', () => {
    const tables = resourcesOf(base.template, 'AWS::DynamoDB::Table');
    expect(Object.keys(tables)).toEqual([logicalIdOf(base, base.stack.batch.table.table)]);
    const table = Object.values(tables)[0]!;
    expect(table).toMatchObject({ DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
    expect(props(table)).toEqual({
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
        { AttributeName: 'listPk', AttributeType: 'S' },
        { AttributeName: 'listSk', AttributeType: 'S' },
      ],
      // GET /jobs: an owner's jobs, newest first (test/infra/jobs-api.test.ts).
      GlobalSecondaryIndexes: [
        {
          IndexName: 'ByOwner',
          KeySchema: [
            { AttributeName: 'listPk', KeyType: 'HASH' },
            { AttributeName: 'listSk', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: ['state'] },
        },
      ],
      BillingMode: 'PAY_PER_REQUEST',
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
      Tags: expect.any(Array),
    });
  });
});

describe('the pipeline functions', () => {
  const common = {
    NODE_OPTIONS: '--enable-source-maps',
    POWERTOOLS_SERVICE_NAME: 'dana-gateway-prod',
    POWERTOOLS_METRICS_NAMESPACE: 'DanaGateway',
    POWERTOOLS_LOG_LEVEL: 'INFO',
  };

  it('ingest-upload: configured timeout and memory, the pipeline’s names, no DANAConnect access', () => {
    const { batch } = custom.stack;
    expect(functionOf(custom, 'ingest-upload').Properties).toMatchObject({
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      Timeout: 300,
      MemorySize: 2048,
    });
    expect(functionOf(base, 'ingest-upload').Properties).toMatchObject({ Timeout: 900, MemorySize: 1024 });
    expect(envOf(custom, 'ingest-upload')).toEqual({
      ...common,
      JOBS_TABLE_NAME: ref(custom, batch.table.table),
      QUEUE_URL: ref(custom, batch.chunks.queue),
      BUCKET_NAME: ref(custom, batch.bucket.bucket),
      UPLOAD_MAX_BYTES: String(2 * 1024 ** 3),
      UPLOAD_MAX_ROWS: '5000000',
      // It settles jobs, so it publishes Job Finished (test/infra/job-events.test.ts).
      EVENT_BUS_NAME: 'default',
    });
  });

  it('ingest-upload: Lambda retries a failed ingest, then keeps the S3 event in a dead-letter queue', () => {
    base.template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: ref(base, base.stack.batch.ingest.function),
      MaximumRetryAttempts: INGEST_RETRY_ATTEMPTS,
      DestinationConfig: { OnFailure: { Destination: arnOf(base, base.stack.batch.ingestFailures.queue) } },
    });
  });

  it('process-chunk: the pipeline’s names, the rate limit, the receive count and DANAConnect', () => {
    const { batch, secret } = custom.stack;
    // 3 workers × 5 chunks at 2.5/s wait up to 15 × 420 ms = 6.3 s for pacing: 115 s + 7 s (worker-budget.ts).
    expect(functionOf(custom, 'process-chunk').Properties).toMatchObject({
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      Timeout: 122,
    });
    expect(functionOf(base, 'process-chunk').Properties).toMatchObject({
      Timeout: PROCESS_CHUNK_TIMEOUT.toSeconds(),
    });
    expect(envOf(custom, 'process-chunk')).toEqual({
      ...common,
      JOBS_TABLE_NAME: ref(custom, batch.table.table),
      QUEUE_URL: ref(custom, batch.chunks.queue),
      BUCKET_NAME: ref(custom, batch.bucket.bucket),
      DANA_RATE_LIMIT_PER_SECOND: '2.5',
      DANA_PACING_MAX_WAIT_MS: '6300',
      BATCH_RESEND_ON_5XX: '503',
      MAX_RECEIVE_COUNT: '7',
      DANA_BASE_URL: 'https://appserv.danaconnect.com',
      DANA_SECRET_ID: ref(custom, secret.created!),
      EVENT_BUS_NAME: 'default',
    });
    expect(envOf(base, 'process-chunk').DANA_RATE_LIMIT_PER_SECOND).toBe('10');
  });

  it('the routes that create records get the queue and the table, for Prefer: respond-async', () => {
    const { batch } = base.stack;
    for (const route of ROUTES) {
      const env = envOf(base, route.name);
      if (route.respondAsync) {
        expect(env, route.name).toMatchObject({
          JOBS_TABLE_NAME: ref(base, batch.table.table),
          QUEUE_URL: ref(base, batch.chunks.queue),
        });
      } else {
        expect(env.QUEUE_URL, route.name).toBeUndefined();
      }
      // The jobs API signs report links and upload forms on the bucket; no other route touches it.
      const signsOnBucket = ['get-job-report', 'create-upload'].includes(route.name);
      expect(env.BUCKET_NAME, route.name).toEqual(signsOnBucket ? ref(base, batch.bucket.bucket) : undefined);
    }
    expect(ROUTES.filter((r) => r.respondAsync).map((r) => r.name)).toEqual([
      'start-data',
      'start-data-by-project',
      'start-batch',
    ]);
  });
});

describe('least privilege', () => {
  const secretGrant = (s: Synthesized) => ({
    Effect: 'Allow',
    Action: 'secretsmanager:GetSecretValue',
    Resource: ref(s, s.stack.secret.created!),
  });
  const logsGrant = (s: Synthesized, name: keyof Synthesized['stack']['functions']) => ({
    Effect: 'Allow',
    Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
    Resource: arnOf(s, s.stack.functions[name].logGroup),
  });
  const tableGrant = (s: Synthesized, kind: TableAccessKind) => ({
    Effect: 'Allow',
    // IAM policies render a single action as a string (the alias resolvers' GetItem).
    Action:
      TABLE_ACCESS[kind].actions.length === 1
        ? TABLE_ACCESS[kind].actions[0]
        : [...TABLE_ACCESS[kind].actions].sort(),
    Resource:
      'index' in TABLE_ACCESS[kind]
        ? { 'Fn::Join': ['', [arnOf(s, s.stack.batch.table.table), `/index/${TABLE_ACCESS[kind].index}`]] }
        : arnOf(s, s.stack.batch.table.table),
    Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [...TABLE_ACCESS[kind].leadingKeys] } },
  });
  /** Job Finished events on the default bus, `dana.gateway` events only (test/infra/job-events.test.ts). */
  const publishGrant = {
    Effect: 'Allow',
    Action: 'events:PutEvents',
    Resource: {
      'Fn::Join': [
        '',
        [
          'arn:',
          { Ref: 'AWS::Partition' },
          ':events:',
          { Ref: 'AWS::Region' },
          ':',
          { Ref: 'AWS::AccountId' },
          ':event-bus/default',
        ],
      ],
    },
    Condition: { StringEquals: { 'events:source': 'dana.gateway' } },
  };
  const sendChunks = (s: Synthesized) => ({
    Effect: 'Allow',
    Action: 'sqs:SendMessage',
    Resource: arnOf(s, s.stack.batch.chunks.queue),
  });
  const byAction = (a: Json, b: Json) => JSON.stringify(a.Action).localeCompare(JSON.stringify(b.Action));

  it('ingest-upload: reads uploads (any version), writes reports, queues chunks, uses the table; no secret', () => {
    const s = base;
    expect(statementsOf(s, s.stack.batch.ingest).sort(byAction)).toEqual(
      [
        logsGrant(s, 'ingest-upload'),
        // Its asynchronous-invocation failure destination.
        {
          Effect: 'Allow',
          Action: ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'],
          Resource: arnOf(s, s.stack.batch.ingestFailures.queue),
        },
        {
          Effect: 'Allow',
          Action: ['s3:GetObject', 's3:GetObjectVersion'],
          Resource: objectsArn(s, 'uploads/'),
        },
        {
          Effect: 'Allow',
          Action: ['s3:AbortMultipartUpload', 's3:PutObject'],
          Resource: objectsArn(s, 'reports/'),
        },
        sendChunks(s),
        tableGrant(s, 'ingest'),
        // An upload key may name an alias.
        tableGrant(s, 'alias-resolver'),
        publishGrant,
      ].sort(byAction),
    );
  });

  it('process-chunk: consumes the chunk queue (incl. ChangeMessageVisibility), writes reports, reads the secret', () => {
    const s = base;
    const statements = statementsOf(s, s.stack.batch.worker);
    expect(statements.sort(byAction)).toEqual(
      [
        logsGrant(s, 'process-chunk'),
        secretGrant(s),
        {
          Effect: 'Allow',
          Action: [
            'sqs:ChangeMessageVisibility',
            'sqs:DeleteMessage',
            'sqs:GetQueueAttributes',
            'sqs:GetQueueUrl',
            'sqs:ReceiveMessage',
            // A chunk that waited without being claimed or sent is requeued as a new message.
            'sqs:SendMessage',
          ],
          Resource: arnOf(s, s.stack.batch.chunks.queue),
        },
        {
          Effect: 'Allow',
          Action: ['s3:AbortMultipartUpload', 's3:PutObject'],
          Resource: objectsArn(s, 'reports/'),
        },
        tableGrant(s, 'worker'),
        publishGrant,
      ].sort(byAction),
    );
  });

  it('HTTP functions: the secret if they call DANAConnect; respond-async ones queue chunks and use the table', () => {
    const s = base;
    // Routes that share one function (the schedules and alias APIs) are checked by their own tests.
    const bucketObjects = (action: string, prefix: string) => ({
      Effect: 'Allow',
      Action: action,
      Resource: objectsArn(s, prefix),
    });
    // The jobs API's functions (docs/JOBS.md; test/infra/jobs-api.test.ts), and start-list's failure destination.
    const own: Record<string, Json[]> = {
      'get-job': [tableGrant(s, 'job-reader')],
      'list-jobs': [
        tableGrant(s, 'job-list-index'),
        tableGrant(s, 'job-lister'),
        // Its cursor key: the value alone (lambdas/adapters/cursor-key.ts sends GetSecretValue only).
        {
          Effect: 'Allow',
          Action: 'secretsmanager:GetSecretValue',
          Resource: ref(s, s.stack.jobsApi.cursorSecret),
        },
      ],
      'get-job-report': [tableGrant(s, 'job-report'), bucketObjects('s3:GetObject', 'reports/')],
      // Its body's conversation may be an alias.
      'create-upload': [tableGrant(s, 'alias-resolver'), bucketObjects('s3:PutObject', 'uploads/')],
      // Lambda's asynchronous-invocation failure destination: the schedules' dead-letter queue.
      'start-list': [
        {
          Effect: 'Allow',
          Action: ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'],
          Resource: arnOf(s, s.stack.schedules.deadLetters.queue),
        },
      ],
    };
    for (const route of ROUTES.filter((r) => r.function === undefined)) {
      const expected: Json[] = [logsGrant(s, route.name), ...(own[route.name] ?? [])];
      if (route.callsDana) expected.push(secretGrant(s));
      if (route.respondAsync) {
        expected.push(sendChunks(s), tableGrant(s, 'async-http'));
      }
      // `{conversationId}` may be an alias: read-only on the aliases partition (test/infra/aliases.test.ts).
      if (takesConversationRef(route)) expected.push(tableGrant(s, 'alias-resolver'));
      expect(statementsOf(s, s.stack.functions[route.name]).sort(byAction), route.name).toEqual(
        expected.sort(byAction),
      );
    }
  });

  it('get-job reads the jobs table, and nothing else: no secret, no queue, no bucket', () => {
    const s = base;
    expect(statementsOf(s, s.stack.functions['get-job']).sort(byAction)).toEqual(
      [logsGrant(s, 'get-job'), tableGrant(s, 'job-reader')].sort(byAction),
    );
    expect(envOf(s, 'get-job')).toEqual({
      NODE_OPTIONS: '--enable-source-maps',
      POWERTOOLS_SERVICE_NAME: 'dana-gateway-prod',
      POWERTOOLS_METRICS_NAMESPACE: 'DanaGateway',
      POWERTOOLS_LOG_LEVEL: 'INFO',
      JOBS_TABLE_NAME: ref(s, s.stack.batch.table.table),
      // Config `jobReaders` (none here): principals that may read every job (lambdas/core/job-access.ts).
      JOB_READERS: '',
    });
  });

  it('a resource wildcard appears only as an object prefix of the jobs bucket or in the schedules API, each acknowledged', () => {
    const s = base;
    const bucketId = logicalIdOf(s, s.stack.batch.bucket.bucket);
    const group = s.stack.schedules.group.scheduleGroupName;
    const scheduleArn = `arn:<AWS::Partition>:scheduler:<AWS::Region>:<AWS::AccountId>:schedule/${group}/*`;
    // The schedules API (infra/constructs/scheduled-starts.ts grantManageSchedules): schedules of its own group,
    // and ListSchedules, which takes no resource.
    const schedulesApi = ['*', scheduleArn];
    for (const [name, fn] of Object.entries(s.stack.functions)) {
      const wildcards = statementsOf(s, fn)
        .filter((st) => JSON.stringify(st.Resource).includes('*'))
        .map((st) => {
          const r = st.Resource as Json | string;
          if (typeof r === 'string') return r;
          const [first, rest] = (r['Fn::Join'] as [string, unknown[]])[1] as [unknown, ...unknown[]];
          if (JSON.stringify(first) === JSON.stringify({ 'Fn::GetAtt': [bucketId, 'Arn'] })) {
            expect(rest, name).toEqual(expect.stringMatching(/^\/(uploads|reports)\/\*$/));
            return `<${bucketId}.Arn>${rest as string}`;
          }
          // An ARN from formatArn: its parts as cdk-nag renders them.
          return (r['Fn::Join'] as [string, unknown[]])[1]
            .map((part) => (typeof part === 'string' ? part : `<${(part as { Ref: string }).Ref}>`))
            .join('');
        });
      // The five schedules routes share that one function.
      const isSchedulesApi = fn === s.stack.functions['create-schedule'];
      expect(wildcards.filter((w) => !w.startsWith(`<${bucketId}.Arn>`)).sort(), name).toEqual(
        isSchedulesApi ? schedulesApi : [],
      );
      const acknowledged = fn.role.node.metadata
        .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
        .flatMap((m) => Object.keys(m.data as Json))
        .map((id) => id.replace(/^Annotation::/, ''));
      expect(acknowledged.sort(), name).toEqual(
        [...new Set(wildcards)].map((w) => `AwsSolutions-IAM5[Resource::${w}]`).sort(),
      );
    }
  });

  it('no pipeline grant has a wildcard action', () => {
    for (const fn of Object.values(base.stack.functions)) {
      for (const statement of statementsOf(base, fn)) expect(actionsOf(statement).join()).not.toContain('*');
    }
  });
});

describe('the granted actions cover what the adapters call', () => {
  /** The `*Command`s a source file sends. */
  const commandsIn = (file: string) =>
    [...readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8').matchAll(/new (\w+)Command\(/g)].map(
      (m) => m[1]!,
    );

  it('DynamoDB: the job store and the rate limiter', () => {
    const granted = new Set<string>(Object.values(TABLE_ACCESS).flatMap((a) => a.actions));
    const commands = new Set([
      ...commandsIn('lambdas/adapters/dynamo-job-store.ts'),
      ...commandsIn('lambdas/adapters/dynamo-rate-limiter.ts'),
    ]);
    expect(commands.size).toBeGreaterThan(0);
    for (const command of commands) {
      // A transaction is authorized per item: the job store's (completeChunk) has Update items only (below).
      const actions = command === 'TransactWriteItems' ? ['dynamodb:UpdateItem'] : [`dynamodb:${command}`];
      for (const action of actions) expect(granted, command).toContain(action);
    }
    const source = readFileSync(
      new URL('../../lambdas/adapters/dynamo-job-store.ts', import.meta.url),
      'utf8',
    );
    expect(source, 'a transaction with Delete items needs dynamodb:DeleteItem').not.toMatch(/\bDelete:\s*\{/);
    for (const item of ['Put', 'ConditionCheck']) {
      expect(source, `a transaction with ${item} items needs dynamodb:${item}Item`).not.toMatch(
        new RegExp(`\\b${item}:\\s*\\{`),
      );
    }
  });

  it('S3 and SQS: the object store and the chunk queue', () => {
    const s3Actions: Record<string, string[]> = {
      GetObject: ['s3:GetObject', 's3:GetObjectVersion'],
      PutObject: ['s3:PutObject'],
      CreateMultipartUpload: ['s3:PutObject'],
      UploadPart: ['s3:PutObject'],
      CompleteMultipartUpload: ['s3:PutObject'],
      AbortMultipartUpload: ['s3:AbortMultipartUpload'],
    };
    const ingest = statementsOf(base, base.stack.batch.ingest).flatMap(actionsOf);
    for (const command of commandsIn('lambdas/adapters/s3-object-store.ts')) {
      expect(s3Actions, command).toHaveProperty(command);
      for (const action of s3Actions[command]!) expect(ingest, command).toContain(action);
    }
    expect(commandsIn('lambdas/adapters/sqs-queue.ts')).toEqual(['SendMessageBatch']);
    expect(ingest).toContain('sqs:SendMessage');
    // The worker's SQS calls: its own (the requeue's SendMessage) and the shared SQS batch handler's.
    const workerSqs = [
      ...commandsIn('lambdas/process-chunk/handler.ts'),
      ...commandsIn('lambdas/adapters/sqs-batch.ts'),
    ];
    expect(workerSqs.sort()).toEqual(['ChangeMessageVisibility', 'SendMessage']);
    const worker = statementsOf(base, base.stack.batch.worker).flatMap(actionsOf);
    for (const command of workerSqs) expect(worker, command).toContain(`sqs:${command}`);
  });
});

describe('outputs', () => {
  it('name the bucket, the chunk queue and its dead-letter queue, the table and the ingest function', () => {
    const { batch } = base.stack;
    base.template.hasOutput('BucketName', { Value: ref(base, batch.bucket.bucket) });
    base.template.hasOutput('ChunkQueueUrl', { Value: ref(base, batch.chunks.queue) });
    base.template.hasOutput('ChunkDeadLetterQueueUrl', { Value: ref(base, batch.chunks.deadLetters.queue) });
    base.template.hasOutput('JobsTableName', { Value: ref(base, batch.table.table) });
    base.template.hasOutput('IngestFunctionName', { Value: ref(base, batch.ingest.function) });
    base.template.hasOutput('IngestDeadLetterQueueUrl', { Value: ref(base, batch.ingestFailures.queue) });
  });
});
