/**
 * The cost benchmark's run, in a process of its own: contacts through the REAL ingest, HTTP and worker code against
 * moto_server (behind the test harness's AWS proxy, which gives DynamoDB its per-item atomicity), every AWS request
 * counted by the SDK meter (../lib/aws-meter.ts) under the name of the Lambda function (or other party) that made
 * it, and every invocation timed. BENCH_COST holds the CostConfig (../lib/cost-types.ts).
 *
 * - upload: a CSV of `rows` rows is PUT to the bucket (by the customer: label `client`), the ingest-upload handler
 *   gets the S3 event, and its chunks go to the queue;
 * - async: `rows / 10` POST start/list/data requests (10 records each) with `Prefer: respond-async` and an
 *   Idempotency-Key go through the start-batch handler, each making a job of one chunk.
 *
 * Then the worker drains the queue as Lambda's SQS event source would: `workerConcurrency` execution environments
 * (each its own handler, limiter and secret cache), each receiving up to `workerBatchSize` messages (label `esm`:
 * the event source's own requests are on the account's bill too), invoking the handler and deleting what succeeded.
 */
import { randomUUID } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import {
  CreateBucketCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { awsClientConfig, type AwsService } from '../../lambdas/adapters/aws-clients';
import { DynamoIdempotencyStore } from '../../lambdas/adapters/dynamo-idempotency-store';
import { DynamoJobStore } from '../../lambdas/adapters/dynamo-job-store';
import { useLocalJobDeps } from '../../lambdas/adapters/job-deps';
import { SqsChunkQueue } from '../../lambdas/adapters/sqs-queue';
import { ingestDepsFromEnv, ingestUploadHandler } from '../../lambdas/ingest-upload/handler';
import { DEMO_USER } from '../../local/sandbox/server';
import { apiGatewayEvent, lambdaContext, s3PutEvent, withBody, withHeader } from '../../test/fixtures/events';
import { createJobsTable } from '../../test/integration/job-store-table';
import { createChunkQueues } from '../../test/integration/sqs-harness';
import { meter } from '../lib/aws-meter';
import type { CostConfig, CostRun, FunctionUse } from '../lib/cost-types';
import { reportResult } from '../lib/proc';
import { drainQueue } from './cost-worker';

meter.install();
const cfg = JSON.parse(process.env.BENCH_COST!) as CostConfig;
const suffix = randomUUID().slice(0, 8);
const names = { table: `jobs-${suffix}`, bucket: `jobs-${suffix}`, secret: `dana-${suffix}` };
const region = 'us-east-1';
const at = (service: AwsService) => ({ ...awsClientConfig(service), endpoint: cfg.awsUrl, region });
const clients = {
  dynamo: new DynamoDBClient(at('dynamodb')),
  s3: new S3Client({ ...at('s3'), forcePathStyle: true }),
  sqs: new SQSClient(at('sqs')),
};

const functions: Record<string, FunctionUse> = {};
/** Runs one invocation of `fn`: its AWS requests counted under its name, its duration billed as Lambda would. */
export async function invoke<T>(fn: string, body: () => Promise<T>): Promise<T> {
  const began = performance.now();
  try {
    return await meter.run(fn, body);
  } finally {
    const use = (functions[fn] ??= { invocations: 0, billedMs: 0 });
    use.invocations++;
    use.billedMs += Math.ceil(performance.now() - began);
  }
}

const logBytes: Record<string, number> = {};
/** Counts what the code writes to stdout/stderr by label: in Lambda that is CloudWatch Logs ingestion. */
function countLogs(): void {
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream) as (...args: unknown[]) => boolean;
    stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      const label = meter.label() ?? 'harness';
      logBytes[label] = (logBytes[label] ?? 0) + Buffer.byteLength(chunk);
      return write(chunk, ...rest);
    }) as typeof stream.write;
  }
}

/** The stack's resources in moto (not billed: `setup`), and the environment the stack gives the functions. */
async function setUp(): Promise<{ env: Record<string, string>; queueUrl: string; queueArn: string }> {
  return meter.run('setup', async () => {
    await createJobsTable(clients.dynamo, names.table);
    await clients.s3.send(new CreateBucketCommand({ Bucket: names.bucket }));
    const versioning = { Bucket: names.bucket, VersioningConfiguration: { Status: 'Enabled' as const } };
    await clients.s3.send(new PutBucketVersioningCommand(versioning));
    const { chunks } = await createChunkQueues(clients.sqs, suffix, 5);
    const secrets = new SecretsManagerClient({ endpoint: cfg.awsUrl, region });
    const secret = {
      username: DEMO_USER.username,
      companyCode: DEMO_USER.companyCode,
      password: DEMO_USER.password,
    };
    await secrets.send(new CreateSecretCommand({ Name: names.secret, SecretString: JSON.stringify(secret) }));
    const env = {
      JOBS_TABLE_NAME: names.table,
      QUEUE_URL: chunks.url,
      BUCKET_NAME: names.bucket,
      MAX_RECEIVE_COUNT: '5',
      DANA_RATE_LIMIT_PER_SECOND: String(cfg.rate),
      DANA_PACING_MAX_WAIT_MS: String(cfg.pacingMaxWaitMs),
      DANA_BASE_URL: cfg.danaUrl,
      DANA_SECRET_ID: names.secret,
      POWERTOOLS_SERVICE_NAME: 'dana-gateway-bench',
      POWERTOOLS_METRICS_NAMESPACE: 'DanaGateway',
      POWERTOOLS_LOG_LEVEL: 'INFO',
    };
    // Product code that builds its own clients (the secret's) reaches moto through the SDK's AWS_ENDPOINT_URL.
    Object.assign(process.env, env, { AWS_ENDPOINT_URL: cfg.awsUrl });
    return { env, queueUrl: chunks.url, queueArn: chunks.arn };
  });
}

