/**
 * The artifact that would be deployed is the one that is tested: one real synth of the cdk.json app WITH bundling
 * (local esbuild, cdk-nag on), then each function's bundle from the cloud assembly runs in a fresh Node process
 * with the environment its template gives it, real-shaped events, its secret, jobs table, queue and bucket in
 * moto_server and the sandbox as DANAConnect. Only the values that name deployed things are swapped for local
 * ones: DANAConnect's URL, and the ids of the secret, the table, the queue and the bucket.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  CreateBucketCommand,
  HeadObjectCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
  type Message,
} from '@aws-sdk/client-sqs';
import type { SQSBatchResponse } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { buildGatewayApp, cdkJsonContext } from '../../infra/gateway-app';
import type { GatewayFunction } from '../../infra/constructs/gateway-function';
import type { FunctionName, GatewayStack } from '../../infra/gateway-stack';
import { DynamoJobStore } from '../../lambdas/adapters/dynamo-job-store';
import { S3ObjectStore } from '../../lambdas/adapters/s3-object-store';
import { uploadJobId } from '../../lambdas/core/ingest';
import type { ChunkMessage } from '../../lambdas/core/jobs';
import { functionOf, ROUTES } from '../../lambdas/http/routes';
import { DEMO_USER, startSandbox, type Sandbox } from '../../local/sandbox/server';
import { relayOutput } from '../audit/child-output';
import { rememberCredentialsSeenBy } from '../audit/sensitive';
import { apiGatewayEvent, s3PutEvent, scheduledStartEvent, withHeader } from '../fixtures/events';
import { existingRecords } from '../fixtures/http';
import { createJobsTable } from './job-store-table';
import { sqsEvent } from './sqs-harness';
import { batchCalls, expectCompleteReport } from './worker-harness';

const REGION = 'us-east-1';
const DEMO_BASIC =
  'Basic ' +
  Buffer.from(`${DEMO_USER.username}@${DEMO_USER.companyCode}:${DEMO_USER.password}`).toString('base64');

/** Loads the bundle like the Lambda runtime (`<file>.<export>` from the task root), invokes it once, reports. */
const RUNNER = `
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [eventFile, resultFile] = process.argv.slice(2);
const [file, name] = process.env._HANDLER.split('.');
const base = join(process.env.LAMBDA_TASK_ROOT, file);
const module = await import(pathToFileURL(existsSync(base + '.mjs') ? base + '.mjs' : base + '.js').href);
const deadline = Date.now() + Number(process.env.TEST_TIMEOUT_MS);
const functionName = process.env.AWS_LAMBDA_FUNCTION_NAME;
const context = {
  callbackWaitsForEmptyEventLoop: true,
  functionName,
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:${REGION}:123456789012:function:' + functionName,
  memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
  awsRequestId: randomUUID(),
  logGroupName: '/aws/lambda/' + functionName,
  logStreamName: '2025/11/25/[$LATEST]' + randomUUID().replaceAll('-', ''),
  getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  done() {}, fail() {}, succeed() {},
};
let report;
try {
  report = { outcome: 'returned', result: await module[name](JSON.parse(readFileSync(eventFile, 'utf8')), context) };
} catch (error) {
  report = { outcome: 'threw', errorName: error?.name, stack: String(error?.stack) };
}
writeFileSync(resultFile, JSON.stringify(report));
// Like a Lambda sandbox being frozen: kept-alive sockets must not hold the process open.
setTimeout(() => process.exit(0), 200).unref();
`;

interface Bundle {
  logicalId: string;
  assetDir: string;
  handler: string;
  timeoutSeconds: number;
  memorySize: number;
  environment: Record<string, unknown>;
}

interface Invocation {
  outcome: 'returned' | 'threw';
  result?: unknown;
  errorName?: string;
  stack?: string;
  /** Everything the process wrote (its log lines). */
  output: string;
}

