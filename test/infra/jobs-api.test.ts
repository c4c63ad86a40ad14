/**
 * The jobs API in the template (infra/constructs/jobs-api.ts, docs/JOBS.md): the owner index (keys and a
 * projection of `state` only), each function's exact rights (the list Queries the index in `jobs#…` partitions
 * only, never Scans; the report link signer reads `reports/*`; the upload form signer puts `uploads/*`), the cursor
 * key, JOB_READERS, and the bucket's CORS (the console's own origin when it is on, and `console.allowedOrigins`);
 * and the config checks.
 */
import { describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../../infra/config';
import {
  actionsOf,
  logicalIdOf,
  props,
  resourcesOf,
  roleStatements,
  statementsOf,
  synthGateway,
  type Json,
} from './synth';

const base = synthGateway({ scheduledStarts: [] });
const fnProps = (name: string) => {
  const fn = base.stack.functions[name as 'list-jobs'];
  return props(resourcesOf(base.template, 'AWS::Lambda::Function')[logicalIdOf(base, fn.function)]!);
};
const env = (name: string) => ((fnProps(name).Environment as Json).Variables ?? {}) as Json;

describe('the jobs API in the template', () => {
  it('the jobs table has the owner index: listPk/listSk, projecting state only', () => {
    const [table] = Object.values(resourcesOf(base.template, 'AWS::DynamoDB::Table')).map(props);
    expect(table!.GlobalSecondaryIndexes).toEqual([
      {
        IndexName: 'ByOwner',
        KeySchema: [
          { AttributeName: 'listPk', KeyType: 'HASH' },
          { AttributeName: 'listSk', KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: ['state'] },
      },
    ]);
  });

  it('list-jobs: Query on the index in jobs#… partitions, BatchGetItem of job#… items, its cursor key; nothing else', () => {
    const statements = statementsOf(base, base.stack.functions['list-jobs']);
    const byAction = (action: string) => statements.filter((s) => actionsOf(s).includes(action));
    const query = byAction('dynamodb:Query');
    expect(query).toHaveLength(1);
    expect(JSON.stringify(query[0]!.Resource)).toContain('/index/ByOwner');
    expect(query[0]!.Condition).toEqual({
      'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['jobs#*'] },
    });
    const get = byAction('dynamodb:BatchGetItem');
    expect(get).toHaveLength(1);
    expect(get[0]!.Condition).toEqual({ 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['job#*'] } });
    const all = statements.flatMap(actionsOf);
    expect(all.filter((a) => a.startsWith('dynamodb:')).sort()).toEqual([
      'dynamodb:BatchGetItem',
      'dynamodb:Query',
    ]);
    expect(all.filter((a) => a.startsWith('s3:'))).toEqual([]);
    expect(JSON.stringify(byAction('secretsmanager:GetSecretValue')[0]!.Resource)).toContain(
      'JobsApiCursorKey',
    );
    expect(env('list-jobs')).toMatchObject({
      JOBS_TABLE_NAME: expect.anything(),
      JOBS_CURSOR_SECRET_ARN: expect.anything(),
      JOB_READERS: '',
    });
  });

  it('no role of the stack may Scan the table', () => {
    for (const { statement } of roleStatements(base.template))
      expect(actionsOf(statement)).not.toContain('dynamodb:Scan');
  });

  it('get-job-report: GetItem of job#… items and s3:GetObject on reports/* only', () => {
    const statements = statementsOf(base, base.stack.functions['get-job-report']);
    const all = statements.flatMap(actionsOf).filter((a) => /^(dynamodb|s3|secretsmanager):/.test(a));
    expect(all.sort()).toEqual(['dynamodb:GetItem', 's3:GetObject']);
    const s3 = statements.find((s) => actionsOf(s).includes('s3:GetObject'))!;
    expect(JSON.stringify(s3.Resource)).toContain('/reports/*');
    expect(Object.keys(env('get-job-report'))).toEqual(
      expect.arrayContaining(['BUCKET_NAME', 'JOBS_TABLE_NAME', 'JOB_READERS']),
    );
  });

  it('create-upload: s3:PutObject on uploads/* (the forms it signs can do no more) and alias reads; its size limit', () => {
    const statements = statementsOf(base, base.stack.functions['create-upload']);
    const all = statements.flatMap(actionsOf).filter((a) => /^(dynamodb|s3|secretsmanager):/.test(a));
    expect(all.sort()).toEqual(['dynamodb:GetItem', 's3:PutObject']);
    const put = statements.find((s) => actionsOf(s).includes('s3:PutObject'))!;
    expect(JSON.stringify(put.Resource)).toContain('/uploads/*');
    expect(env('create-upload')).toMatchObject({
      UPLOAD_MAX_BYTES: String(2 * 1024 ** 3),
      BUCKET_NAME: expect.anything(),
    });
  });

  it('jobReaders reach the functions; CORS for the console’s own origin and console.allowedOrigins only', () => {
    const bucketOf = (s: ReturnType<typeof synthGateway>) =>
      props(resourcesOf(s.template, 'AWS::S3::Bucket')[logicalIdOf(s, s.stack.batch.bucket.bucket)]!);
    const corsFor = (origins: unknown[]) => ({
      CorsRules: [
        {
          AllowedHeaders: ['*'],
          AllowedMethods: ['POST', 'GET'],
          AllowedOrigins: origins,
          ExposedHeaders: ['ETag'],
          MaxAge: 600,
        },
      ],
    });
    // The console (on by default) is served by the API: its origin is the API's, added by the stack.
    const apiOrigin = (s: ReturnType<typeof synthGateway>) => ({
      'Fn::Join': [
        '',
        [
          'https://',
          { Ref: logicalIdOf(s, s.stack.api.api) },
          '.execute-api.',
          { Ref: 'AWS::Region' },
          '.',
          { Ref: 'AWS::URLSuffix' },
        ],
      ],
    });
    expect(bucketOf(base).CorsConfiguration).toEqual(corsFor([apiOrigin(base)]));
    const noConsole = synthGateway({ scheduledStarts: [], console: { enabled: false } });
    expect(bucketOf(noConsole).CorsConfiguration).toBeUndefined();
    const reader = 'arn:aws:iam::123456789012:role/Auditor';
    const s = synthGateway({
      scheduledStarts: [],
      jobReaders: [reader],
      console: { allowedOrigins: ['https://console.example.com'] },
    });
    expect(bucketOf(s).CorsConfiguration).toEqual(corsFor(['https://console.example.com', apiOrigin(s)]));
    for (const name of ['get-job', 'list-jobs', 'get-job-report']) {
      const fn = s.stack.functions[name as 'get-job'];
      const vars = (
        props(resourcesOf(s.template, 'AWS::Lambda::Function')[logicalIdOf(s, fn.function)]!)
          .Environment as Json
      ).Variables as Json;
      expect(vars.JOB_READERS, name).toBe(reader);
    }
  });
});

describe('config: jobReaders and console', () => {
  it('refuses what is not a user or role ARN, and origins that are not https origins', () => {
    expect(() =>
      parseGatewayConfig({
        jobReaders: ['arn:aws:iam::123456789012:group/Ops', 'Auditor'],
        console: {
          allowedOrigins: ['http://console.example.com', 'https://x.example.com/path', '*'],
          other: 1,
        },
      }),
    ).toThrow(
      /jobReaders\[0\].*\n.*jobReaders\[1\].*\n.*console\.other.*\n.*allowedOrigins\[0\].*\n.*allowedOrigins\[1\].*\n.*allowedOrigins\[2\]/,
    );
    const config = parseGatewayConfig({
      jobReaders: ['arn:aws:iam::123456789012:role/ops/Auditor', 'arn:aws:iam::123456789012:user/ci'],
      console: { allowedOrigins: ['https://console.example.com:8443'] },
    });
    expect(config.jobReaders).toHaveLength(2);
    expect(parseGatewayConfig({}).console).toEqual({ enabled: true, mfa: 'required', allowedOrigins: [] });
  });
});
