/**
 * The worker side of the cost run: Lambda's SQS event source played against moto SQS with the real process-chunk
 * handler, `workerConcurrency` execution environments at once, each receiving up to `workerBatchSize` messages.
 * The event source's receives and deletes are counted under `esm`, the handler's requests under `process-chunk`.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { Context } from 'aws-lambda';
import { DynamoRateLimiter } from '../../lambdas/adapters/dynamo-rate-limiter';
import type { RateLimiter } from '../../lambdas/core/pacing';
import { sleep } from '../../lambdas/core/retry';
import { chunkHandlerFromEnv } from '../../lambdas/process-chunk/handler';
import { sqsEvent } from '../../test/integration/sqs-harness';
import { meter } from '../lib/aws-meter';
import type { CostConfig } from '../lib/cost-types';

export interface DrainOptions {
  cfg: CostConfig;
  env: Record<string, string>;
  clients: { dynamo: DynamoDBClient; s3: S3Client; sqs: SQSClient };
  queueUrl: string;
  queueArn: string;
  invoke: <T>(fn: string, body: () => Promise<T>) => Promise<T>;
  /** Filled with the job id of every chunk seen. */
  jobIds: Set<string>;
  /** Added to: each invocation's pacing time, and of it asleep (see `timedLimiter`), in ms. */
  pacing: { waitMs: number; sleptMs: number };
}

/** The chunks' times in the limiter (and of that, asleep) during the invocation running now. */
const pacingTimes = new AsyncLocalStorage<{ inLimiter: number[]; slept: number[] }>();

/**
 * The product's DynamoDB limiter, built as rateLimiterFromEnv builds it (same table, rate and wait limit), timed:
 * the chunks of an invocation acquire their slots side by side, so the invocation lives as much longer for pacing
 * as the longest of their times in the limiter (its conditional writes and re-reads when it loses a race to
 * another worker, then its sleep until the slot).
 */
function timedLimiter(o: DrainOptions): RateLimiter {
  const limiter = new DynamoRateLimiter({
    client: o.clients.dynamo,
    tableName: o.env.JOBS_TABLE_NAME!,
    ratePerSecond: Number(o.env.DANA_RATE_LIMIT_PER_SECOND),
    maxWaitMs: Number(o.env.DANA_PACING_MAX_WAIT_MS),
    sleep: (ms) => {
      pacingTimes.getStore()?.slept.push(ms);
      return sleep(ms);
    },
  });
  return {
    async acquire() {
      const began = performance.now();
      try {
        await limiter.acquire();
      } finally {
        pacingTimes.getStore()?.inLimiter.push(performance.now() - began);
      }
    },
  };
}

/** One invocation with its pacing wait recorded. */
async function invokeTimed<T>(o: DrainOptions, body: () => Promise<T>): Promise<T> {
  const times = { inLimiter: [] as number[], slept: [] as number[] };
  try {
    return await pacingTimes.run(times, () => o.invoke('process-chunk', body));
  } finally {
    o.pacing.waitMs += Math.max(0, ...times.inLimiter);
    o.pacing.sleptMs += Math.max(0, ...times.slept);
  }
}

/** A context like the runtime's, with the function's deadline (the worker sizes its lease and call window on it). */
function workerContext(timeoutSeconds: number): Context {
  const deadline = Date.now() + timeoutSeconds * 1000;
  return {
    functionName: 'process-chunk',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:process-chunk',
    memoryLimitInMB: '512',
    awsRequestId: randomUUID(),
    logGroupName: '/aws/lambda/process-chunk',
    logStreamName: 'bench',
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/** Messages visible, in flight or delayed: 0 when every chunk is done (not billed: `harness`). */
async function depth(sqs: SQSClient, queueUrl: string): Promise<number> {
  const answer = await meter.run('harness', () =>
    sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['All'] })),
  );
  const a: Record<string, string | undefined> = answer.Attributes ?? {};
  return [
    'ApproximateNumberOfMessages',
    'ApproximateNumberOfMessagesNotVisible',
    'ApproximateNumberOfMessagesDelayed',
  ]
    .map((name) => Number(a[name] ?? 0))
    .reduce((x, y) => x + y, 0);
}

/**
 * An event-source request (counted under `esm`), tried again after a failure: Lambda's event source keeps
 * polling whatever its own requests meet. An overloaded moto times requests out for many seconds in a row (and
 * empties the SDK's retry quota, so its errors arrive after one attempt); 30 tries, up to 5 s apart, outlast that.
 */
async function esmRetry<T>(send: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await meter.run('esm', send);
    } catch (error) {
      if (attempt >= 30) throw error;
      await sleep(Math.min(5_000, 500 * attempt));
    }
  }
}

/** One execution environment: receive, invoke, delete the successes, until the queue is empty. */
async function environment(o: DrainOptions): Promise<void> {
  const handler = chunkHandlerFromEnv(o.env, { clients: o.clients, worker: { limiter: timedLimiter(o) } });
  const { sqs } = o.clients;
  const deadline = Date.now() + 30 * 60_000; // a guard against a hang, not a timing assertion
  while (Date.now() < deadline) {
    // Lambda's event source retries its own failed receives and deletes; a moto overloaded by the run (a 3 s
    // request timeout) must not end the run either.
    const received = await esmRetry(() =>
      sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: o.queueUrl,
          MaxNumberOfMessages: o.cfg.workerBatchSize,
          WaitTimeSeconds: 1,
          MessageSystemAttributeNames: ['All'],
        }),
      ),
    );
    const messages = received.Messages ?? [];
    if (messages.length === 0) {
      // An overloaded moto's timeout reads as "not empty yet": poll again.
      if ((await depth(sqs, o.queueUrl).catch(() => 1)) === 0) return;
      continue;
    }
    for (const m of messages) o.jobIds.add((JSON.parse(m.Body!) as { jobId: string }).jobId);
    const event = sqsEvent(messages, o.queueArn);
    const answer = await invokeTimed(o, () =>
      handler(event, workerContext(o.cfg.workerTimeoutSeconds)),
    ).catch((error: unknown) => {
      // The product's handler must answer with batchItemFailures, never throw: say so loudly if it did.
      throw new Error(`process-chunk threw instead of answering: ${String(error)}`, { cause: error });
    });
    const failed = new Set(answer.batchItemFailures.map((f) => f.itemIdentifier));
    const done = messages.filter((m) => !failed.has(m.MessageId!));
    if (done.length === 0) continue;
    const entries = done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! }));
    await esmRetry(() => sqs.send(new DeleteMessageBatchCommand({ QueueUrl: o.queueUrl, Entries: entries })));
  }
  throw new Error('the queue did not drain within 30 minutes');
}

export async function drainQueue(o: DrainOptions): Promise<void> {
  await Promise.all(Array.from({ length: o.cfg.workerConcurrency }, () => environment(o)));
}
