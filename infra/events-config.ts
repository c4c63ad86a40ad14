/**
 * The Job Finished event's settings (docs/EVENTS.md): which EventBridge bus it goes to, and the signed webhooks
 * that receive it. infra/config.ts lays them over their defaults and calls checkEventsConfig; every problem is
 * reported under its path (`webhooks[0].url: points at a private, …`).
 *
 * A webhook URL is checked here for what can be told without DNS (https, no credentials, no literal private,
 * loopback or link-local address, no local name); the delivery function checks every address the name resolves
 * to before each attempt (synth must not depend on DNS, and DNS answers change).
 */
import { webhookUrlProblem } from '../lambdas/core/webhook-address';
import { WEBHOOK_NAME } from '../lambdas/core/webhook-delivery';
import { JOB_FINISHED_TYPE } from '../lambdas/core/job-events';

export interface WebhookConfig {
  /** Unique; names the rule, the secret and appears in webhook ids (`msg_<jobId>_<name>`) and logs. */
  name: string;
  /** `https://` on a public host. */
  url: string;
  /** Event types sent to it; today only `job.finished`. */
  events: (typeof JOB_FINISHED_TYPE)[];
}

export interface EventsConfig {
  /** `events.busName`: a custom bus's name; unset means the account's default bus. */
  events: { busName?: string };
  webhooks: WebhookConfig[];
}

export const DEFAULT_EVENTS_CONFIG: EventsConfig = { events: {}, webhooks: [] };
export const EVENTS_CONFIG_KEYS = Object.keys(DEFAULT_EVENTS_CONFIG);

/** EventBridge's rule for bus names (not `default`, which is what leaving it out means). */
const BUS_NAME = /^[A-Za-z0-9._-]{1,256}$/;
const WEBHOOK_KEYS = ['name', 'url', 'events'];

function checkBus(value: unknown, problems: string[]): EventsConfig['events'] | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    problems.push('events: must be an object');
    return undefined;
  }
  const { busName, ...rest } = value as Record<string, unknown>;
  for (const key of Object.keys(rest))
    problems.push(`events.${key}: is not a known setting (known: busName)`);
  if (busName === undefined) return {};
  if (typeof busName !== 'string' || !BUS_NAME.test(busName) || busName === 'default') {
    problems.push('events.busName: must be an EventBridge bus name (leave it out for the default bus)');
    return undefined;
  }
  return { busName };
}

function checkWebhook(path: string, value: unknown, problems: string[]): WebhookConfig | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    problems.push(`${path}: must be an object with name, url and events`);
    return undefined;
  }
  const before = problems.length;
  const w = value as Record<string, unknown>;
  for (const key of Object.keys(w)) {
    if (!WEBHOOK_KEYS.includes(key))
      problems.push(`${path}.${key}: is not a known setting (known: name, url, events)`);
  }
  if (typeof w.name !== 'string' || !WEBHOOK_NAME.test(w.name)) {
    problems.push(`${path}.name: must be 1-32 lowercase letters, digits and -, starting with a letter`);
  }
  const urlProblem = typeof w.url === 'string' ? webhookUrlProblem(w.url) : 'must be a string';
  if (urlProblem) problems.push(`${path}.url: ${urlProblem}`);
  const events = w.events;
  if (!Array.isArray(events) || events.length === 0 || events.some((e) => e !== JOB_FINISHED_TYPE)) {
    problems.push(`${path}.events: must be ["${JOB_FINISHED_TYPE}"]`);
  }
  if (problems.length > before) return undefined;
  return { name: w.name as string, url: w.url as string, events: [JOB_FINISHED_TYPE] };
}

/** Checks `events` and `webhooks` of `merged` (the root, laid over the defaults); undefined on a problem. */
export function checkEventsConfig(
  merged: Record<string, unknown>,
  problems: string[],
): EventsConfig | undefined {
  const before = problems.length;
  const events = checkBus(merged.events, problems);
  const webhooks: WebhookConfig[] = [];
  if (!Array.isArray(merged.webhooks)) problems.push('webhooks: must be an array');
  else {
    const seen = new Set<string>();
    for (const [i, item] of merged.webhooks.entries()) {
      const webhook = checkWebhook(`webhooks[${i}]`, item, problems);
      if (!webhook) continue;
      if (seen.has(webhook.name)) problems.push(`webhooks[${i}].name: "${webhook.name}" is used twice`);
      seen.add(webhook.name);
      webhooks.push(webhook);
    }
  }
  if (problems.length > before) return undefined;
  return { events: events!, webhooks };
}
