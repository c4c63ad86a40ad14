import { Duration, Lazy, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { Construct } from 'constructs';
import type { BatchConfig } from '../config';
import type { DataEncryption } from './data-encryption';
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
  /** The key of `encryption` for the bucket, the queues and the table (none with `aws-managed`). */
  encryption?: DataEncryption;
  /** `uploaders` of the configuration (see JobsBucketProps). */
  uploaders?: readonly string[];
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
  /** A role operators assume to redrive chunks (`npm run redrive`): the chunk queue takes no other sender. */
  readonly redriveRole: iam.Role;
  private readonly encryption: DataEncryption | undefined;
  /** Every role given grantSend: the only principals the chunk queue's policy lets send. */
  private readonly senders: string[] = [];

  constructor(scope: Construct, id: string, props: BatchPipelineProps) {
    super(scope, id);
    const { config, defaults } = props;
    this.encryption = props.encryption;
    // The pacing wait, the timeout, the lease and the visibility timeout agree: see ../worker-budget.ts.
    const pacingWaitMs = workerPacingWaitMs(config.rateLimitPerSecond, config.workerMaxConcurrency);
    const workerTimeout = Duration.seconds(workerTimeoutSeconds(pacingWaitMs));

    this.bucket = new JobsBucket(this, 'Jobs', {
      lifecycle: config.lifecycle,
      logRetention: defaults.logRetention,
      encryption: props.encryption,
      uploaders: props.uploaders,
    });
    this.table = new JobsTable(this, 'JobsTable', { encryption: props.encryption });
    this.chunks = this.chunkQueue(config, workerTimeout, defaults);
    this.onlySendersSend();
    this.ingestFailures = this.ingestFailureQueue(defaults);
    this.ingest = this.ingestFunction(config, defaults);
    this.worker = this.workerFunction(config, defaults, workerTimeout, pacingWaitMs);
    this.redriveRole = this.chunkRedriveRole();
  }

  /**
   * The chunk queue takes messages from the gateway's own roles only (those given grantSend, the redrive role
   * included): an explicit deny to every other principal, whatever its IAM policies allow. Chunks start
   * conversations with the gateway's credentials, so nobody else may inject them.
   */
  private onlySendersSend(): void {
    this.chunks.queue.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'OnlyTheGatewaySendsChunks',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['sqs:SendMessage'],
        resources: [this.chunks.queue.queueArn],
        conditions: { ArnNotEquals: { 'aws:PrincipalArn': Lazy.list({ produce: () => this.senders }) } },
      }),
    );
  }

  /**
   * What `npm run redrive` needs (receive and delete from the dead-letter queue, send to the chunk queue), as a
   * role of the gateway's: operators assume it (IAM decides who may), since the chunk queue takes no other sender.
   */
  private chunkRedriveRole(): iam.Role {
    const role = new iam.Role(this, 'ChunkRedriveRole', {
      assumedBy: new iam.AccountRootPrincipal(),
      description: 'Assumed by operators to move chunks from the dead-letter queue back (npm run redrive)',
    });
    iam.Grant.addToPrincipal({
      grantee: role,
      actions: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes'],
      resourceArns: [this.chunks.deadLetters.queue.queueArn],
    });
    this.grantSend(role);
    return role;
  }

  /** The chunk queue and its dead-letter queue, with their alarms and runbooks. */
  private chunkQueue(config: BatchConfig, workerTimeout: Duration, defaults: FunctionDefaults): WorkQueue {
    return new WorkQueue(this, 'Chunks', {
      consumerTimeout: workerTimeout,
      maxReceiveCount: config.maxReceiveCount,
      maxMessageAge: Duration.minutes(config.backlogAlarmMinutes),
      holds: 'chunks of up to 10 rows to start',
      encryptionKey: this.encryption?.key,
      deadLetterRunbook:
        'A chunk that hit 429/503/401 on every receive has its rows reported failed ("dead-lettered: ..."); a ' +
        'chunk that crashed the worker or was malformed has not. Find the cause in the process-chunk log ' +
        '(level ERROR, by jobId and chunkId). Once it is fixed (DANAConnect reachable, secret valid), assume the ' +
        'ChunkRedriveRole (output ChunkRedriveRoleArn; the chunk queue refuses other senders) and run ' +
        '`npm run redrive -- --dlq <ChunkDeadLetterQueueUrl> --queue <ChunkQueueUrl>` (docs/RUNBOOK.md#redrive): ' +
        'redriven chunks run again and replace their dead-lettered outcomes; rows whose outcome is unknown are ' +
        'never sent again.',
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
      encryptionKey: this.encryption?.key,
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
      environment: {
        JOBS_TABLE_NAME: tableName,
        QUEUE_URL: queueUrl,
        BUCKET_NAME: bucketName,
        // A larger upload is rejected whole (lambdas/core/upload/limits.ts).
        UPLOAD_MAX_BYTES: String(config.maxUploadBytes),
        UPLOAD_MAX_ROWS: String(config.maxRowsPerUpload),
      },
      errorsRunbook:
        'An upload could not be ingested (S3, SQS or DynamoDB refused, or it ran out of time or memory). Lambda ' +
        `retries it ${INGEST_RETRY_ATTEMPTS} times, then it lands in the ingest dead-letter queue. Open the ` +
        'ingest-upload log, filter level ERROR around the alarm time.',
    });
    ingest.function.configureAsyncInvoke({
      retryAttempts: INGEST_RETRY_ATTEMPTS,
      onFailure: new SqsDestination(this.ingestFailures.queue),
    });
    if (this.encryption?.key) {
      // CDK's own grant for the destination queue (grantSendMessages) names the KMS actions with wildcards.
      for (const action of ['kms:GenerateDataKey*', 'kms:ReEncrypt*']) {
        Validations.of(ingest.role).acknowledge({
          id: `AwsSolutions-IAM5[Action::${action}]`,
          reason:
            "CDK's grant for Lambda's on-failure destination (the ingest failure queue, encrypted with the " +
            "gateway's key): on that one key, and the key's policy lets the role use it through SQS only.",
        });
      }
    }
    this.bucket.grantReadUploads(ingest.role);
    this.bucket.grantWriteReports(ingest.role);
    this.grantSend(ingest.role);
    this.table.grantAccess(ingest.role, 'ingest');
    // An upload key may name an alias (uploads/newsletter/…).
    this.table.grantAccess(ingest.role, 'alias-resolver');
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
    this.table.grantAccess(worker.role, 'worker');
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
    this.table.grantAccess(fn.role, 'async-http');
  }

  /** For an HTTP function that reads jobs and their outcomes. */
  grantReadJobs(fn: GatewayFunction): void {
    fn.function.addEnvironment('JOBS_TABLE_NAME', this.table.table.tableName);
    this.table.grantAccess(fn.role, 'job-reader');
  }

  /** For a function that resolves conversation aliases (GetItem on the `aliases` partition only). */
  grantResolveAliases(fn: GatewayFunction): void {
    fn.function.addEnvironment('JOBS_TABLE_NAME', this.table.table.tableName);
    this.table.grantAccess(fn.role, 'alias-resolver');
  }

  /** For the alias API: read, write, list and delete aliases, and nothing else of the table. */
  grantManageAliases(fn: GatewayFunction): void {
    fn.function.addEnvironment('JOBS_TABLE_NAME', this.table.table.tableName);
    this.table.grantAccess(fn.role, 'alias-admin');
  }

  /**
   * sqs:SendMessage (which SendMessageBatch needs) on the chunk queue, nothing else of it; the key through SQS;
   * and a place among the senders the queue's policy lets through.
   */
  private grantSend(grantee: iam.IRole): void {
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['sqs:SendMessage'],
      resourceArns: [this.chunks.queue.queueArn],
    });
    this.encryption?.grant(grantee, 'sqs', 'read-write');
    this.senders.push(grantee.roleArn);
  }
}