/** The functions that call DANAConnect, and so read its secret. */
const DANA_CALLERS = new Set<FunctionName>([
  ...ROUTES.filter((r) => r.callsDana).map((r) => r.name),
  'process-chunk',
]);

/**
 * The handler folder (`lambdas/<folder>/handler.ts`) a function is built from, as the stack derives it: a route's
 * `functionOf` (routes may share one function), else the function's own name (the batch pipeline's).
 */
function handlerFolderOf(name: FunctionName): string {
  const route = ROUTES.find((r) => r.name === name);
  return route ? functionOf(route) : name;
}

/** Functions that read a secret of their own, never DANAConnect's: the jobs list's cursor key, webhook signing. */
const OWN_SECRET_READERS = new Set(['list-jobs', 'deliver-webhook']);

/** The pipeline's resources in moto_server, standing in for the stack's. */
interface LocalResources {
  tableName: string;
  queueUrl: string;
  queueArn: string;
  bucketName: string;
}

let workDir: string;
let stack: GatewayStack;
let bundles: Record<FunctionName, Bundle>;
/** Every function of the assembly once, by its handler folder: the routes', the batch's, the console page's… */
let bundlesByFolder: Map<string, Bundle>;
let secretLogicalId: string;
/** The template's Ref of each pipeline resource, by the environment variable that carries it. */
let pipelineRefs: Record<'JOBS_TABLE_NAME' | 'QUEUE_URL' | 'BUCKET_NAME', { Ref: string }>;
let local: LocalResources;
let secretPlaceholder: string;
let sandbox: Sandbox;
let secretArn: string;
let placeholderSecretArn: string;

/**
 * Each function's bundle, handler and environment, from the synthesized template and its asset manifest: by
 * function name (`bundles`) and by handler folder (`bundlesByFolder`).
 */
function readBundles(assemblyDir: string): void {
  const template = JSON.parse(readFileSync(join(assemblyDir, stack.templateFile), 'utf8')) as {
    Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
  };
  const manifest = JSON.parse(readFileSync(join(assemblyDir, `${stack.artifactId}.assets.json`), 'utf8')) as {
    files: Record<string, { source: { path: string }; destinations: Record<string, { objectKey: string }> }>;
  };
  const assetByKey = new Map<string, string>();
  for (const file of Object.values(manifest.files)) {
    for (const destination of Object.values(file.destinations)) {
      assetByKey.set(destination.objectKey, join(assemblyDir, file.source.path));
    }
  }
  const secret = template.Resources[secretLogicalId]!.Properties.GenerateSecretString as Record<
    string,
    string
  >;
  secretPlaceholder = JSON.stringify({
    ...JSON.parse(secret.SecretStringTemplate!),
    [secret.GenerateStringKey!]: 'x1Y2z3',
  });

  const bundleOf = ({ function: fn }: GatewayFunction): Bundle => {
    const logicalId = stack.getLogicalId(fn.node.defaultChild as never);
    const resource = template.Resources[logicalId]!;
    expect(resource.Type).toBe('AWS::Lambda::Function');
    const p = resource.Properties;
    const key = (p.Code as { S3Key: string }).S3Key;
    return {
      logicalId,
      assetDir: assetByKey.get(key)!,
      handler: p.Handler as string,
      timeoutSeconds: p.Timeout as number,
      memorySize: p.MemorySize as number,
      environment: (p.Environment as { Variables: Record<string, unknown> }).Variables,
    };
  };
  bundles = {} as Record<FunctionName, Bundle>;
  bundlesByFolder = new Map();
  const add = (folder: string, bundle: Bundle) => {
    // Routes of one handler folder are one function (one bundle), as the stack builds them.
    expect(bundlesByFolder.get(folder)?.logicalId ?? bundle.logicalId, folder).toBe(bundle.logicalId);
    bundlesByFolder.set(folder, bundle);
  };
  for (const [name, fn] of Object.entries(stack.functions) as [FunctionName, GatewayFunction][]) {
    bundles[name] = bundleOf(fn);
    add(handlerFolderOf(name), bundles[name]);
  }
  if (stack.operatorConsole) add('console', bundleOf(stack.operatorConsole.pageFunction));
  if (stack.jobEvents.deliver) add('deliver-webhook', bundleOf(stack.jobEvents.deliver));
}

