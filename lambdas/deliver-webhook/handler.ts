/**
 * The webhook delivery queue's doorway (SQS event source, ReportBatchItemFailures). Each message is one Job
 * Finished event for one endpoint, put there by that endpoint's EventBridge rule. One attempt per receive
 * (../core/webhook-delivery.ts): a 2xx deletes it; another answer or none hands it back, visible again after the
 * retry schedule's delay (ChangeMessageVisibility); a 410, or failures for 24 hours since the message was first
 * queued, move it to the dead-letter queue (alarmed) with the reason as a message attribute.
 *
 * Environment: WEBHOOKS (`[{"name","url","secretArn"}]`, set by the stack), QUEUE_URL (this queue),
 * DEAD_LETTER_QUEUE_URL. Logs: the webhook name and id, job id, status or error class; never the URL's query,
 * the body or the secret. Metrics: WebhooksDelivered, WebhookAttemptsFailed, WebhooksDeadLettered, WebhookGone.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { awsClientConfig } from '../adapters/aws-clients';
import { countError, observabilityFor } from '../adapters/observability';
import { changeVisibility, sqsBatchHandler, sqsLambda } from '../adapters/sqs-batch';
import { postWebhook } from '../adapters/webhook-http';
import { ConfigurationError, describeError } from '../core/errors';
import type { AddressRules } from '../core/webhook-address';
import {
  attemptDelivery,
  parseDeliveryMessage,
  WEBHOOK_NAME,
  type AttemptReport,
  type DeliveryDeps,
  type WebhookEndpoint,
} from '../core/webhook-delivery';

/** A secret is read again after this long, so a rotated one is picked up without a deploy. */
const SECRET_TTL_MS = 5 * 60_000;

export interface ConfiguredWebhook extends WebhookEndpoint {
  secretArn: string;
}

export function webhooksFromEnv(env: NodeJS.ProcessEnv = process.env): ConfiguredWebhook[] {
  let raw: unknown;
  try {
    raw = JSON.parse(env.WEBHOOKS ?? '[]');
  } catch {
    throw new ConfigurationError('WEBHOOKS is not JSON');
  }
  const list = Array.isArray(raw) ? (raw as Record<string, unknown>[]) : [];
  return list.map((w, i) => {
    const { name, url, secretArn } = w ?? {};
    if (
      typeof name !== 'string' ||
      !WEBHOOK_NAME.test(name) ||
      typeof url !== 'string' ||
      typeof secretArn !== 'string'
    ) {
      throw new ConfigurationError(`WEBHOOKS[${i}] must have a name, a url and a secretArn`);
    }
    return { name, url, secretArn };
  });
}

/** Secrets Manager reads, cached per secret for SECRET_TTL_MS. */
function cachedSecrets(client: SecretsManagerClient, now: () => number) {
  const cache = new Map<string, { value: string; until: number }>();
  return async (secretArn: string): Promise<string> => {
    const hit = cache.get(secretArn);
    if (hit && hit.until > now()) return hit.value;
    const answer = await client.send(new GetSecretValueCommand({ SecretId: secretArn }));
    const value = answer.SecretString ?? '';
    cache.set(secretArn, { value, until: now() + SECRET_TTL_MS });
    return value;
  };
}

export interface DeliverHandlerDeps {
  delivery: DeliveryDeps;
  sqs: SQSClient;
  queueUrl: string;
  deadLetterQueueUrl: string;
  logger: Logger;
  metrics: Metrics;
}

type Where = { webhook: string; webhookId?: string; jobId?: string; attempt: number };

async function deadLetter(
  deps: DeliverHandlerDeps,
  record: SQSRecord,
  reason: string,
  log: Logger,
  where: Where,
) {
  await deps.sqs.send(
    new SendMessageCommand({
      QueueUrl: deps.deadLetterQueueUrl,
      MessageBody: record.body,
      MessageAttributes: { reason: { DataType: 'String', StringValue: reason } },
    }),
  );
  deps.metrics.addMetric('WebhooksDeadLettered', MetricUnit.Count, 1);
  log.error('webhook dead-lettered: not delivered', { ...where, reason });
}

