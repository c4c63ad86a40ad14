/**
 * The chunk worker's doorway: an SQS event source with ReportBatchItemFailures. Each record is one chunk
 * message, processed by core/worker (the records of one event concurrently: the rate limiter spaces the calls).
 * A message to come back later gets its visibility changed to the worker's delay and is reported as a batch item
 * failure; a malformed message or an unexpected error is reported as a failure with the queue's own visibility
 * timeout, and ends in the dead-letter queue after maxReceiveCount.
 *
 * Logs: one line per message with the message id as correlation id, the job and chunk ids, counts and the error
 * class; never row contents or DANAConnect's descriptions. Metrics: RowsStarted, RowsFailed, ChunksRetried,
 * ChunksDeadLettered, Errors (by error class).
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { S3Client } from '@aws-sdk/client-s3';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { danaClientFromEnv } from '../adapters/dana';
import { awsClientConfig } from '../adapters/aws-clients';
import { jobEventsFromEnv } from '../adapters/eventbridge-publisher';
import { jobDepsFromEnv } from '../adapters/job-deps';
import { countError, observabilityFor } from '../adapters/observability';
import { changeVisibility, sqsBatchHandler, sqsLambda } from '../adapters/sqs-batch';
import { deadlineOf } from '../core/deadline';
import { ConfigurationError, describeError } from '../core/errors';
import type { ChunkMessage } from '../core/jobs';
import {
  DEFAULT_RESEND_ON_5XX,
  parseChunkMessage,
  processChunk,
  RefusedChunkError,
  WORKER_CLIENT_RETRY,
  type ChunkResult,
  type WorkerDeps,
} from '../core/worker';

/** A claim outlives the invocation that made it by this much (clock skew between workers). */
const LEASE_MARGIN_MS = 60_000;
/** Without a Lambda context (local runs): Lambda's longest timeout. */
const DEFAULT_LEASE_MS = 15 * 60_000;
export const DEFAULT_MAX_RECEIVE_COUNT = 5;
/** SQS's longest message delay. */
const MAX_DELAY_SECONDS = 900;

export type ProcessFn = (
  message: ChunkMessage,
  receiveCount: number,
  context?: Context,
) => Promise<ChunkResult>;

export interface ChunkHandlerDeps {
  process: ProcessFn;
  sqs: SQSClient;
  /** The chunk queue, for ChangeMessageVisibility. */
  queueUrl: string;
  logger: Logger;
  metrics: Metrics;
}

/**
 * How long a claim may run: until this invocation has surely ended. `marginMs` is how long the claim outlives the
 * invocation's own timeout (LEASE_MARGIN_MS unless a test harness with short fake timeouts asks otherwise).
 */
export function leaseFor(context: Context | undefined, marginMs: number = LEASE_MARGIN_MS): number {
  const remaining = context?.getRemainingTimeInMillis?.();
  return typeof remaining === 'number' && remaining > 0 ? remaining + marginMs : DEFAULT_LEASE_MS;
}

export function maxReceiveCountFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.MAX_RECEIVE_COUNT;
  if (raw === undefined || raw === '') return DEFAULT_MAX_RECEIVE_COUNT;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) {
    throw new ConfigurationError('MAX_RECEIVE_COUNT must be a positive integer (the queue maxReceiveCount)');
  }
  return value;
}

type Log = Logger;
type Where = { jobId: string; chunkId: string; rows: number; receiveCount: number };

/** Sends the chunk again as a new message (the wait spends no receive); true when it must come back instead. */
async function requeueRecord(
  deps: ChunkHandlerDeps,
  record: SQSRecord,
  result: Extract<ChunkResult, { kind: 'requeue' }>,
  log: Log,
  where: Where,
): Promise<boolean> {
  const delaySeconds = Math.min(MAX_DELAY_SECONDS, Math.ceil(result.delayMs / 1000));
  try {
    await deps.sqs.send(
      new SendMessageCommand({
        QueueUrl: deps.queueUrl,
        MessageBody: record.body,
        DelaySeconds: delaySeconds,
      }),
    );
  } catch (error) {
    // Nothing is lost: this message comes back after its visibility timeout (spending a receive after all).
    log.warn('could not requeue the chunk', { ...where, ...describeError(error) });
    return true;
  }
  deps.metrics.addMetric('ChunksRequeued', MetricUnit.Count, 1);
  log.info('chunk requeued: nothing was claimed or sent', {
    ...where,
    retryInSeconds: delaySeconds,
    errorClass: result.errorClass,
  });
  return false;
}

/** Hands the message back to come again after the worker's delay (or on to the dead-letter queue). */
async function handBackRecord(
  deps: ChunkHandlerDeps,
  record: SQSRecord,
  result: Extract<ChunkResult, { kind: 'retry' }>,
  log: Log,
  where: Where,
): Promise<true> {
  deps.metrics.addMetric(result.deadLettered ? 'ChunksDeadLettered' : 'ChunksRetried', MetricUnit.Count, 1);
  const visibilityTimeout = Math.ceil(result.delayMs / 1000);
  await changeVisibility(deps.sqs, deps.queueUrl, record, visibilityTimeout, log, where);
  const line = { ...where, retryInSeconds: visibilityTimeout, errorClass: result.errorClass };
  if (result.deadLettered) {
    log.error('chunk dead-lettered: its rows are reported failed', {
      ...line,
      failed: result.outcomes.length,
    });
  } else log.warn('chunk handed back for a later try', line);
  return true;
}

