/**
 * One delivery attempt of a Job Finished event to one webhook endpoint, pure over its ports (the endpoint's
 * secret, the HTTP POST, the clock): sign, post, decide (./webhooks.ts deliveryVerdict). The AWS doorway
 * (lambdas/deliver-webhook) and the local sender (lambdas/adapters/local-webhooks.ts) both call it and act on
 * the verdict: delete, come back later, or dead-letter.
 */
import { InvalidInputError } from './errors';
import type { JobFinishedDetail } from './job-events';
import {
  deliveryVerdict,
  signedWebhook,
  webhookKey,
  WEBHOOK_RETRY,
  type AttemptResult,
  type DeliveryVerdict,
  type WebhookRetryPolicy,
} from './webhooks';

/** Endpoint names: they end up in webhook ids, resource names and logs. */
export const WEBHOOK_NAME = /^[a-z][a-z0-9-]{0,31}$/;
/** Event ids are job ids (32 lowercase hex digits); anything else never came from the gateway. */
const EVENT_ID = /^[0-9a-f]{32}$/;

export interface WebhookEndpoint {
  name: string;
  url: string;
}

/** The queue message: which endpoint, and the event's detail (the EventBridge rule's input). */
export interface DeliveryMessage {
  webhook: string;
  detail: JobFinishedDetail;
}

/** A delivery queue message, checked: the endpoint name and the ids that go into headers. */
export function parseDeliveryMessage(body: string): DeliveryMessage {
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch {
    throw new InvalidInputError('message', 'is not JSON');
  }
  const { webhook, detail } = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
  if (typeof webhook !== 'string' || !WEBHOOK_NAME.test(webhook)) {
    throw new InvalidInputError('webhook', 'must be a webhook name');
  }
  const d = (typeof detail === 'object' && detail !== null ? detail : {}) as Record<string, unknown>;
  if (typeof d.eventId !== 'string' || !EVENT_ID.test(d.eventId) || d.jobId !== d.eventId) {
    throw new InvalidInputError('detail.eventId', 'must be the job id');
  }
  if (typeof d.finishedAt !== 'string') throw new InvalidInputError('detail.finishedAt', 'must be a string');
  return { webhook, detail: detail as JobFinishedDetail };
}

export interface DeliveryDeps {
  endpoint(name: string): WebhookEndpoint | undefined;
  /** The endpoint's `whsec_…` secret (cached by the adapter). */
  secret(endpoint: WebhookEndpoint): Promise<string>;
  post(request: { url: string; headers: Record<string, string>; body: string }): Promise<AttemptResult>;
  now?: () => number;
  policy?: WebhookRetryPolicy;
}

export interface AttemptReport {
  webhookId: string;
  result: AttemptResult;
  verdict: DeliveryVerdict;
}

/**
 * Attempt number `attempt` (1-based) of `message`, the first one made at `firstAttemptAt` (epoch ms). An unknown
 * endpoint name (removed from config since) or an unusable secret throws: the message comes back, and an
 * operator sees the error in the log and the dead-letter alarm.
 */
export async function attemptDelivery(
  deps: DeliveryDeps,
  message: DeliveryMessage,
  attempt: number,
  firstAttemptAt: number,
): Promise<AttemptReport> {
  const endpoint = deps.endpoint(message.webhook);
  if (!endpoint) throw new InvalidInputError('webhook', 'names no configured webhook');
  const key = webhookKey(await deps.secret(endpoint));
  const now = (deps.now ?? Date.now)();
  const signed = signedWebhook(message.detail, endpoint.name, key, now);
  const result = await deps.post({ url: endpoint.url, headers: signed.headers, body: signed.body });
  const elapsedMs = Math.max(0, (deps.now ?? Date.now)() - firstAttemptAt);
  return {
    webhookId: signed.id,
    result,
    verdict: deliveryVerdict(result, attempt, elapsedMs, deps.policy ?? WEBHOOK_RETRY),
  };
}
