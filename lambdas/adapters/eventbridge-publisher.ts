/**
 * The Job Finished event on EventBridge (`EVENT_BUS_NAME`: `default` or a custom bus): source
 * `dana.gateway`, detail-type `Job Finished`. PutEvents answers 200 even when it refused an entry, so a failed
 * entry is thrown as an error named by its code: throttling and internal failures are retried by the one AWS
 * retry loop (./aws-retry.ts), anything else fails the caller's delivery, which comes back and publishes again.
 *
 * `jobEventsFromEnv` is how the batch functions get it: the installed local twin (`useLocalJobEvents`), else
 * this adapter, with BUCKET_NAME as the bucket the event's report keys are in.
 */
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import {
  JOB_EVENT_SOURCE,
  JOB_FINISHED_DETAIL_TYPE,
  type JobEventDeps,
  type JobEventPublisher,
  type JobFinishedDetail,
} from '../core/job-events';
import { ConfigurationError } from '../core/errors';
import type { RetryPolicy } from '../core/retry';
import { awsClientConfig } from './aws-clients';
import { withAwsRetries } from './aws-retry';

/** A few seconds at most: the worker's time budget has room for one more small write, not for a long wait. */
export const PUT_EVENTS_RETRY: RetryPolicy = {
  maxAttempts: 5,
  baseDelayMs: 100,
  maxDelayMs: 1_000,
  budgetMs: 3_000,
};

class PutEventsEntryError extends Error {
  constructor(code: string) {
    super(`EventBridge refused the event: ${code}`);
    // The entry's code as the error name, so the retry loop knows throttling and internal failures.
    this.name = code;
  }
}

export class EventBridgePublisher implements JobEventPublisher {
  constructor(
    private readonly client: EventBridgeClient,
    private readonly busName: string = 'default',
  ) {}

  async publishJobFinished(detail: JobFinishedDetail): Promise<void> {
    await withAwsRetries(async () => {
      const answer = await this.client.send(
        new PutEventsCommand({
          Entries: [
            {
              EventBusName: this.busName,
              Source: JOB_EVENT_SOURCE,
              DetailType: JOB_FINISHED_DETAIL_TYPE,
              Detail: JSON.stringify(detail),
              Time: new Date(detail.finishedAt),
            },
          ],
        }),
      );
      const failed = answer.Entries?.find((entry) => entry.ErrorCode !== undefined);
      if ((answer.FailedEntryCount ?? 0) > 0 || failed) {
        throw new PutEventsEntryError(failed?.ErrorCode ?? 'InternalFailure');
      }
    }, PUT_EVENTS_RETRY);
  }
}

/** The local twin, installed by `npm start` and tests (`useLocalJobDeps({ events })`). */
const LOCAL_EVENTS = Symbol.for('dana-gateway.local-job-events');
type Holder = { [LOCAL_EVENTS]?: JobEventDeps };
const holder = globalThis as Holder;

/** Installs `events` for this process; returns what puts back the previous one. */
export function useLocalJobEvents(events: JobEventDeps): () => void {
  const previous = holder[LOCAL_EVENTS];
  holder[LOCAL_EVENTS] = events;
  return () => {
    if (previous === undefined) delete holder[LOCAL_EVENTS];
    else holder[LOCAL_EVENTS] = previous;
  };
}

/**
 * Where the batch functions announce finished jobs: the installed twin, else EventBridge on EVENT_BUS_NAME (the
 * stack always sets it: `default` or `events.busName`) with BUCKET_NAME as the reports' bucket. Undefined when
 * neither is there (no events: harnesses and local runs that installed none).
 */
export function jobEventsFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  client?: EventBridgeClient,
): JobEventDeps | undefined {
  const twin = holder[LOCAL_EVENTS];
  if (twin) return twin;
  const busName = env.EVENT_BUS_NAME;
  if (!busName) return undefined;
  const bucket = env.BUCKET_NAME;
  if (!bucket) throw new ConfigurationError('BUCKET_NAME is not set (named in Job Finished events)');
  const eventbridge = client ?? new EventBridgeClient(awsClientConfig('eventbridge'));
  return { publisher: new EventBridgePublisher(eventbridge, busName), reportBucket: bucket };
}