/** The template's environment, with the deployed DANAConnect URL, secret and pipeline swapped for local ones. */
function localEnvironment(bundle: Bundle, secretId: string): Record<string, string> {
  const localValues = {
    JOBS_TABLE_NAME: local.tableName,
    QUEUE_URL: local.queueUrl,
    BUCKET_NAME: local.bucketName,
  };
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(bundle.environment)) {
    if (name in pipelineRefs) {
      const variable = name as keyof typeof pipelineRefs;
      expect(value, `${name} names the stack’s own resource`).toEqual(pipelineRefs[variable]);
      env[name] = localValues[variable];
    } else if (name === 'DANA_SECRET_ID') {
      expect(value, 'the secret id is the stack’s own secret').toEqual({ Ref: secretLogicalId });
      env[name] = secretId;
    } else if (name === 'DANA_BASE_URL') {
      expect(value).toBe('https://appserv.danaconnect.com');
      env[name] = sandbox.url;
    } else {
      expect(typeof value, name).toBe('string');
      env[name] = value as string;
    }
  }
  return env;
}

/** Runs one bundled function once, in a fresh Node process, as Lambda would. */
async function invoke(
  name: FunctionName,
  event: unknown,
  options: { secretId?: string } = {},
): Promise<Invocation> {
  const bundle = bundles[name];
  const id = randomUUID();
  const eventFile = join(workDir, `${id}.event.json`);
  const resultFile = join(workDir, `${id}.result.json`);
  writeFileSync(eventFile, JSON.stringify(event));
  const functionName = `DanaGateway-prod-${bundle.logicalId}`;
  const child = spawn(process.execPath, [join(workDir, 'run-handler.mjs'), eventFile, resultFile], {
    cwd: bundle.assetDir,
    // Nothing from this test process: only what the template sets, plus what the Lambda runtime would.
    env: {
      PATH: process.env.PATH,
      ...localEnvironment(bundle, options.secretId ?? secretArn),
      AWS_REGION: REGION,
      AWS_DEFAULT_REGION: REGION,
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_ENDPOINT_URL: inject('motoEndpoint'),
      AWS_LAMBDA_FUNCTION_NAME: functionName,
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(bundle.memorySize),
      LAMBDA_TASK_ROOT: bundle.assetDir,
      _HANDLER: bundle.handler,
      TZ: 'UTC',
      TEST_TIMEOUT_MS: String(bundle.timeoutSeconds * 1000),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  relayOutput(child);
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const killer = setTimeout(() => child.kill('SIGKILL'), bundle.timeoutSeconds * 1000);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearTimeout(killer);
  expect(existsSync(resultFile), `${name} produced no result (exit ${code}):\n${output}`).toBe(true);
  // Whatever happened, nothing secret reached the function's output.
  expect(output).not.toContain(DEMO_USER.password);
  expect(output).not.toContain(DEMO_BASIC.slice('Basic '.length));
  return { ...(JSON.parse(readFileSync(resultFile, 'utf8')) as Omit<Invocation, 'output'>), output };
}

const s3 = new S3Client({ endpoint: inject('motoEndpoint'), region: REGION, forcePathStyle: true });
const sqs = new SQSClient({ endpoint: inject('motoEndpoint'), region: REGION });
const dynamo = new DynamoDBClient({ endpoint: inject('motoEndpoint'), region: REGION });

/** The jobs table (as the stack defines it), a versioned bucket and the chunk queue, in moto_server. */
async function createLocalResources(): Promise<LocalResources> {
  const suffix = randomUUID().slice(0, 8);
  const tableName = `bundled-jobs-${suffix}`;
  await createJobsTable(dynamo, tableName);
  const bucketName = `bundled-jobs-${suffix}`;
  await s3.send(new CreateBucketCommand({ Bucket: bucketName }));
  await s3.send(
    new PutBucketVersioningCommand({ Bucket: bucketName, VersioningConfiguration: { Status: 'Enabled' } }),
  );
  const queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: `bundled-chunks-${suffix}` })))
    .QueueUrl!;
  const attributes = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }),
  );
  return { tableName, bucketName, queueUrl, queueArn: attributes.Attributes!.QueueArn! };
}

