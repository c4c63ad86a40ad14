/**
 * The local twin of "EventBridge rule -> delivery queue -> deliver-webhook": `npm start` with LOCAL_WEBHOOK_URL and
 * LOCAL_WEBHOOK_SECRET (`whsec_…`) posts the same signed webhook for every finished job, through the same core
 * (../core/webhook-delivery.ts) and the same guarded POST (./webhook-http.ts), retried by the same rule on a
 * shorter clock (LOCAL_WEBHOOK_RETRY: the 24-hour schedule divided by 720, so about 2 minutes). Loopback URLs are
 * allowed here, and only here. Accepting an event means it is scheduled, as EventBridge accepting it means it is
 * queued; what becomes of each attempt is printed by `log`.
 */
import { ConfigurationError } from '../core/errors';
import type { JobEventDeps, JobEventPublisher, JobFinishedDetail } from '../core/job-events';
import { webhookUrlProblem } from '../core/webhook-address';
import { attemptDelivery, type DeliveryDeps } from '../core/webhook-delivery';
import { WEBHOOK_RETRY, WEBHOOK_SECRET_PREFIX, webhookKey, type WebhookRetryPolicy } from '../core/webhooks';
import { postWebhook } from './webhook-http';

const LOCAL_CLOCK_DIVISOR = 720;
export const LOCAL_WEBHOOK_RETRY: WebhookRetryPolicy = {
  delaysMs: WEBHOOK_RETRY.delaysMs.map((ms) => Math.ceil(ms / LOCAL_CLOCK_DIVISOR)),
  retryForMs: WEBHOOK_RETRY.retryForMs / LOCAL_CLOCK_DIVISOR,
};
const LOCAL_ENDPOINT_NAME = 'local';

export interface LocalWebhookOptions {
  url: string;
  secret: string;
  policy?: WebhookRetryPolicy;
  log?: (line: string) => void;
}

export class LocalWebhookSender implements JobEventPublisher {
  private readonly deps: DeliveryDeps;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly running = new Set<Promise<void>>();
  private readonly log: (line: string) => void;

  constructor(options: LocalWebhookOptions) {
    const problem = webhookUrlProblem(options.url, { allowLoopback: true });
    if (problem) throw new ConfigurationError(`LOCAL_WEBHOOK_URL ${problem}`);
    if (!options.secret.startsWith(WEBHOOK_SECRET_PREFIX)) {
      throw new ConfigurationError(`LOCAL_WEBHOOK_SECRET must start with ${WEBHOOK_SECRET_PREFIX}`);
    }
    webhookKey(options.secret); // fails now, naming the rule, rather than at the first job
    const endpoint = { name: LOCAL_ENDPOINT_NAME, url: options.url };
    this.deps = {
      endpoint: () => endpoint,
      secret: async () => options.secret,
      post: (request) => postWebhook({ ...request, rules: { allowLoopback: true } }),
      policy: options.policy ?? LOCAL_WEBHOOK_RETRY,
    };
    this.log = options.log ?? (() => undefined);
  }

  async publishJobFinished(detail: JobFinishedDetail): Promise<void> {
    this.schedule(detail, 1, Date.now(), 0);
  }

  private schedule(
    detail: JobFinishedDetail,
    attempt: number,
    firstAttemptAt: number,
    delayMs: number,
  ): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      const run = this.attempt(detail, attempt, firstAttemptAt).finally(() => this.running.delete(run));
      this.running.add(run);
    }, delayMs);
    this.timers.add(timer);
  }

  private async attempt(detail: JobFinishedDetail, attempt: number, firstAttemptAt: number): Promise<void> {
    const job = detail.jobId;
    try {
      const { result, verdict } = await attemptDelivery(
        this.deps,
        { webhook: LOCAL_ENDPOINT_NAME, detail },
        attempt,
        firstAttemptAt,
      );
      const got = 'status' in result ? `HTTP ${result.status}` : result.errorClass;
      if (verdict.kind === 'delivered') this.log(`webhook job ${job}: delivered (${got})`);
      else if (verdict.kind === 'retry') {
        this.log(`webhook job ${job}: attempt ${attempt} failed (${got}), again in ${verdict.delayMs} ms`);
        this.schedule(detail, attempt + 1, firstAttemptAt, verdict.delayMs);
      } else this.log(`webhook job ${job}: given up (${verdict.reason}, ${got}) after ${attempt} attempts`);
    } catch (error) {
      this.log(`webhook job ${job}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  /** Resolves when no attempt is running or waiting (tests). */
  async idle(): Promise<void> {
    while (this.timers.size > 0 || this.running.size > 0) {
      await Promise.all(this.running);
      if (this.timers.size > 0) await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** Stops every waiting retry (Ctrl-C). */
  close(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }
}

/**
 * The local events from LOCAL_WEBHOOK_URL and LOCAL_WEBHOOK_SECRET: undefined when neither is set; one without
 * the other is a ConfigurationError naming the missing one.
 */
export function localWebhookEventsFromEnv(
  env: NodeJS.ProcessEnv,
  reportBucket: string,
  log?: (line: string) => void,
): (JobEventDeps & { publisher: LocalWebhookSender }) | undefined {
  const url = env.LOCAL_WEBHOOK_URL;
  const secret = env.LOCAL_WEBHOOK_SECRET;
  if (!url && !secret) return undefined;
  if (!url) throw new ConfigurationError('LOCAL_WEBHOOK_URL is not set (LOCAL_WEBHOOK_SECRET is)');
  if (!secret) throw new ConfigurationError('LOCAL_WEBHOOK_SECRET is not set (LOCAL_WEBHOOK_URL is)');
  return { publisher: new LocalWebhookSender({ url, secret, ...(log && { log }) }), reportBucket };
}
