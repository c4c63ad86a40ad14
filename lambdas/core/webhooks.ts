/**
 * Signed webhooks after the Standard Webhooks specification (https://www.standardwebhooks.com): the message a
 * Job Finished event becomes for one endpoint, its signature, and what a delivery attempt's answer means (done,
 * try again later, or give up into the dead-letter queue). Pure: the HTTP call and the queue are adapters.
 *
 * - `webhook-id`: `msg_<jobId>_<endpoint name>`, the same on every attempt and every duplicate event, so a
 *   receiver drops repeats by it; the body is the same on every attempt too (its `timestamp` is the job's end).
 * - `webhook-timestamp`: the attempt's time, integer seconds (receivers refuse stale ones).
 * - `webhook-signature`: `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`, keyed with the base64-decoded
 *   part of the endpoint's `whsec_…` secret.
 */
import { createHmac } from 'node:crypto';
import { ConfigurationError } from './errors';
import { JOB_FINISHED_TYPE, type JobFinishedDetail } from './job-events';

export const WEBHOOK_SECRET_PREFIX = 'whsec_';
/** The specification asks for keys of 24 to 64 bytes. */
const MIN_KEY_BYTES = 24;
const MAX_KEY_BYTES = 64;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * The signing key of a `whsec_<base64>` secret. The prefix may be left out, as the specification's libraries
 * allow: the stack generates the base64 part alone (Secrets Manager cannot add a prefix). Throws a
 * ConfigurationError, never quoting the secret.
 */
export function webhookKey(secret: string): Buffer {
  const encoded = secret.startsWith(WEBHOOK_SECRET_PREFIX)
    ? secret.slice(WEBHOOK_SECRET_PREFIX.length)
    : secret;
  const key = BASE64.test(encoded) ? Buffer.from(encoded, 'base64') : Buffer.alloc(0);
  if (key.length < MIN_KEY_BYTES || key.length > MAX_KEY_BYTES) {
    throw new ConfigurationError(
      `a webhook secret must be "${WEBHOOK_SECRET_PREFIX}" + base64 of ${MIN_KEY_BYTES} to ${MAX_KEY_BYTES} bytes`,
    );
  }
  return key;
}

/** `v1,<signature>` of one message. */
export function signWebhook(key: Buffer, id: string, timestampSeconds: number, body: string): string {
  const mac = createHmac('sha256', key).update(`${id}.${timestampSeconds}.${body}`).digest('base64');
  return `v1,${mac}`;
}

/** The webhook-id of a job's event at one endpoint. */
export function webhookId(eventId: string, endpointName: string): string {
  return `msg_${eventId}_${endpointName}`;
}

/** The POST body: the same bytes on every attempt. */
export function webhookBody(detail: JobFinishedDetail): string {
  return JSON.stringify({ type: JOB_FINISHED_TYPE, timestamp: detail.finishedAt, data: detail });
}

export interface SignedWebhook {
  id: string;
  body: string;
  headers: Record<string, string>;
}

/** The request of one delivery attempt, signed at `now`. */
export function signedWebhook(
  detail: JobFinishedDetail,
  endpointName: string,
  key: Buffer,
  now: number = Date.now(),
): SignedWebhook {
  const id = webhookId(detail.eventId, endpointName);
  const body = webhookBody(detail);
  const timestamp = Math.floor(now / 1000);
  return {
    id,
    body,
    headers: {
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': signWebhook(key, id, timestamp, body),
      'user-agent': 'dana-gateway-webhooks/1',
    },
  };
}

export interface WebhookRetryPolicy {
  /** The wait after the n-th failed attempt (the last entry repeats). */
  delaysMs: readonly number[];
  /** Attempts go on until this long after the first one; then the message goes to the dead-letter queue. */
  retryForMs: number;
}

/** The specification's suggested schedule (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h …), for at least 24 hours. */
export const WEBHOOK_RETRY: WebhookRetryPolicy = {
  delaysMs: [5_000, 5 * 60_000, 30 * 60_000, 2 * 3_600_000, 5 * 3_600_000, 10 * 3_600_000],
  retryForMs: 24 * 3_600_000,
};

/** What one attempt got: an HTTP status, or no answer at all (`errorClass` names why, e.g. `timeout`). */
export type AttemptResult = { status: number } | { errorClass: string };

export type DeliveryVerdict =
  | { kind: 'delivered' }
  | { kind: 'retry'; delayMs: number }
  /** `gone`: the receiver answered 410; `expired`: it failed for `retryForMs`. Both are alarmed. */
  | { kind: 'dead-letter'; reason: 'gone' | 'expired' };

/**
 * The decision after attempt number `attempt` (1-based), `elapsedMs` after the first. A 2xx ends it. A 410 ends
 * it too, in the dead-letter queue with an alarm, never by silently disabling the endpoint: the next job's event
 * is attempted as usual. Everything else (other statuses, redirects, no answer) is tried again.
 */
export function deliveryVerdict(
  result: AttemptResult,
  attempt: number,
  elapsedMs: number,
  policy: WebhookRetryPolicy = WEBHOOK_RETRY,
): DeliveryVerdict {
  if ('status' in result && result.status >= 200 && result.status <= 299) return { kind: 'delivered' };
  if ('status' in result && result.status === 410) return { kind: 'dead-letter', reason: 'gone' };
  if (elapsedMs >= policy.retryForMs) return { kind: 'dead-letter', reason: 'expired' };
  const { delaysMs } = policy;
  const delayMs = delaysMs[Math.min(Math.max(attempt, 1), delaysMs.length) - 1] ?? 0;
  return { kind: 'retry', delayMs };
}
