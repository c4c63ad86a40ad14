/**
 * Where the batch pipeline keeps its state, built from the environment in one place for every function that
 * needs it (the async HTTP routes, get-job, ingest-upload, process-chunk):
 *
 * | part      | environment                               | AWS               | embedded twin (local run) |
 * |-----------|-------------------------------------------|-------------------|---------------------------|
 * | jobs      | JOBS_TABLE_NAME                           | DynamoJobStore    | MemoryJobStore            |
 * | queue     | QUEUE_URL                                 | SqsChunkQueue     | MemoryChunkQueue          |
 * | bucket    | BUCKET_NAME (BUCKET_SSE, BUCKET_KMS_KEY_ID) | S3ObjectStore   | FolderObjectStore         |
 * | limiter   | JOBS_TABLE_NAME, DANA_RATE_LIMIT_PER_SECOND | DynamoRateLimiter | MemoryRateLimiter       |
 *
 * Each part is built on first use and kept for the execution environment (one SDK client per service), and only
 * the parts a function uses must be configured: get-job needs the table alone. A missing variable is a
 * ConfigurationError naming it.
 *
 * A local run (`npm start`, tests) installs its embedded twins with `useLocalJobDeps`; installed parts win over
 * the environment. The hook lives on globalThis, not in this module, so it also reaches handler modules that were
 * loaded afresh (tests reload handlers to get a new execution environment).
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { ConfigurationError } from '../core/errors';
import { awsClientConfig } from './aws-clients';
import type { AliasStore } from '../core/aliases';
import type { IdempotencyStore } from '../core/idempotency';
import type { ChunkQueue, JobStore, ObjectStore } from '../core/jobs';
import { maxWaitFromEnv, rateFromEnv, type RateLimiter } from '../core/pacing';
import { DynamoIdempotencyStore } from './dynamo-idempotency-store';
import { DynamoJobStore } from './dynamo-job-store';
import { DynamoRateLimiter } from './dynamo-rate-limiter';
import { s3ObjectStoreFromEnv } from './s3-object-store';
import { SqsChunkQueue } from './sqs-queue';

export interface JobDeps {
  jobs(): JobStore;
  queue(): ChunkQueue;
  bucket(): ObjectStore;
  limiter(): RateLimiter;
}

/** The parts a local run provides instead of AWS. */
export interface LocalJobDeps {
  jobs?: JobStore;
  queue?: ChunkQueue;
  bucket?: ObjectStore;
  limiter?: RateLimiter;
  /** The Idempotency-Key records of the async HTTP routes (MemoryIdempotencyStore). */
  idempotency?: IdempotencyStore;
  /** Conversation aliases (MemoryAliasStore), in the same process as the jobs (./alias-deps.ts). */
  aliases?: AliasStore;
}

/** SDK clients to use instead of new ones (tests point them at moto). */
export interface JobAwsClients {
  dynamo?: DynamoDBClient;
  s3?: S3Client;
  sqs?: SQSClient;
}

const LOCAL_KEY = Symbol.for('dana-gateway.local-job-deps');
type Holder = { [LOCAL_KEY]?: LocalJobDeps };
const holder = globalThis as Holder;

/**
 * Installs the embedded twins for this process (a local run); returns what puts back the previous ones, so runs
 * nest and tests clean up. Parts left out still come from the environment.
 */
export function useLocalJobDeps(deps: LocalJobDeps): () => void {
  const previous = holder[LOCAL_KEY];
  holder[LOCAL_KEY] = deps;
  return () => {
    if (previous === undefined) delete holder[LOCAL_KEY];
    else holder[LOCAL_KEY] = previous;
  };
}

function required(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (!value) throw new ConfigurationError(`${name} is not set`);
  return value;
}

const installed = () => holder[LOCAL_KEY];

/** The twins a local run installed, if any (for factories kept in their own modules, e.g. ./alias-deps.ts). */
export const installedLocalJobDeps = installed;

/*
 * One factory per part, each returning a getter that builds the part on first use: a function imports only the
 * factories it calls, so its bundle holds only those SDK clients (the sync HTTP routes none, get-job DynamoDB).
 */

/** The job store: the installed twin, else DynamoJobStore on JOBS_TABLE_NAME. */
export function jobStoreFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  client?: DynamoDBClient,
): () => JobStore {
  let built: JobStore | undefined;
  return () =>
    installed()?.jobs ??
    (built ??= new DynamoJobStore({
      client: client ?? new DynamoDBClient(awsClientConfig('dynamodb')),
      tableName: required(env, 'JOBS_TABLE_NAME'),
    }));
}

/** The chunk queue: the installed twin, else SqsChunkQueue on QUEUE_URL. */
export function chunkQueueFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  client?: SQSClient,
): () => ChunkQueue {
  let built: ChunkQueue | undefined;
  return () =>
    installed()?.queue ??
    (built ??= new SqsChunkQueue(
      client ?? new SQSClient(awsClientConfig('sqs')),
      required(env, 'QUEUE_URL'),
    ));
}

/** The bucket: the installed twin, else S3ObjectStore on BUCKET_NAME. */
export function bucketFromEnv(env: NodeJS.ProcessEnv = process.env, client?: S3Client): () => ObjectStore {
  let built: ObjectStore | undefined;
  return () => {
    const twin = installed()?.bucket;
    if (twin) return twin;
    required(env, 'BUCKET_NAME');
    return (built ??= s3ObjectStoreFromEnv(client ?? new S3Client(awsClientConfig('s3')), env));
  };
}

/** The rate limiter: the installed twin, else DynamoRateLimiter (one item in the jobs table). */
export function rateLimiterFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  client?: DynamoDBClient,
): () => RateLimiter {
  let built: RateLimiter | undefined;
  return () =>
    installed()?.limiter ??
    (built ??= new DynamoRateLimiter({
      client: client ?? new DynamoDBClient(awsClientConfig('dynamodb')),
      tableName: required(env, 'JOBS_TABLE_NAME'),
      ratePerSecond: rateFromEnv(env),
      maxWaitMs: maxWaitFromEnv(env),
    }));
}

/**
 * The Idempotency-Key records of the async HTTP routes: the installed twin, else DynamoIdempotencyStore, one item
 * per key in the jobs table (JOBS_TABLE_NAME), so a deployment that has jobs has them too.
 */
export function idempotencyStoreFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  client?: DynamoDBClient,
): () => IdempotencyStore {
  let built: IdempotencyStore | undefined;
  return () =>
    installed()?.idempotency ??
    (built ??= new DynamoIdempotencyStore({
      client: client ?? new DynamoDBClient(awsClientConfig('dynamodb')),
      tableName: required(env, 'JOBS_TABLE_NAME'),
    }));
}

/** Every part, for the batch functions (ingest-upload, process-chunk); one DynamoDB client for table and limiter. */
export function jobDepsFromEnv(env: NodeJS.ProcessEnv = process.env, clients: JobAwsClients = {}): JobDeps {
  // Both batch functions use the table on every invocation: no point deferring this client.
  const dynamo = clients.dynamo ?? new DynamoDBClient(awsClientConfig('dynamodb'));
  return {
    jobs: jobStoreFromEnv(env, dynamo),
    queue: chunkQueueFromEnv(env, clients.sqs),
    bucket: bucketFromEnv(env, clients.s3),
    limiter: rateLimiterFromEnv(env, dynamo),
  };
}
