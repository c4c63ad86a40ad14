/**
 * `npm run redrive [-- --dlq <url>] [--queue <url>]`: moves every message of the chunk dead-letter queue
 * (`DLQ_URL`) back to the chunk queue (`QUEUE_URL`), and prints how many.
 *
 * Receive, send, delete, ten at a time: exact counts, works against moto (which lacks StartMessageMoveTask), and a
 * message is deleted from the DLQ only after the queue has taken it. A crash between the two leaves a copy in
 * both queues, which is harmless: the worker dedups chunks. A redriven chunk that was dead-lettered runs again
 * (its failure was provably not a start) and its rows' outcomes and the job's report are updated.
 */
import {
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
  type Message,
} from '@aws-sdk/client-sqs';
import { pathToFileURL } from 'node:url';

export interface RedriveResult {
  moved: number;
  /** Messages the queue refused; they stay in the DLQ. */
  failed: number;
}

export async function redrive(
  sqs: SQSClient,
  p: { dlqUrl: string; queueUrl: string; onProgress?: (moved: number) => void },
): Promise<RedriveResult> {
  let moved = 0;
  let failed = 0;
  const refused = new Set<string>();
  for (;;) {
    const received = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: p.dlqUrl,
        MaxNumberOfMessages: 10,
        // Long polling asks every SQS server, so an empty answer means an empty queue.
        WaitTimeSeconds: 1,
        // Long enough to send and delete; a refused message stays hidden until the run is over.
        VisibilityTimeout: 60,
        MessageAttributeNames: ['All'],
      }),
    );
    const messages = (received.Messages ?? []).filter((m) => !refused.has(m.MessageId ?? ''));
    if (messages.length === 0) break;
    const byId = new Map<string, Message>(messages.map((m, i) => [String(i), m]));
    const sent = await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: p.queueUrl,
        Entries: [...byId].map(([id, m]) => ({
          Id: id,
          MessageBody: m.Body ?? '',
          MessageAttributes: m.MessageAttributes,
        })),
      }),
    );
    for (const failure of sent.Failed ?? []) {
      failed++;
      refused.add(byId.get(failure.Id ?? '')?.MessageId ?? '');
    }
    const done = (sent.Successful ?? []).map((s) => ({
      Id: s.Id!,
      ReceiptHandle: byId.get(s.Id!)!.ReceiptHandle!,
    }));
    if (done.length > 0) {
      await sqs.send(new DeleteMessageBatchCommand({ QueueUrl: p.dlqUrl, Entries: done }));
      moved += done.length;
      p.onProgress?.(moved);
    }
  }
  return { moved, failed };
}

function option(args: string[], name: string): string | undefined {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : undefined;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const dlqUrl = option(args, '--dlq') ?? process.env.DLQ_URL;
  const queueUrl = option(args, '--queue') ?? process.env.QUEUE_URL;
  if (!dlqUrl || !queueUrl) {
    console.error('usage: npm run redrive -- --dlq <dead-letter queue url> --queue <queue url>');
    console.error('       (or set DLQ_URL and QUEUE_URL)');
    process.exitCode = 2;
    return;
  }
  const result = await redrive(new SQSClient({}), {
    dlqUrl,
    queueUrl,
    onProgress: (moved) => console.log(`moved ${moved}`),
  });
  console.log(`redrive done: ${result.moved} moved, ${result.failed} refused (still in the DLQ)`);
  if (result.failed > 0) process.exitCode = 1;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((error: unknown) => {
    console.error(`redrive failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  });
}
