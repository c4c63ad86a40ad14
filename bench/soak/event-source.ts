/**
 * What Lambda's SQS event source mapping does for the worker, played by one loop per "execution environment":
 * ReceiveMessage (up to `batchSize`, the queue's visibility timeout), the SQS event Lambda builds from it, one
 * invocation with a context whose remaining time counts down from the function's timeout, then DeleteMessage for
 * every record not named in `batchItemFailures` (all of them come back when the invocation throws). An
 * invocation still running at the timeout ends its environment, as Lambda does (here: the whole process).
 */
import {
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  type Message,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { randomUUID } from 'node:crypto';
import { chunkKey, emailsOf, type InvocationState, type ProcessState } from './instrument';

/**
 * The long poll's wait: Lambda's pollers wait up to 20 s; 5 s keeps 20 idle loops from costing moto 20
 * requests a second while still noticing a stopped soak quickly.
 */
export const POLL_WAIT_SECONDS = 5;

export type ChunkHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;

export interface LoopConfig {
  queueUrl: string;
  queueArn: string;
  batchSize: number;
  functionTimeoutMs: number;
}

export interface LoopStats {
  invocations: number;
  records: number;
  batchItemFailures: number;
  thrownInvocations: number;
  receiveErrors: number;
  deleteErrors: number;
}

export const emptyLoopStats = (): LoopStats => ({
  invocations: 0,
  records: 0,
  batchItemFailures: 0,
  thrownInvocations: 0,
  receiveErrors: 0,
  deleteErrors: 0,
});

/** The SQS event as the mapping builds it (see test/integration/sqs-harness.ts). */
export function sqsEvent(messages: Message[], queueArn: string): SQSEvent {
  return {
    Records: messages.map((m) => ({
      messageId: m.MessageId!,
      receiptHandle: m.ReceiptHandle!,
      body: m.Body!,
      attributes: {
        ApproximateReceiveCount: m.Attributes?.ApproximateReceiveCount ?? '1',
        SentTimestamp: m.Attributes?.SentTimestamp ?? '0',
        SenderId: m.Attributes?.SenderId ?? 'soak',
        ApproximateFirstReceiveTimestamp: m.Attributes?.ApproximateFirstReceiveTimestamp ?? '0',
      },
      messageAttributes: {},
      md5OfBody: m.MD5OfBody ?? '',
      eventSource: 'aws:sqs',
      eventSourceARN: queueArn,
      awsRegion: 'us-east-1',
    })),
  };
}

/** A Lambda context whose remaining time counts down from the function's timeout. */
export function lambdaContext(timeoutMs: number): Context {
  const deadline = Date.now() + timeoutMs;
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: 'process-chunk',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:process-chunk',
    memoryLimitInMB: '512',
    awsRequestId: randomUUID(),
    logGroupName: '/aws/lambda/process-chunk',
    logStreamName: 'soak',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/** The invocation's chunks and their rows, from the message bodies (malformed ones are simply not tracked). */
function invocationState(messages: Message[]): InvocationState {
  const chunks = new Map<string, string[]>();
  for (const m of messages) {
    try {
      const body = JSON.parse(m.Body ?? '') as {
        jobId: string;
        chunkId: string;
        rows: { record: unknown }[];
      };
      chunks.set(
        chunkKey(body.jobId, body.chunkId),
        emailsOf(JSON.stringify(body.rows.map((r) => r.record))),
      );
    } catch {
      // Not a chunk: the handler reports it as a batch item failure.
    }
  }
  return { chunks, calledRows: new Set() };
}

/** One invocation: the handler under its deadline; the records to delete afterwards. */
async function invoke(
  handler: ChunkHandler,
  messages: Message[],
  config: LoopConfig,
  state: ProcessState,
  stats: LoopStats,
): Promise<Message[]> {
  const invocation = invocationState(messages);
  state.live.add(invocation);
  // Lambda ends an environment whose invocation outlives its timeout; so does the soak.
  const timer = setTimeout(() => state.die('timeout'), config.functionTimeoutMs);
  let failed: Set<string>;
  try {
    const response = await state.als.run(invocation, () =>
      handler(sqsEvent(messages, config.queueArn), lambdaContext(config.functionTimeoutMs)),
    );
    failed = new Set((response?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
  } catch {
    stats.thrownInvocations++;
    failed = new Set(messages.map((m) => m.MessageId!));
  } finally {
    clearTimeout(timer);
    state.live.delete(invocation);
  }
  stats.invocations++;
  stats.records += messages.length;
  stats.batchItemFailures += failed.size;
  return messages.filter((m) => !failed.has(m.MessageId!));
}

/** Polls and invokes until `running()` turns false. */
export async function pollLoop(
  sqs: SQSClient,
  handler: ChunkHandler,
  config: LoopConfig,
  state: ProcessState,
  stats: LoopStats,
  running: () => boolean,
): Promise<void> {
  while (running()) {
    let messages: Message[];
    try {
      const answer = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: config.queueUrl,
          MaxNumberOfMessages: config.batchSize,
          WaitTimeSeconds: POLL_WAIT_SECONDS,
          MessageSystemAttributeNames: ['All'],
        }),
      );
      messages = answer.Messages ?? [];
    } catch {
      // The mapping's poller backs off and polls again.
      stats.receiveErrors++;
      await new Promise((resolve) => setTimeout(resolve, 200));
      continue;
    }
    // Stopped meanwhile: leave them; they come back after their visibility timeout.
    if (messages.length === 0 || !running()) continue;
    const succeeded = await invoke(handler, messages, config, state, stats);
    if (succeeded.length === 0) continue;
    try {
      await sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: config.queueUrl,
          Entries: succeeded.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
        }),
      );
    } catch {
      // Those messages come back after their visibility timeout: duplicates the worker must recognise.
      stats.deleteErrors++;
    }
  }
}