/** Every message now on the chunk queue (received, not yet deleted). */
async function receiveAll(): Promise<Message[]> {
  const out: Message[] = [];
  for (;;) {
    const answer = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: local.queueUrl,
        MaxNumberOfMessages: 10,
        VisibilityTimeout: 300,
        MessageSystemAttributeNames: ['All'],
      }),
    );
    if (!answer.Messages?.length) return out;
    out.push(...answer.Messages);
  }
}

const apiCalls = () => sandbox.received().filter((r) => r.path.startsWith('/api/'));

function httpAnswer(invocation: Invocation): {
  statusCode: number;
  body: unknown;
  headers: Record<string, string>;
} {
  expect(invocation.outcome, invocation.stack ?? invocation.output).toBe('returned');
  const result = invocation.result as { statusCode: number; body: string; headers: Record<string, string> };
  return { statusCode: result.statusCode, headers: result.headers, body: JSON.parse(result.body) };
}

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), 'bundled-functions-'));
  writeFileSync(join(workDir, 'run-handler.mjs'), RUNNER);
  // One synth for every case: the cdk.json app exactly as `cdk synth` builds it, bundling included.
  const built = buildGatewayApp({ outdir: join(workDir, 'cdk.out'), context: cdkJsonContext() });
  stack = built.stack;
  secretLogicalId = stack.getLogicalId(stack.secret.created!.node.defaultChild as never);
  const assembly = built.app.synth();
  readBundles(assembly.directory);
  const refOf = (construct: { node: { defaultChild?: unknown } }) => ({
    Ref: stack.getLogicalId(construct.node.defaultChild as never),
  });
  pipelineRefs = {
    JOBS_TABLE_NAME: refOf(stack.batch.table.table),
    QUEUE_URL: refOf(stack.batch.chunks.queue),
    BUCKET_NAME: refOf(stack.batch.bucket.bucket),
  };
  local = await createLocalResources();

  const secrets = new SecretsManagerClient({ endpoint: inject('motoEndpoint'), region: REGION });
  const created = await secrets.send(
    new CreateSecretCommand({
      Name: `dana-gateway-test/${randomUUID()}`,
      SecretString: JSON.stringify(DEMO_USER),
    }),
  );
  secretArn = created.ARN!;
  const placeholder = await secrets.send(
    new CreateSecretCommand({ Name: `dana-gateway-test/${randomUUID()}`, SecretString: secretPlaceholder }),
  );
  placeholderSecretArn = placeholder.ARN!;
  secrets.destroy();
}, 120_000);

