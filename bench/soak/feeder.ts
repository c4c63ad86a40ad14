/**
 * How work enters the pipeline, through the real entry points over the fault proxy:
 * - an upload is put into the bucket (straight to moto: that is the user's upload, not ours), then the S3 event
 *   goes to the ingest-upload handler (`ingestUploadHandler` with the production dependencies); a failed ingest
 *   is delivered again, as S3's asynchronous invocation retries it (the ingest is idempotent);
 * - an async API request goes to `submitApiJob` with the DynamoDB job store, the SQS queue and the
 *   Idempotency-Key store; a failed submission is sent again with the same key, as a caller would.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { S3Event } from 'aws-lambda';
import { chunkQueueFromEnv, idempotencyStoreFromEnv, jobStoreFromEnv } from '../../lambdas/adapters/job-deps';
import { submitApiJob, type ApiJobDeps } from '../../lambdas/core/api-jobs';
import { uploadJobId } from '../../lambdas/core/ingest';
import { ingestDepsFromEnv, ingestUploadHandler } from '../../lambdas/ingest-upload/handler';
import type { AwsClients, Stack } from './stack';
import type { ApiWork, UploadWork, Work } from './workload';

/** Lambda delivers a failed S3 event twice more; the soak is more patient, and counts every retry. */
const MAX_ATTEMPTS = 8;

export interface JobRef {
  work: Work;
  jobId: string;
}

export interface FeedStats {
  uploads: number;
  apiRequests: number;
  /** Deliveries of an S3 event or a request after the first: each one a failure the caller had to retry. */
  ingestRetries: number;
  submitRetries: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** `operation` until it succeeds, at most MAX_ATTEMPTS times; `onRetry` counts the failures. */
async function retried<T>(operation: () => Promise<T>, onRetry: () => void): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation();
    } catch (error) {
      if (attempt >= MAX_ATTEMPTS) throw error;
      onRetry();
      await sleep(200 * attempt);
    }
  }
}

function s3Event(bucket: string, key: string, etag: string, versionId?: string): S3Event {
  const object = { key: encodeURIComponent(key).replace(/%2F/g, '/'), size: 0, eTag: etag, sequencer: '0' };
  return {
    Records: [
      {
        eventVersion: '2.1',
        eventSource: 'aws:s3',
        awsRegion: 'us-east-1',
        eventTime: new Date().toISOString(),
        eventName: 'ObjectCreated:Put',
        userIdentity: { principalId: 'AWS:SOAK' },
        requestParameters: { sourceIPAddress: '127.0.0.1' },
        responseElements: { 'x-amz-request-id': 'soak', 'x-amz-id-2': 'soak' },
        s3: {
          s3SchemaVersion: '1.0',
          configurationId: 'uploads',
          bucket: { name: bucket, ownerIdentity: { principalId: 'soak' }, arn: `arn:aws:s3:::${bucket}` },
          object: { ...object, ...(versionId !== undefined && { versionId }) },
        },
      },
    ],
  };
}

export class Feeder {
  readonly stats: FeedStats = { uploads: 0, apiRequests: 0, ingestRetries: 0, submitRetries: 0 };
  private readonly ingest: (event: S3Event) => Promise<void>;
  private readonly api: ApiJobDeps;

  constructor(
    private readonly p: {
      product: AwsClients;
      direct: AwsClients;
      stack: Stack;
      env: Record<string, string>;
    },
  ) {
    const deps = ingestDepsFromEnv(p.env, p.product);
    // The ingest's own log: errors only (a retried ingest logs one), never the soak's output.
    this.ingest = ingestUploadHandler(
      () => deps,
      new Logger({ serviceName: 'soak-ingest', logLevel: 'ERROR' }),
    );
    this.api = {
      jobs: jobStoreFromEnv(p.env, p.product.dynamo)(),
      queue: chunkQueueFromEnv(p.env, p.product.sqs)(),
      idempotency: idempotencyStoreFromEnv(p.env, p.product.dynamo)(),
    };
  }

  async upload(work: UploadWork): Promise<JobRef> {
    const bucket = this.p.stack.bucketName;
    const put = await this.p.direct.s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: work.key, Body: work.body, ContentType: 'text/plain' }),
    );
    const etag = (put.ETag ?? '').replace(/"/g, '');
    const event = s3Event(bucket, work.key, etag, put.VersionId);
    await retried(
      () => this.ingest(event),
      () => this.stats.ingestRetries++,
    );
    this.stats.uploads++;
    return { work, jobId: uploadJobId({ bucket, key: work.key, versionId: put.VersionId, etag }) };
  }

  async submit(work: ApiWork): Promise<JobRef> {
    const idempotent = {
      caller: 'arn:aws:iam::123456789012:user/soak',
      method: 'POST',
      path: work.path,
      key: `soak-${work.id}-${work.rows[0]!.email}`,
      body: work.operation.kind === 'batch' ? work.records : work.records[0],
    };
    const job = await retried(
      () =>
        submitApiJob(this.api, work.route, { operation: work.operation, records: work.records }, idempotent),
      () => this.stats.submitRetries++,
    );
    this.stats.apiRequests++;
    return { work, jobId: job.jobId };
  }
}
