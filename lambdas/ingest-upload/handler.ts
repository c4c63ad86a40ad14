/**
 * S3 `ObjectCreated` under `uploads/` -> ingestUpload for each record. Clients and adapters are built once per
 * execution environment (the SDK reads AWS_ENDPOINT_URL itself). A failed record fails the invocation after the
 * others ran, so S3 retries it; the ingest is idempotent. Logs job ids, counts and reasons, never keys or values.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { S3Event } from 'aws-lambda';
import { jobDepsFromEnv, type JobAwsClients } from '../adapters/job-deps';
import { loggerFor } from '../adapters/observability';
import { decodeS3Key, ingestUpload, parseUploadKey, type IngestDeps } from '../core/ingest';
import { describeError } from '../core/errors';

/** JOBS_TABLE_NAME, QUEUE_URL, BUCKET_NAME (../adapters/job-deps.ts); a missing one is named at once. */
export function ingestDepsFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  clients: JobAwsClients = {},
): IngestDeps {
  const deps = jobDepsFromEnv(env, clients);
  return { jobs: deps.jobs(), queue: deps.queue(), bucket: deps.bucket() };
}

/**
 * Header reasons quote the header's cells, which in a file without a header row are values (names, emails):
 * those stay in the report, out of the log. Every other file-level reason is a fixed text.
 */
const logSafeReason = (reason: string) => (reason.startsWith('header') ? 'header row is unusable' : reason);

/** The handler over given dependencies (built on first use): the Lambda below, the local runner and tests. */
export function ingestUploadHandler(deps: () => IngestDeps, logger: Logger) {
  return async (event: S3Event): Promise<void> => {
    const failures: unknown[] = [];
    // `Records` is absent on S3's one-off `s3:TestEvent`.
    for (const record of event.Records ?? []) {
      if (!record.eventName?.startsWith('ObjectCreated:')) continue;
      const key = decodeS3Key(record.s3.object.key);
      const parsed = parseUploadKey(key);
      if (parsed.kind === 'ignored') {
        logger.info('not an upload, skipped', { reason: parsed.reason });
        continue;
      }
      try {
        const result = await ingestUpload(deps(), {
          bucket: record.s3.bucket.name,
          key,
          versionId: record.s3.object.versionId,
          etag: record.s3.object.eTag,
        });
        if ('rejectedFile' in result) {
          logger.warn('upload rejected', { reason: logSafeReason(result.rejectedFile) });
        } else {
          const { jobId, state, total, rejected, started, failed } = result;
          logger.info('upload ingested', { jobId, state, total, rejected, started, failed });
        }
      } catch (error) {
        logger.error('upload ingest failed', describeError(error));
        failures.push(error);
      }
    }
    if (failures.length === 1) throw failures[0];
    if (failures.length > 1)
      throw new AggregateError(failures, `${failures.length} uploads failed to ingest`);
  };
}

const logger = loggerFor('ingest-upload');
let deps: IngestDeps | undefined;

export const handler = middy<S3Event, void>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .handler(ingestUploadHandler(() => (deps ??= ingestDepsFromEnv()), logger));