/** One SQS record: true when it must be reported as a batch item failure (it comes back). */
async function handleRecord(deps: ChunkHandlerDeps, record: SQSRecord, context?: Context): Promise<boolean> {
  const log = deps.logger.createChild();
  log.setCorrelationId(record.messageId);
  const receiveCount = Number(record.attributes?.ApproximateReceiveCount) || 1;
  let message: ChunkMessage;
  try {
    message = parseChunkMessage(record.body);
  } catch (error) {
    countError(deps.metrics, error);
    log.error('malformed chunk message; it goes to the dead-letter queue after maxReceiveCount', {
      receiveCount,
      ...describeError(error),
    });
    return true;
  }
  const where = { jobId: message.jobId, chunkId: message.chunkId, rows: message.rows.length, receiveCount };
  let result: ChunkResult;
  try {
    result = await deps.process(message, receiveCount, context);
  } catch (error) {
    countError(deps.metrics, error);
    if (error instanceof RefusedChunkError) {
      // Its reason is a fixed text of the worker's (the ids were checked for shape before).
      log.error('chunk refused, nothing started; it goes to the dead-letter queue after maxReceiveCount', {
        ...where,
        ...describeError(error),
        reason: error.reason,
      });
      return true;
    }
    log.error('chunk failed; it comes back after the visibility timeout', {
      ...where,
      ...describeError(error),
    });
    return true;
  }
  if (result.kind === 'requeue') return requeueRecord(deps, record, result, log, where);
  const started = result.outcomes.filter((o) => o.status === 'started').length;
  const failed = result.outcomes.length - started;
  if (started > 0) deps.metrics.addMetric('RowsStarted', MetricUnit.Count, started);
  if (failed > 0) deps.metrics.addMetric('RowsFailed', MetricUnit.Count, failed);
  if (result.kind === 'retry') return handBackRecord(deps, record, result, log, where);
  log.info('chunk done', { ...where, started, failed, duplicate: result.outcomes.length === 0 });
  return false;
}

/** `BATCH_RESEND_ON_5XX` (comma-separated statuses, set by the stack from `batch.resendOn5xx`; default 503). */
export function resendOn5xxFromEnv(env: NodeJS.ProcessEnv = process.env): number[] {
  const raw = env.BATCH_RESEND_ON_5XX;
  if (raw === undefined) return [...DEFAULT_RESEND_ON_5XX];
  const statuses = raw === '' ? [] : raw.split(',').map(Number);
  if (statuses.some((s) => !Number.isInteger(s) || s < 500 || s > 599)) {
    throw new ConfigurationError(
      'BATCH_RESEND_ON_5XX must list HTTP statuses from 500 to 599, comma-separated',
    );
  }
  return statuses;
}

/** The batch handler, without middy: what a test or a local runner drives with an SQS event. */
export function chunkBatchHandler(deps: ChunkHandlerDeps) {
  return sqsBatchHandler((record, context) => handleRecord(deps, record, context));
}

export interface AwsClients {
  dynamo: DynamoDBClient;
  s3: S3Client;
  sqs: SQSClient;
  eventbridge: EventBridgeClient;
}

/**
 * The production wiring from the environment; clients are built once per execution environment. `options` lets
 * a test or a local runner hand in its own AWS clients (e.g. pointed at moto) and worker settings.
 */
export function chunkHandlerFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  options: {
    clients?: Partial<AwsClients>;
    worker?: Partial<Omit<WorkerDeps, 'leaseMs'>>;
    /**
     * How long a claim outlives its invocation's timeout (default LEASE_MARGIN_MS, 60 s, for clock skew between
     * workers). Only for harnesses that fake a short timeout (bench/soak): a crashed worker's chunks then come back
     * within seconds instead of a minute. Production leaves it unset.
     */
    leaseMarginMs?: number;
  } = {},
) {
  const { logger, metrics } = observabilityFor('process-chunk', env);
  const tableName = env.JOBS_TABLE_NAME;
  const queueUrl = env.QUEUE_URL;
  if (!tableName) throw new ConfigurationError('JOBS_TABLE_NAME is not set');
  if (!queueUrl) throw new ConfigurationError('QUEUE_URL is not set');
  const sqs = options.clients?.sqs ?? new SQSClient(awsClientConfig('sqs'));
  const deps = jobDepsFromEnv(env, { ...options.clients, sqs });
  const base: Omit<WorkerDeps, 'leaseMs'> = {
    client: danaClientFromEnv(env, {
      retry: WORKER_CLIENT_RETRY,
      onUpstreamCall: (info) =>
        metrics.addMetric('UpstreamLatency', MetricUnit.Milliseconds, info.durationMs),
    }),
    jobs: deps.jobs(),
    bucket: deps.bucket(),
    limiter: deps.limiter(),
    events: jobEventsFromEnv(env, options.clients?.eventbridge),
    maxReceiveCount: maxReceiveCountFromEnv(env),
    resendOn5xx: resendOn5xxFromEnv(env),
    ...options.worker,
  };
  const batch = chunkBatchHandler({
    process: (message, receiveCount, context) =>
      processChunk(
        {
          ...base,
          leaseMs: leaseFor(context, options.leaseMarginMs),
          deadline: deadlineOf(context, DEFAULT_LEASE_MS),
        },
        message,
        receiveCount,
      ),
    sqs,
    queueUrl,
    logger,
    metrics,
  });
  return sqsLambda(logger, metrics, batch);
}

/** Built on first use, so that importing this module (tests, the local runner) needs no environment. */
let built: ReturnType<typeof chunkHandlerFromEnv> | undefined;
export const handler = (event: SQSEvent, context: Context): Promise<SQSBatchResponse> =>
  (built ??= chunkHandlerFromEnv())(event, context);