afterAll(async () => {
  for (const client of [s3, sqs, dynamo]) client.destroy();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

// A DANAConnect of its own for each test: its records (ids from 3663) and calls are only that test's.
beforeEach(async () => {
  sandbox = await startSandbox();
});
afterEach(async () => {
  // What the bundles sent upstream is handed to the log audit.
  rememberCredentialsSeenBy(sandbox);
  await sandbox.close();
});

/** The vendor's record (fixtures/api-gateway) as start-data creates it and start-record then updates it. */
const DANA_RECORD = { NAME: 'Dana', EMAIL: 'support@danaconnect.com' };
const DANA_RECORD_UPDATED = {
  ...DANA_RECORD,
  PHONE_NUMBER: '+19546441233',
  RECEIPT_FILE: 's3://Receipt/receipt-example.pdf',
};

describe('the bundles in the cloud assembly', () => {
  it('one ESM bundle per function, with its source map and esbuild metafile, the AWS SDK inside', () => {
    expect(Object.keys(bundles).sort()).toEqual(
      [...ROUTES.map((r) => r.name), 'ingest-upload', 'process-chunk'].sort(),
    );
    // Every function once: the routes' (shared folders once), the batch pipeline's, the console page's and,
    // with webhooks configured, deliver-webhook.
    expect([...bundlesByFolder.keys()].sort()).toEqual(
      [
        ...new Set(Object.keys(bundles).map((name) => handlerFolderOf(name as FunctionName))),
        ...(stack.operatorConsole ? ['console'] : []),
        ...(stack.jobEvents.deliver ? ['deliver-webhook'] : []),
      ].sort(),
    );
    expect(new Set([...bundlesByFolder.values()].map((b) => b.logicalId)).size).toBe(bundlesByFolder.size);
    const danaCallerFolders = new Set([...DANA_CALLERS].map(handlerFolderOf));
    for (const [folder, bundle] of bundlesByFolder) {
      expect(bundle.handler, folder).toBe('index.handler');
      expect(readdirSync(bundle.assetDir).sort(), folder).toEqual([
        // The console's built page, put beside its handler after bundling.
        ...(folder === 'console' ? ['console'] : []),
        'index.meta.json',
        'index.mjs',
        'index.mjs.map',
      ]);
      const code = readFileSync(join(bundle.assetDir, 'index.mjs'), 'utf8');
      expect(code, folder).toMatch(/\/\/# sourceMappingURL=index\.mjs\.map\s*$/);
      // Nothing is left for the runtime to resolve: no bare imports of packages.
      expect(code, folder).not.toMatch(/from\s*["'](@aws-sdk|@aws-lambda-powertools|@middy)\//);
      const meta = JSON.parse(readFileSync(join(bundle.assetDir, 'index.meta.json'), 'utf8')) as {
        inputs: Record<string, unknown>;
      };
      const inputs = Object.keys(meta.inputs);
      expect(
        inputs.some((i) => i.endsWith(`lambdas/${folder}/handler.ts`)),
        folder,
      ).toBe(true);
      // A function that cannot read the secret does not carry the code to read it, nor the DANAConnect client.
      const bundlesSecretsManager = inputs.some((i) =>
        i.includes('node_modules/@aws-sdk/client-secrets-manager/'),
      );
      const bundlesDanaClient = inputs.some((i) => i.endsWith('lambdas/core/dana-client.ts'));
      expect(bundlesSecretsManager, folder).toBe(
        danaCallerFolders.has(folder) || OWN_SECRET_READERS.has(folder),
      );
      expect(bundlesDanaClient, folder).toBe(danaCallerFolders.has(folder));
    }
  });
});

describe('each bundled function, in a fresh Node process, against moto and the sandbox', () => {
  it('start-data creates record 3663 with the vendor body, using the credentials from the secret', async () => {
    const event = apiGatewayEvent('start-data');
    const answer = httpAnswer(await invoke('start-data', event));
    expect(answer.statusCode).toBe(200);
    expect(answer.body).toEqual({ wsResult: { idResult: 3663, resultDescription: 'OK' } });
    expect(answer.headers['X-Request-Id']).toBe(event.requestContext.requestId);
    expect(apiCalls()).toMatchObject([
      {
        method: 'POST',
        path: '/api/1.0/rest/conversation/1001/start/data',
        authorization: DEMO_BASIC,
        body: { NAME: 'Dana', EMAIL: 'support@danaconnect.com' },
      },
    ]);
  });

  it('start-data-by-project starts a record through project 77', async () => {
    await existingRecords(sandbox, DANA_RECORD); // 3663
    const answer = httpAnswer(
      await invoke('start-data-by-project', apiGatewayEvent('start-data-by-project')),
    );
    expect(answer.statusCode).toBe(200);
    expect(answer.body).toEqual({ wsResult: { idResult: 3664, resultDescription: 'OK' } });
    expect(apiCalls()).toMatchObject([
      { method: 'POST', path: '/api/1.0/rest/conversation/ProjectID/77/start/data' },
    ]);
  });

  it('start-batch starts two records, one envelope each, in order', async () => {
    await existingRecords(sandbox, DANA_RECORD, DANA_RECORD); // 3663 and 3664
    const answer = httpAnswer(await invoke('start-batch', apiGatewayEvent('start-batch')));
    expect(answer.statusCode).toBe(200);
    expect(answer.body).toEqual([
      { wsResult: { idResult: 3665, resultDescription: 'OK' } },
      { wsResult: { idResult: 3666, resultDescription: 'OK' } },
    ]);
    const [call, ...more] = apiCalls();
    expect(more).toEqual([]);
    expect(call).toMatchObject({ path: '/api/1.0/rest/conversation/1001/start/list/data' });
    expect((call!.body as unknown[]).length).toBe(2);
  });

  it('start-record updates record 3663 and starts it', async () => {
    await existingRecords(sandbox, DANA_RECORD);
    const answer = httpAnswer(await invoke('start-record', apiGatewayEvent('start-record')));
    expect(answer.statusCode).toBe(200);
    expect(answer.body).toEqual({ wsResult: { idResult: 0, resultDescription: 'OK' } });
    expect(apiCalls()).toMatchObject([
      {
        path: '/api/1.0/rest/conversation/1001/start/record/3663',
        body: { PHONE_NUMBER: '+19546441233', RECEIPT_FILE: 's3://Receipt/receipt-example.pdf' },
      },
    ]);
  });

  it('get-contact-data returns the requested fields of record 3663', async () => {
    await existingRecords(sandbox, DANA_RECORD_UPDATED); // 3663, link code lc-3663
    const answer = httpAnswer(await invoke('get-contact-data', apiGatewayEvent('get-contact-data')));
    expect(answer.statusCode).toBe(200);
    expect((answer.body as { record: unknown }).record).toEqual({
      NAME: 'Dana',
      EMAIL: 'support@danaconnect.com',
      PHONE_NUMBER: '+19546441233',
    });
    expect(apiCalls()).toMatchObject([
      {
        method: 'GET',
        path: '/api/1.0/rest/conversation/data/lc-3663',
        query: { fields: 'NAME,EMAIL,PHONE_NUMBER' },
      },
    ]);
  });

  it('start-list over HTTP starts the list', async () => {
    const answer = httpAnswer(await invoke('start-list', apiGatewayEvent('start-list')));
    expect(answer.statusCode).toBe(200);
    expect(answer.body).toEqual({ wsResult: { idResult: 0, resultDescription: 'OK' } });
    expect(apiCalls()).toMatchObject([
      { method: 'POST', path: '/api/1.0/rest/conversation/1001/start/list' },
    ]);
  });

  it('start-list takes the scheduled start the rules send, and logs it as JSON', async () => {
    const invocation = await invoke('start-list', scheduledStartEvent());
    expect(invocation.outcome, invocation.stack).toBe('returned');
    expect(invocation.result).toEqual({ wsResult: { idResult: 0, resultDescription: 'OK' } });
    expect(apiCalls()).toMatchObject([
      { method: 'POST', path: '/api/1.0/rest/conversation/1001/start/list', authorization: DEMO_BASIC },
    ]);
    const done = invocation.output
      .split('\n')
      .filter((line) => line.startsWith('{') && line.includes('scheduled start done'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(done).toEqual([
      expect.objectContaining({
        schedule: 'monday-reminders',
        conversationId: 1001,
        service: 'dana-gateway-prod',
      }),
    ]);
  });

  it('a scheduled start DANAConnect refuses fails the invocation, with a source-mapped stack', async () => {
    const invocation = await invoke('start-list', {
      scheduledStart: { name: 'stale', conversationId: 9999 },
    });
    expect(invocation.outcome).toBe('threw');
    expect(invocation.errorName).toBe('DanaError');
    // --enable-source-maps (NODE_OPTIONS from the template) maps the minified bundle back to the TypeScript.
    expect(invocation.stack).toMatch(/lambdas\/core\/dana-client\.ts:\d+:\d+/);
    expect(apiCalls()).toHaveLength(1);
  });

  it('the placeholder of the secret the stack creates is refused before anything is sent', async () => {
    const invocation = await invoke('start-list', apiGatewayEvent('start-list'), {
      secretId: placeholderSecretArn,
    });
    const answer = httpAnswer(invocation);
    expect(answer.statusCode).toBe(500);
    expect(answer.body).toMatchObject({ wsError: { idError: 9500 } });
    expect(sandbox.received()).toEqual([]);
    // The log names what to fix (a key of the secret), never the secret's value.
    const problems = invocation.output
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => (JSON.parse(line) as { problem?: string }).problem)
      .filter(Boolean);
    expect(problems).toEqual([expect.stringContaining('"username" is missing')]);
    expect(invocation.output).not.toContain('x1Y2z3');
  });
});

describe('the batch pipeline’s bundles, against moto and the sandbox', () => {
  it('an upload: ingest-upload queues its valid rows in chunks, process-chunk starts them, the report is in S3', async () => {
    const rows = ['ID,EMAIL'];
    for (let i = 1; i <= 12; i++) rows.push(`${i},user${i}@example.com`);
    rows.push(`13,"${'x'.repeat(4001)}"`);
    const body = rows.join('\r\n') + '\r\n';
    const key = 'uploads/1001/lista de marzo.csv';
    const put = await s3.send(new PutObjectCommand({ Bucket: local.bucketName, Key: key, Body: body }));
    const object = { key, versionId: put.VersionId!, etag: put.ETag!.replace(/"/g, ''), size: body.length };

    const ingested = await invoke('ingest-upload', s3PutEvent(local.bucketName, object, REGION));
    expect(ingested.outcome, ingested.stack ?? ingested.output).toBe('returned');
    const messages = await receiveAll();
    const chunks = messages.map((m) => JSON.parse(m.Body!) as ChunkMessage);
    const jobId = uploadJobId({ bucket: local.bucketName, ...object });
    expect(chunks.map((c) => [c.jobId, c.rows.length]).sort()).toEqual([
      [jobId, 10],
      [jobId, 2],
    ]);
    expect(sandbox.received()).toEqual([]);

    // The event source mapping's part: one message per invocation, deleted unless reported as failed.
    for (const message of messages) {
      const invocation = await invoke('process-chunk', sqsEvent([message], local.queueArn));
      expect(invocation.outcome, invocation.stack ?? invocation.output).toBe('returned');
      expect((invocation.result as SQSBatchResponse).batchItemFailures).toEqual([]);
      await sqs.send(
        new DeleteMessageCommand({ QueueUrl: local.queueUrl, ReceiptHandle: message.ReceiptHandle! }),
      );
    }
    const calls = batchCalls(sandbox);
    expect(calls.map((c) => [c.path, c.authorization, (c.body as unknown[]).length]).sort()).toEqual([
      ['/api/1.0/rest/conversation/1001/start/list/data', DEMO_BASIC, 10],
      ['/api/1.0/rest/conversation/1001/start/list/data', DEMO_BASIC, 2],
    ]);

    const jobs = new DynamoJobStore({ client: dynamo, tableName: local.tableName });
    const bucket = new S3ObjectStore(s3, { bucket: local.bucketName });
    const { rows: report, summary } = await expectCompleteReport(
      jobs,
      bucket,
      jobId,
      '1001',
      // Reports are named after the full file name, extension included (lambdas/core/upload/key.ts).
      'lista de marzo.csv',
      13,
    );
    expect(summary).toMatchObject({ total: 13, started: 12, rejected: 1, failed: 0 });
    expect(report[12]).toMatchObject({ row: 13, status: 'rejected' });

    // get-job reads the same job from the table: no secret, no DANAConnect. An upload job belongs to no API
    // caller: an operator (a console user, Cognito) reads it.
    const event = apiGatewayEvent('get-job');
    event.requestContext.identity.userArn = null;
    event.requestContext.authorizer = {
      claims: { sub: 'operator-1', iss: 'https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Ops' },
    };
    event.path = `/jobs/${jobId}`;
    event.pathParameters = { jobId };
    const answer = httpAnswer(await invoke('get-job', event));
    expect(answer.statusCode).toBe(200);
    expect(answer.body).toMatchObject({
      jobId,
      state: 'done',
      total: 13,
      started: 12,
      rejected: 1,
      failed: 0,
    });
    expect((answer.body as { outcomes: unknown[] }).outcomes).toEqual(report);
    expect(apiCalls()).toHaveLength(2);
  });

  it('Prefer: respond-async: start-data queues a job and answers 202; process-chunk starts it; get-job shows it', async () => {
    const event = withHeader(apiGatewayEvent('start-data'), 'Prefer', 'respond-async');
    const accepted = httpAnswer(await invoke('start-data', event));
    expect(accepted.statusCode).toBe(202);
    const { jobId } = accepted.body as { jobId: string };
    expect(accepted.headers.Location).toMatch(new RegExp(`/jobs/${jobId}$`));
    expect(sandbox.received()).toEqual([]);

    const messages = await receiveAll();
    expect(messages.map((m) => (JSON.parse(m.Body!) as ChunkMessage).jobId)).toEqual([jobId]);
    const invocation = await invoke('process-chunk', sqsEvent([messages[0]!], local.queueArn));
    expect((invocation.result as SQSBatchResponse).batchItemFailures, invocation.output).toEqual([]);
    await sqs.send(
      new DeleteMessageCommand({ QueueUrl: local.queueUrl, ReceiptHandle: messages[0]!.ReceiptHandle! }),
    );
    expect(apiCalls()).toMatchObject([
      {
        method: 'POST',
        path: '/api/1.0/rest/conversation/1001/start/data',
        body: { NAME: 'Dana', EMAIL: 'support@danaconnect.com' },
      },
    ]);

    const view = apiGatewayEvent('get-job');
    view.path = `/jobs/${jobId}`;
    view.pathParameters = { jobId };
    const answer = httpAnswer(await invoke('get-job', view));
    expect(answer.body).toMatchObject({
      jobId,
      state: 'done',
      total: 1,
      started: 1,
      outcomes: [{ row: 1, status: 'started', idResult: expect.any(Number) }],
    });
  });

  it('create-upload signs a form with the bundled presigner; a file posted through it lands in the bucket', async () => {
    const event = apiGatewayEvent('get-job');
    Object.assign(event, {
      httpMethod: 'POST',
      resource: '/uploads',
      path: '/uploads',
      pathParameters: null,
    });
    event.headers['Content-Type'] = 'application/json';
    event.body = JSON.stringify({ conversation: '1001', fileName: 'bundled.csv', contentLength: 11 });
    const created = httpAnswer(await invoke('create-upload', event));
    expect(created.statusCode).toBe(201);
    const { key, upload } = created.body as {
      key: string;
      upload: { url: string; fields: Record<string, string> };
    };
    expect(key).toMatch(/^uploads\/1001\/\d{8}T\d{6}Z-[0-9a-f]{8}\/bundled\.csv$/);
    const form = new FormData();
    for (const [name, value] of Object.entries(upload.fields)) form.append(name, value);
    form.append('file', new Blob(['NAME\r\nAda\r\n']), 'bundled.csv');
    expect((await fetch(upload.url, { method: 'POST', body: form })).status).toBeLessThan(300);
    const head = await s3.send(new HeadObjectCommand({ Bucket: local.bucketName, Key: key }));
    expect(head.ContentLength).toBe(11);
  });
});