async function handBack(
  deps: DeliverHandlerDeps,
  record: SQSRecord,
  delayMs: number,
  log: Logger,
  where: Where,
) {
  const visibilityTimeout = Math.ceil(delayMs / 1000);
  await changeVisibility(deps.sqs, deps.queueUrl, record, visibilityTimeout, log, where);
  log.warn('webhook attempt failed; it comes back later', { ...where, retryInSeconds: visibilityTimeout });
}

/** Acts on one attempt's verdict; true when the message must come back (a batch item failure). */
async function act(
  deps: DeliverHandlerDeps,
  record: SQSRecord,
  report: AttemptReport,
  log: Logger,
  where: Where,
) {
  const { result, verdict } = report;
  const line = {
    ...where,
    ...('status' in result ? { status: result.status } : { errorClass: result.errorClass }),
  };
  if (verdict.kind === 'delivered') {
    deps.metrics.addMetric('WebhooksDelivered', MetricUnit.Count, 1);
    log.info('webhook delivered', line);
    return false;
  }
  deps.metrics.addMetric('WebhookAttemptsFailed', MetricUnit.Count, 1);
  if (verdict.kind === 'retry') {
    await handBack(deps, record, verdict.delayMs, log, line);
    return true;
  }
  // 410 Gone: logged and alarmed; the endpoint stays configured (nothing is disabled silently).
  if (verdict.reason === 'gone') deps.metrics.addMetric('WebhookGone', MetricUnit.Count, 1);
  await deadLetter(deps, record, verdict.reason, log, line);
  return false;
}

async function handleRecord(deps: DeliverHandlerDeps, record: SQSRecord): Promise<boolean> {
  const log = deps.logger.createChild();
  log.setCorrelationId(record.messageId);
  const attempt = Number(record.attributes?.ApproximateReceiveCount) || 1;
  const firstAttemptAt = Number(record.attributes?.SentTimestamp) || Date.now();
  let where: Where = { webhook: 'unknown', attempt };
  try {
    const message = parseDeliveryMessage(record.body);
    where = { webhook: message.webhook, jobId: message.detail.jobId, attempt };
    const report = await attemptDelivery(deps.delivery, message, attempt, firstAttemptAt);
    return await act(deps, record, report, log, { ...where, webhookId: report.webhookId });
  } catch (error) {
    countError(deps.metrics, error);
    log.error('webhook delivery failed; it comes back after the visibility timeout', {
      ...where,
      ...describeError(error),
    });
    return true;
  }
}

/** The batch handler, without middy: tests drive it with an SQS event. */
export function deliverBatchHandler(deps: DeliverHandlerDeps) {
  return sqsBatchHandler((record) => handleRecord(deps, record));
}

function required(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (!value) throw new ConfigurationError(`${name} is not set`);
  return value;
}

/**
 * The production wiring. `options` lets a test hand in clients pointed at moto and, for a loopback receiver,
 * `rules: { allowLoopback: true }` (the stack has no way to set it).
 */
export function deliverHandlerFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  options: { sqs?: SQSClient; secrets?: SecretsManagerClient; rules?: AddressRules; now?: () => number } = {},
) {
  const { logger, metrics } = observabilityFor('deliver-webhook', env);
  const webhooks = webhooksFromEnv(env);
  const now = options.now ?? Date.now;
  const secret = cachedSecrets(
    options.secrets ?? new SecretsManagerClient(awsClientConfig('secretsmanager')),
    now,
  );
  const batch = deliverBatchHandler({
    delivery: {
      endpoint: (name) => webhooks.find((w) => w.name === name),
      secret: (endpoint) => secret((endpoint as ConfiguredWebhook).secretArn),
      post: (request) => postWebhook({ ...request, rules: options.rules ?? {} }),
      now,
    },
    sqs: options.sqs ?? new SQSClient(awsClientConfig('sqs')),
    queueUrl: required(env, 'QUEUE_URL'),
    deadLetterQueueUrl: required(env, 'DEAD_LETTER_QUEUE_URL'),
    logger,
    metrics,
  });
  return sqsLambda(logger, metrics, batch);
}

let built: ReturnType<typeof deliverHandlerFromEnv> | undefined;
export const handler = (event: SQSEvent, context: Context): Promise<SQSBatchResponse> =>
  (built ??= deliverHandlerFromEnv())(event, context);