function uploadCsv(rows: number): string {
  const lines = ['NAME,EMAIL'];
  for (let row = 1; row <= rows; row++) lines.push(`Contact ${row},c${row}.${suffix}@example.com`);
  return `${lines.join('\r\n')}\r\n`;
}

/** Lambda's attempts of an asynchronous invocation (S3 events): the first and two retries. */
const LAMBDA_ASYNC_ATTEMPTS = 3;

/** The customer's PUT (billed to the bucket's account), then one ingest-upload invocation on its S3 event. */
async function ingressUpload(env: Record<string, string>): Promise<number> {
  const key = `uploads/1001/bench-${suffix}.csv`;
  const put = await meter.run('client', () =>
    clients.s3.send(new PutObjectCommand({ Bucket: names.bucket, Key: key, Body: uploadCsv(cfg.rows) })),
  );
  const event = s3PutEvent(names.bucket, { key, versionId: put.VersionId!, etag: put.ETag! });
  const deps = ingestDepsFromEnv(env, clients);
  const logger = new Logger({
    serviceName: env.POWERTOOLS_SERVICE_NAME,
    persistentKeys: { operation: 'ingest-upload' },
  });
  const handler = ingestUploadHandler(() => deps, logger);
  // S3 invokes the ingest asynchronously: Lambda tries a failed invocation twice more (every attempt is billed).
  // A loaded moto can time out a request three times in a row; the handler then fails, as it should.
  for (let attempt = 1; ; attempt++) {
    try {
      await invoke('ingest-upload', () => handler(event));
      return 0;
    } catch (error) {
      if (attempt === LAMBDA_ASYNC_ATTEMPTS) throw error;
      console.error(
        `ingest attempt ${attempt} failed (${(error as Error).name}); invoked again, as Lambda would`,
      );
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
  }
}

type HttpHandler = (e: APIGatewayProxyEvent, c: Context) => Promise<{ statusCode: number; body: string }>;

/** `rows / 10` async start-batch requests, one after another, through the real handler; returns the 202s. */
async function ingressAsync(env: Record<string, string>): Promise<number> {
  useLocalJobDeps({
    jobs: new DynamoJobStore({ client: clients.dynamo, tableName: env.JOBS_TABLE_NAME! }),
    queue: new SqsChunkQueue(clients.sqs, env.QUEUE_URL!),
    idempotency: new DynamoIdempotencyStore({ client: clients.dynamo, tableName: env.JOBS_TABLE_NAME! }),
  });
  const { handler } = (await import('../../lambdas/start-batch/handler')) as unknown as {
    handler: HttpHandler;
  };
  let accepted = 0;
  for (let request = 0; request < cfg.rows / 10; request++) {
    const records = Array.from({ length: 10 }, (_, i) => {
      const row = request * 10 + i + 1;
      return { NAME: `Contact ${row}`, EMAIL: `c${row}.${suffix}@example.com` };
    });
    const event = withBody(apiGatewayEvent('start-batch'), JSON.stringify(records));
    withHeader(event, 'Prefer', 'respond-async');
    withHeader(event, 'Idempotency-Key', randomUUID());
    const answer = await invoke('start-batch', () => handler(event, lambdaContext('start-batch')));
    if (answer.statusCode === 202) accepted++;
    else throw new Error(`start-batch answered ${answer.statusCode}: ${answer.body}`);
  }
  return accepted;
}

/** Jobs' totals, read after the run (not billed: `harness`). */
async function totals(): Promise<{ started: number; failed: number; rejected: number }> {
  const jobs = new DynamoJobStore({ client: clients.dynamo, tableName: names.table });
  const sum = { started: 0, failed: 0, rejected: 0 };
  const depth = await clients.sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: process.env.QUEUE_URL, AttributeNames: ['All'] }),
  );
  if (Number(depth.Attributes?.ApproximateNumberOfMessages ?? 0) > 0)
    throw new Error('the queue is not empty');
  for (const jobId of jobIds) {
    const job = await jobs.getJob(jobId);
    if (job?.state !== 'done') throw new Error(`job ${jobId} is ${job?.state ?? 'missing'}`);
    sum.started += job.started;
    sum.failed += job.failed;
    sum.rejected += job.rejected;
  }
  return sum;
}

const jobIds = new Set<string>();

async function main(): Promise<void> {
  countLogs();
  const { env, queueUrl, queueArn } = await setUp();
  const ingressBegan = performance.now();
  const accepted = cfg.path === 'upload' ? await ingressUpload(env) : await ingressAsync(env);
  const ingressMs = performance.now() - ingressBegan;
  const workerBegan = performance.now();
  const pacing = { waitMs: 0, sleptMs: 0 };
  await drainQueue({ cfg, env, clients, queueUrl, queueArn, invoke, jobIds, pacing });
  const workerMs = performance.now() - workerBegan;
  const sums = await meter.run('harness', totals);
  const result: CostRun = {
    config: cfg,
    ...sums,
    ingressMs,
    workerMs,
    functions,
    pacing,
    meter: meter.entries(),
    logBytes,
    accepted,
  };
  reportResult(result);
}

await main();
