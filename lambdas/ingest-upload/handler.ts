/**
 * S3 `ObjectCreated` under `uploads/` -> ingestUpload for each record. Clients and adapters are built once per
 * execution environment (the SDK reads AWS_ENDPOINT_URL itself). A failed record fails the invocation after the
 * others ran, so S3 retries it; the ingest is idempotent. Logs job ids, counts and reasons, never keys or values.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { S3Event } from 'aws-lambda';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { jobEventsFromEnv } from '../adapters/eventbridge-publisher';
import { aliasStoreFromEnv } from '../adapters/alias-deps';
import { jobDepsFromEnv, type JobAwsClients } from '../adapters/job-deps';
import { loggerFor } from '../adapters/observability';
import { decodeS3Key, ingestUpload, parseUploadKey, type IngestDeps } from '../core/ingest';
import { ConfigurationError, describeError } from '../core/errors';
import { DEFAULT_UPLOAD_LIMITS, type UploadLimits } from '../core/upload/limits';

/**
 * UPLOAD_MAX_BYTES and UPLOAD_MAX_ROWS (set by the stack from `batch.maxUploadBytes` and `batch.maxRowsPerUpload`);
 * each defaults on its own.
 */
export function uploadLimitsFromEnv(env: NodeJS.ProcessEnv = process.env): UploadLimits {
  const read = (name: string, fallback: number) => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new ConfigurationError(`${name} must be a positive integer`);
    }
    return value;
  };
  return {
    maxBytes: read('UPLOAD_MAX_BYTES', DEFAULT_UPLOAD_LIMITS.maxBytes),
    maxRows: read('UPLOAD_MAX_ROWS', DEFAULT_UPLOAD_LIMITS.maxRows),
  };
}

/**
 * JOBS_TABLE_NAME, QUEUE_URL, BUCKET_NAME (../adapters/job-deps.ts); a missing one is named at once. The upload
 * limits from UPLOAD_MAX_BYTES and UPLOAD_MAX_ROWS.
 */
export function ingestDepsFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  clients: JobAwsClients & { eventbridge?: EventBridgeClient } = {},
): IngestDeps {
  const deps = jobDepsFromEnv(env, clients);
  const events = jobEventsFromEnv(env, clients.eventbridge);
  // An upload key may name an alias (uploads/newsletter/…): resolved per upload, cached ALIAS_CACHE_TTL_MS.
  const aliases = aliasStoreFromEnv(env, { cached: true, client: clients.dynamo });
  return {
    aliases: { get: (name) => aliases().get(name) },
    jobs: deps.jobs(),
    queue: deps.queue(),
    bucket: deps.bucket(),
    limits: uploadLimitsFromEnv(env),
    ...(events && { events }),
  };
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
          size: record.s3.object.size,
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
