/**
 * ChunkQueue over SQS SendMessageBatch. Entries are packed 10 per call and within SQS's 256 KiB per call. Entries
 * SQS reports as failed are sent again alone, and a call that failed transiently is sent again whole, by the one
 * retry loop (capped, jittered backoff); if they still fail, sendChunks throws, so the ingest (and its Lambda
 * invocation) fails and is retried as a whole: nothing is ever dropped.
 */
import { SQSClient, SendMessageBatchCommand, type SendMessageBatchRequestEntry } from '@aws-sdk/client-sqs';
import type { ChunkMessage, ChunkQueue } from '../core/jobs';
import { policyDelay, retryLoop, sleep, type RetryPolicy } from '../core/retry';
import { isTransientAwsError } from './aws-retry';

export const MAX_ENTRIES_PER_CALL = 10;
/** SQS's limit for the sum of the message bodies in one SendMessageBatch. */
export const MAX_BYTES_PER_CALL = 256 * 1024;

export const DEFAULT_SEND_RETRY: RetryPolicy = {
  maxAttempts: 5,
  baseDelayMs: 100,
  maxDelayMs: 2_000,
  budgetMs: 30_000,
};

export interface SqsChunkQueueOptions {
  retry?: RetryPolicy;
  /** For tests: the wait between attempts and its jitter. */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

/** Groups message bodies into calls of at most 10 entries and 256 KiB. */
export function packEntries(bodies: readonly string[]): SendMessageBatchRequestEntry[][] {
  const calls: SendMessageBatchRequestEntry[][] = [];
  let current: SendMessageBatchRequestEntry[] = [];
  let bytes = 0;
  for (const body of bodies) {
    const size = Buffer.byteLength(body, 'utf8');
    if (
      current.length === MAX_ENTRIES_PER_CALL ||
      (current.length > 0 && bytes + size > MAX_BYTES_PER_CALL)
    ) {
      calls.push(current);
      current = [];
      bytes = 0;
    }
    // Ids only need to be unique within one call.
    current.push({ Id: String(current.length), MessageBody: body });
    bytes += size;
  }
  if (current.length > 0) calls.push(current);
  return calls;
}

export class SqsChunkQueue implements ChunkQueue {
  private readonly retry: RetryPolicy;
  private readonly wait: (ms: number) => Promise<void>;
  private readonly random: () => number;

  constructor(
    private readonly client: SQSClient,
    private readonly queueUrl: string,
    options: SqsChunkQueueOptions = {},
  ) {
    this.retry = options.retry ?? DEFAULT_SEND_RETRY;
    this.wait = options.sleep ?? sleep;
    this.random = options.random ?? Math.random;
  }

  async sendChunks(chunks: ChunkMessage[]): Promise<void> {
    for (const entries of packEntries(chunks.map((chunk) => JSON.stringify(chunk)))) {
      await this.sendCall(entries);
    }
  }

  /**
   * One SendMessageBatch call, its refused entries sent again with the one retry loop (jittered backoff) until SQS
   * took them all; a sender fault (a malformed entry) fails the same way every time, so it is not retried.
   */
  private async sendCall(entries: SendMessageBatchRequestEntry[]): Promise<void> {
    let pending = entries;
    await retryLoop(
      async (attempt) => {
        // Errors of the call itself (throttling, network, timeouts) are retried by the SDK first; after many
        // timeouts in one environment its retry quota is spent and they arrive after one attempt, so the loop
        // below sends the whole call again too. A call that acted but lost its answer sends duplicates, which
        // the worker's claim absorbs (docs/OUTCOME-RULES.md).
        const answer = await this.client.send(
          new SendMessageBatchCommand({ QueueUrl: this.queueUrl, Entries: pending }),
        );
        const failed = answer.Failed ?? [];
        if (failed.length === 0) return;
        const codes = [...new Set(failed.map((entry) => entry.Code ?? 'unknown'))].join(', ');
        const error = new PartialSendError(
          `SQS refused ${failed.length} of ${pending.length} chunk messages after ${attempt} attempt(s) (${codes})`,
          failed.some((entry) => entry.SenderFault),
        );
        const ids = new Set(failed.map((entry) => entry.Id));
        pending = pending.filter((entry) => ids.has(entry.Id));
        throw error;
      },
      (error, n, elapsedMs) =>
        (error instanceof PartialSendError && !error.permanent) || isTransientAwsError(error)
          ? policyDelay(n, elapsedMs, this.retry, this.random)
          : undefined,
      { now: Date.now, sleep: this.wait },
    );
  }
}

/** Some entries of a SendMessageBatch were refused. */
class PartialSendError extends Error {
  constructor(
    message: string,
    readonly permanent: boolean,
  ) {
    super(message);
    this.name = 'PartialSendError';
  }
}

/** The queue named by `QUEUE_URL`, over a client the caller builds once per execution environment. */
export function sqsChunkQueueFromEnv(client: SQSClient, env: NodeJS.ProcessEnv = process.env): SqsChunkQueue {
  const queueUrl = env.QUEUE_URL;
  if (!queueUrl) throw new Error('QUEUE_URL is not set');
  return new SqsChunkQueue(client, queueUrl);
}
