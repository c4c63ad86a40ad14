/**
 * The Lambda SQS event source mapping, played by a test against moto SQS: receive, build the SQS event exactly
 * as the mapping does, invoke the handler, delete what succeeded and leave the batch item failures (whose
 * visibility the handler changed). Shared by the worker and the end-to-end pipeline tests.
 */
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  type Message,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { randomUUID } from 'node:crypto';

export interface TestQueue {
  url: string;
  arn: string;
}

export async function arnOf(sqs: SQSClient, url: string): Promise<string> {
  const answer = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }),
  );
  return answer.Attributes!.QueueArn!;
}

/** A chunk queue with its dead-letter queue, as the stack makes them (redrive after `maxReceiveCount`). */
export async function createChunkQueues(
  sqs: SQSClient,
  suffix: string,
  maxReceiveCount: number,
): Promise<{ chunks: TestQueue; dlqUrl: string }> {
  const dlqUrl = (await sqs.send(new CreateQueueCommand({ QueueName: `chunks-dlq-${suffix}` }))).QueueUrl!;
  const url = (
    await sqs.send(
      new CreateQueueCommand({
        QueueName: `chunks-${suffix}`,
        Attributes: {
          VisibilityTimeout: '30',
          RedrivePolicy: JSON.stringify({ deadLetterTargetArn: await arnOf(sqs, dlqUrl), maxReceiveCount }),
        },
      }),
    )
  ).QueueUrl!;
  return { chunks: { url, arn: await arnOf(sqs, url) }, dlqUrl };
}

/** Messages visible and in flight. */
export async function depth(sqs: SQSClient, url: string): Promise<number> {
  const answer = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return (
    Number(answer.Attributes!.ApproximateNumberOfMessages) +
    Number(answer.Attributes!.ApproximateNumberOfMessagesNotVisible)
  );
}

/** A Lambda SQS event, as the event source mapping builds it from received messages. */
export function sqsEvent(messages: Message[], queueArn: string): SQSEvent {
  return {
    Records: messages.map((m) => ({
      messageId: m.MessageId!,
      receiptHandle: m.ReceiptHandle!,
      body: m.Body!,
      attributes: {
        ApproximateReceiveCount: m.Attributes!.ApproximateReceiveCount!,
        SentTimestamp: m.Attributes!.SentTimestamp!,
        SenderId: m.Attributes!.SenderId ?? 'test',
        ApproximateFirstReceiveTimestamp: m.Attributes!.ApproximateFirstReceiveTimestamp!,
      },
      messageAttributes: {},
      md5OfBody: m.MD5OfBody!,
      eventSource: 'aws:sqs',
      eventSourceARN: queueArn,
      awsRegion: 'us-east-1',
    })),
  };
}

export const chunkLambdaContext = (): Context =>
  ({
    functionName: 'process-chunk',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:process-chunk',
    memoryLimitInMB: '256',
    awsRequestId: randomUUID(),
    logGroupName: '/aws/lambda/process-chunk',
    logStreamName: 'test',
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => 30_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  }) as Context;

export type ChunkHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;

export interface Invocation {
  receiveCounts: number[];
  failures: number;
}

export interface PumpOptions {
  /**
   * Every received batch is delivered a second time, after the first delivery finished and before its messages
   * are deleted: SQS's at-least-once delivery when a delete is lost (or a visibility timeout ran out).
   */
  deliverTwice?: boolean;
  /** Messages per receive (the event source's batch size); default 10. */
  maxMessages?: number;
}

/** Plays the event source mapping until `done()` or nothing is left; returns what each invocation saw. */
export async function pump(
  sqs: SQSClient,
  queue: TestQueue,
  handler: ChunkHandler,
  done: () => Promise<boolean>,
  options: PumpOptions = {},
): Promise<Invocation[]> {
  const invocations: Invocation[] = [];
  const deadline = Date.now() + 60_000; // a guard against a hang, not a timing assertion
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error('the queue did not drain');
    const received = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queue.url,
        MaxNumberOfMessages: options.maxMessages ?? 10,
        WaitTimeSeconds: 1,
        MessageSystemAttributeNames: ['All'],
      }),
    );
    const messages = received.Messages ?? [];
    if (messages.length === 0) continue;
    const deliveries = options.deliverTwice ? 2 : 1;
    const failed = new Set<string>();
    for (let delivery = 0; delivery < deliveries; delivery++) {
      const answer = await handler(sqsEvent(messages, queue.arn), chunkLambdaContext());
      const failedNow = new Set(answer.batchItemFailures.map((f) => f.itemIdentifier));
      // A message counts as handled when its first delivery succeeded; a later one cannot undo that.
      if (delivery === 0) for (const id of failedNow) failed.add(id);
      invocations.push({
        receiveCounts: messages.map((m) => Number(m.Attributes!.ApproximateReceiveCount)),
        failures: failedNow.size,
      });
    }
    const succeeded = messages.filter((m) => !failed.has(m.MessageId!));
    if (succeeded.length > 0) {
      await sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: queue.url,
          Entries: succeeded.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
        }),
      );
    }
  }
  return invocations;
}
