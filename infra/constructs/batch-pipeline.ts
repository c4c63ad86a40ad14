import { Duration, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { Construct } from 'constructs';
import type { BatchConfig } from '../config';
import { GatewayFunction, type FunctionDefaults } from './gateway-function';
import { JobsBucket } from './jobs-bucket';
import { JobsTable } from './jobs-table';
import { DeadLetterQueue, WorkQueue } from './queues';
import { DEFAULT_MAX_WAIT_MS } from '../../lambdas/core/pacing';
import { PROCESS_CHUNK_BATCH_SIZE, workerPacingWaitMs, workerTimeoutSeconds } from '../worker-budget';

/** The worker's timeout at the default pacing wait (5 s); see ../worker-budget.ts for how it is derived. */
export const PROCESS_CHUNK_TIMEOUT = Duration.seconds(workerTimeoutSeconds(DEFAULT_MAX_WAIT_MS));
export const PROCESS_CHUNK_MEMORY_MB = 512;
export { PROCESS_CHUNK_BATCH_SIZE };
/** Lambda's own retries of a failed ingest (S3 invokes asynchronously); the ingest is idempotent. */
export const INGEST_RETRY_ATTEMPTS = 2;

export interface BatchPipelineProps {
  config: BatchConfig;
  defaults: FunctionDefaults;
}

/**
 * Uploads and async API requests -> chunks in SQS -> paced, idempotent starts -> outcomes in the jobs table ->
 * reports in the bucket. Owns the bucket, the table, the chunk queue (and its dead-letter queue), the ingest and
 * worker functions and their grants; `grantEnqueue` and `grantReadJobs` let the HTTP functions in.
 */
export class BatchPipeline extends Construct {
  readonly bucket: JobsBucket;
  readonly table: JobsTable;
  readonly chunks: WorkQueue;
  /** S3 events whose ingest failed after Lambda's retries. */
  readonly ingestFailures: DeadLetterQueue;
  readonly ingest: GatewayFunction;
  readonly worker: GatewayFunction;

  constructor(scope: Construct, id: string, props: BatchPipelineProps) {
    super(scope, id);
    const { config, defaults } = props;
    // The pacing wait, the timeout, the lease and the visibility timeout agree: see ../worker-budget.ts.
    const pacingWaitMs = workerPacingWaitMs(config.rateLimitPerSecond, config.workerMaxConcurrency);
    const workerTimeout = Duration.seconds(workerTimeoutSeconds(pacingWaitMs));

    this.bucket = new JobsBucket(this, 'Jobs', {
      lifecycle: config.lifecycle,
      logRetention: defaults.logRetention,
    });
    this.table = new JobsTable(this, 'JobsTable');
    this.chunks = this.chunkQueue(config, workerTimeout, defaults);
    this.ingestFailures = this.ingestFailureQueue(defaults);
    this.ingest = this.ingestFunction(config, defaults);
    this.worker = this.workerFunction(config, defaults, workerTimeout, pacingWaitMs);
  }

  /** The chunk queue and its dead-letter queue, with their alarms and runbooks. */
  private chunkQueue(config: BatchConfig, workerTimeout: Duration, defaults: FunctionDefaults): WorkQueue {
    return new WorkQueue(this, 'Chunks', {
      consumerTimeout: workerTimeout,
      maxReceiveCount: config.maxReceiveCount,
      maxMessageAge: Duration.minutes(config.backlogAlarmMinutes),
      holds: 'chunks of up to 10 rows to start',
      deadLetterRunbook:
        'A chunk that hit 429/503/401 on every receive has its rows reported failed ("dead-lettered: ..."); a ' +
        'chunk that crashed the worker or was malformed has not. Find the cause in the process-chunk log ' +
        '(level ERROR, by jobId and chunkId). Once it is fixed (DANAConnect reachable, secret valid), run ' +
        '`npm run redrive -- --dlq <ChunkDeadLetterQueueUrl> --queue <ChunkQueueUrl>`: redriven chunks run again ' +
        'and replace their dead-lettered outcomes; rows whose outcome is unknown are never sent again.',
      backlogRunbook:
        `At ${config.rateLimitPerSecond} calls per second a job of N rows needs about N / ` +
        `${10 * config.rateLimitPerSecond} seconds, so a very large upload can explain this. Otherwise check ` +
        "that the process-chunk event source is enabled, the function's errors and throttles, and its log " +
        '("chunk handed back" means DANAConnect answered 429/503/401).',
      alarmAction: defaults.alarmAction,
    });
  }

  /** Where S3's asynchronous invocations of the ingest go after Lambda's retries. */
  private ingestFailureQueue(defaults: FunctionDefaults): DeadLetterQueue {
    const queue = new DeadLetterQueue(this, 'IngestFailures', {
      holds: `uploads whose ingest failed ${INGEST_RETRY_ATTEMPTS + 1} times`,
      runbook:
        'Each message holds the S3 event (requestPayload) and the error. Find the cause in the ingest-upload log ' +
        '(level ERROR). Then invoke ingest-upload again with the requestPayload (aws lambda invoke ' +
        '--invocation-type Event --function-name <IngestFunctionName> --payload file://event.json out.json) and ' +
        'delete the message: the same object version is the same job, so no row is started twice. Do not ' +
        're-upload the file instead: a new version is a new job, and rows already queued would start again.',
      alarmAction: defaults.alarmAction,
    });
    Validations.of(queue.queue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        "This queue is itself a dead-letter queue: the on-failure destination of ingest-upload's asynchronous " +
        'invocations by S3 (cdk-nag only recognises SQS redrive policies).',
    });

    return queue;
  }

  /** ingest-upload: S3 upload -> validated rows -> chunks in the queue. */
  private ingestFunction(config: BatchConfig, defaults: FunctionDefaults): GatewayFunction {
    const bucketName = this.bucket.bucket.bucketName;
    const tableName = this.table.table.tableName;
    const queueUrl = this.chunks.queue.queueUrl;
    const ingest = new GatewayFunction(this, 'IngestUpload', {
      defaults,
      name: 'ingest-upload',
      description: 'S3 upload under uploads/: validate each row, queue chunks of up to 10, reject the rest',
      timeout: Duration.seconds(config.ingestTimeoutSeconds),
      memorySize: config.ingestMemoryMb,
      callsDana: false,
      environment: { JOBS_TABLE_NAME: tableName, QUEUE_URL: queueUrl, BUCKET_NAME: bucketName },
      errorsRunbook:
        'An upload could not be ingested (S3, SQS or DynamoDB refused, or it ran out of time or memory). Lambda ' +
        `retries it ${INGEST_RETRY_ATTEMPTS} times, then it lands in the ingest dead-letter queue. Open the ` +
        'ingest-upload log, filter level ERROR around the alarm time.',
    });
    ingest.function.configureAsyncInvoke({
      retryAttempts: INGEST_RETRY_ATTEMPTS,
      onFailure: new SqsDestination(this.ingestFailures.queue),
    });
    this.bucket.grantReadUploads(ingest.role);
    this.bucket.grantWriteReports(ingest.role);
    this.grantSend(ingest.role);
    this.table.grantReadWrite(ingest.role);
    this.bucket.notifyOnUpload(ingest.function);
    return ingest;
  }

  /** process-chunk: each chunk paced, claimed, started once; outcomes recorded, reports written. */
  private workerFunction(
    config: BatchConfig,
    defaults: FunctionDefaults,
    workerTimeout: Duration,
    pacingWaitMs: number,
  ): GatewayFunction {
    const bucketName = this.bucket.bucket.bucketName;
    const tableName = this.table.table.tableName;
    const queueUrl = this.chunks.queue.queueUrl;
    const worker = new GatewayFunction(this, 'ProcessChunk', {
      defaults,
      name: 'process-chunk',
      description:
        'Chunk from SQS: paced, idempotent start/list/data; outcomes to the jobs table, reports to S3',
      timeout: workerTimeout,
      memorySize: PROCESS_CHUNK_MEMORY_MB,
      callsDana: true,
      environment: {
        JOBS_TABLE_NAME: tableName,
        QUEUE_URL: queueUrl,
        BUCKET_NAME: bucketName,
        DANA_RATE_LIMIT_PER_SECOND: String(config.rateLimitPerSecond),
        DANA_PACING_MAX_WAIT_MS: String(pacingWaitMs),
        BATCH_RESEND_ON_5XX: config.resendOn5xx.join(','),
        // The worker turns the last receive's retryable failure into a dead-lettered outcome: it must know
        // which receive is the last, so it gets the very value the redrive policy has.
        MAX_RECEIVE_COUNT: String(config.maxReceiveCount),
      },
      errorsRunbook:
        'The worker reports each failed chunk to SQS instead of throwing, so this is a crash or a timeout: the ' +
        "invocation's chunks come back after the visibility timeout, and rows whose call may have been sent " +
        'are reported "outcome unknown". Open the process-chunk log, filter level ERROR around the alarm time.',
    });
    worker.function.addEventSource(
      new SqsEventSource(this.chunks.queue, {
        batchSize: PROCESS_CHUNK_BATCH_SIZE,
        reportBatchItemFailures: true,
        maxConcurrency: config.workerMaxConcurrency,
      }),
    );
    this.bucket.grantWriteReports(worker.role);
    this.table.grantReadWrite(worker.role);
    // A chunk that waited without being claimed or sent is requeued as a new message (it spends no receive).
    this.grantSend(worker.role);
    return worker;
  }

  /**
   * For an HTTP function that answers `Prefer: respond-async`: it creates the job in the table and sends its
   * chunks to the queue.
   */
  grantEnqueue(fn: GatewayFunction): void {
    fn.function.addEnvironment('JOBS_TABLE_NAME', this.table.table.tableName);
    fn.function.addEnvironment('QUEUE_URL', this.chunks.queue.queueUrl);
    this.grantSend(fn.role);
    this.table.grantReadWrite(fn.role);
  }

  /** For an HTTP function that reads jobs and their outcomes. */
  grantReadJobs(fn: GatewayFunction): void {
    fn.function.addEnvironment('JOBS_TABLE_NAME', this.table.table.tableName);
    this.table.grantRead(fn.role);
  }

  /** sqs:SendMessage (which SendMessageBatch needs) on the chunk queue, nothing else of it. */
  private grantSend(grantee: iam.IGrantable): void {
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['sqs:SendMessage'],
      resourceArns: [this.chunks.queue.queueArn],
    });
  }
}
