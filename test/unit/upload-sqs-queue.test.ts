/** SqsChunkQueue with aws-sdk-client-mock: packing, partial failures retried and never dropped, limits. */
import { SQSClient, SendMessageBatchCommand, type SendMessageBatchCommandInput } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_BYTES_PER_CALL, SqsChunkQueue, packEntries } from '../../lambdas/adapters/sqs-queue';
import type { ChunkMessage } from '../../lambdas/core/jobs';

const QUEUE_URL = 'https://sqs.us-east-1.amazonaws.com/123456789012/chunks';
const sqs = mockClient(SQSClient);
afterEach(() => sqs.reset());

const chunk = (index: number, value = 'v'): ChunkMessage => ({
  jobId: 'job',
  chunkId: `job#${String(index).padStart(9, '0')}`,
  operation: { kind: 'batch', conversationId: 1 },
  rows: [{ row: index + 1, record: { A: value } }],
});

function queue(delays: number[] = []) {
  const retry = { maxAttempts: 4, baseDelayMs: 100, maxDelayMs: 400, budgetMs: 10_000 };
  const client = new SQSClient({ region: 'us-east-1' });
  return new SqsChunkQueue(client, QUEUE_URL, {
    retry,
    random: () => 0.999,
    sleep: async (ms) => void delays.push(ms),
  });
}

const inputs = () => sqs.commandCalls(SendMessageBatchCommand).map((call) => call.args[0].input);
const bodies = (input: SendMessageBatchCommandInput) =>
  (input.Entries ?? []).map((e) => (JSON.parse(e.MessageBody!) as ChunkMessage).chunkId);

describe('SqsChunkQueue', () => {
  it('sends 10 entries per call, each entry one chunk as JSON', async () => {
    sqs.on(SendMessageBatchCommand).callsFake((input: SendMessageBatchCommandInput) => ({
      Successful: input.Entries!.map((e) => ({ Id: e.Id, MessageId: `m-${e.Id}`, MD5OfMessageBody: 'x' })),
      Failed: [],
    }));
    const chunks = Array.from({ length: 23 }, (_, i) => chunk(i));
    await queue().sendChunks(chunks);
    const calls = inputs();
    expect(calls.map((c) => c.Entries!.length)).toEqual([10, 10, 3]);
    expect(calls.every((c) => c.QueueUrl === QUEUE_URL)).toBe(true);
    expect(calls.flatMap(bodies)).toEqual(chunks.map((c) => c.chunkId));
    expect(JSON.parse(calls[0]!.Entries![0]!.MessageBody!)).toEqual(chunks[0]);
  });

  it('sends again exactly the entries reported failed, with capped backoff, until all are in', async () => {
    let call = 0;
    sqs.on(SendMessageBatchCommand).callsFake((input: SendMessageBatchCommandInput) => {
      call++;
      const entries = input.Entries!;
      // First call: entries 2 and 5 fail; second call: one of them fails again; third: all pass.
      const failIds = call === 1 ? ['2', '5'] : call === 2 ? [entries[1]!.Id!] : [];
      return {
        Successful: entries
          .filter((e) => !failIds.includes(e.Id!))
          .map((e) => ({ Id: e.Id, MessageId: 'm' })),
        Failed: failIds.map((Id) => ({ Id, SenderFault: false, Code: 'InternalError' })),
      };
    });
    const delays: number[] = [];
    const chunks = Array.from({ length: 10 }, (_, i) => chunk(i));
    await queue(delays).sendChunks(chunks);
    const calls = inputs();
    expect(calls.map(bodies)).toEqual([
      chunks.map((c) => c.chunkId),
      [chunks[2]!.chunkId, chunks[5]!.chunkId],
      [chunks[5]!.chunkId],
    ]);
    expect(delays).toEqual([99, 199]);
  });

  it('throws, naming codes not contents, when entries still fail after the last attempt', async () => {
    sqs.on(SendMessageBatchCommand).callsFake((input: SendMessageBatchCommandInput) => ({
      Successful: input.Entries!.slice(1).map((e) => ({ Id: e.Id, MessageId: 'm' })),
      Failed: [{ Id: input.Entries![0]!.Id, SenderFault: false, Code: 'ServiceUnavailable' }],
    }));
    const delays: number[] = [];
    const error = await queue(delays)
      .sendChunks([chunk(0, 'person@example.com'), chunk(1)])
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toBe(
      'SQS refused 1 of 1 chunk messages after 4 attempt(s) (ServiceUnavailable)',
    );
    expect((error as Error).message).not.toContain('example.com');
    expect(inputs()).toHaveLength(4);
    // Capped: the delay never grows past maxDelayMs.
    expect(delays).toEqual([99, 199, 399]);
  });

  it('throws at once on a sender fault (sending the same entry again cannot help)', async () => {
    sqs.on(SendMessageBatchCommand).resolves({
      Successful: [],
      Failed: [{ Id: '0', SenderFault: true, Code: 'InvalidParameterValue' }],
    });
    await expect(queue().sendChunks([chunk(0)])).rejects.toThrow('(InvalidParameterValue)');
    expect(inputs()).toHaveLength(1);
  });

  it('sends a whole call again after a transient error of the call itself (once the SDK stops retrying)', async () => {
    // After many timeouts in one environment the SDK stops retrying (its retry quota is empty) and a timeout
    // reaches us after one attempt; the ingest must not fail a whole upload for it.
    const timeout = Object.assign(new Error('a request has exceeded the configured 3000 ms requestTimeout'), {
      name: 'TimeoutError',
      code: 'ETIMEDOUT',
    });
    sqs.on(SendMessageBatchCommand).rejectsOnce(timeout).rejectsOnce(timeout).resolves({ Failed: [] });
    const delays: number[] = [];
    await queue(delays).sendChunks([chunk(0)]);
    expect(inputs().map(bodies)).toEqual([['job#000000000'], ['job#000000000'], ['job#000000000']]);
    expect(delays).toHaveLength(2);
  });

  it('propagates an error of the call itself that is not transient', async () => {
    sqs.on(SendMessageBatchCommand).rejects(new Error('AWS.SimpleQueueService.NonExistentQueue'));
    await expect(queue().sendChunks([chunk(0)])).rejects.toThrow('NonExistentQueue');
  });
});

describe('packEntries', () => {
  it('keeps each call within 10 entries and 256 KiB of bodies', () => {
    const body = (kib: number) => 'x'.repeat(kib * 1024);
    const calls = packEntries([body(100), body(100), body(100), body(10), ...Array(12).fill(body(1))]);
    for (const entries of calls) {
      expect(entries.length).toBeLessThanOrEqual(10);
      const bytes = entries.reduce((n, e) => n + Buffer.byteLength(e.MessageBody!), 0);
      expect(bytes).toBeLessThanOrEqual(MAX_BYTES_PER_CALL);
      expect(new Set(entries.map((e) => e.Id)).size).toBe(entries.length);
    }
    expect(calls.map((c) => c.length)).toEqual([2, 10, 4]);
    expect(calls.flat()).toHaveLength(16);
  });
});
