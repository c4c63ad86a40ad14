/** The in-process chunk queue behaves like SQS with a redrive policy, as the local pipeline needs it to. */
import { describe, expect, it } from 'vitest';
import { MemoryChunkQueue } from '../../lambdas/adapters/memory-queue';
import type { ChunkMessage } from '../../lambdas/core/jobs';

const chunk = (i: number): ChunkMessage => ({
  jobId: 'j',
  chunkId: `j#${String(i).padStart(9, '0')}`,
  operation: { kind: 'batch', conversationId: 1001 },
  rows: [{ row: i + 1, record: { A: String(i) } }],
});

describe('MemoryChunkQueue', () => {
  it('delivers with growing receive counts until done, and a copy of the message each time', async () => {
    const seen: [string, number][] = [];
    const queue = new MemoryChunkQueue(
      async (message, receiveCount) => {
        seen.push([message.chunkId, receiveCount]);
        message.rows.length = 0; // mutating a delivery must not change the queued message
        return receiveCount < 3 ? { kind: 'retry', delayMs: 5 } : { kind: 'done' };
      },
      { maxReceiveCount: 5 },
    );
    await queue.sendChunks([chunk(0)]);
    await queue.idle();
    expect(seen).toEqual([
      ['j#000000000', 1],
      ['j#000000000', 2],
      ['j#000000000', 3],
    ]);
    expect(queue.depth()).toEqual({ waiting: 0, inFlight: 0, deadLettered: 0 });
  });

  it('moves a message to the dead letters instead of receiving it beyond maxReceiveCount; redrive starts it afresh', async () => {
    let failing = true;
    const counts: number[] = [];
    const errors: unknown[] = [];
    const queue = new MemoryChunkQueue(
      async (_message, receiveCount) => {
        counts.push(receiveCount);
        if (receiveCount === 2) throw new Error('worker crashed'); // comes back after the visibility timeout
        return failing ? { kind: 'retry', delayMs: 1 } : { kind: 'done' };
      },
      { maxReceiveCount: 3, visibilityTimeoutMs: 1, onError: (error) => errors.push(error) },
    );
    await queue.sendChunks([chunk(1)]);
    await queue.idle();
    expect(counts).toEqual([1, 2, 3]);
    expect(errors).toHaveLength(1);
    expect(queue.deadLetters()).toEqual([chunk(1)]);
    failing = false;
    expect(queue.redrive()).toBe(1);
    await queue.idle();
    expect(counts).toEqual([1, 2, 3, 1]);
    expect(queue.depth()).toEqual({ waiting: 0, inFlight: 0, deadLettered: 0 });
  });

  it('never has more than `concurrency` deliveries in flight', async () => {
    let inFlight = 0;
    let most = 0;
    const queue = new MemoryChunkQueue(
      async () => {
        most = Math.max(most, ++inFlight);
        await new Promise((r) => setTimeout(r, 2));
        inFlight--;
        return { kind: 'done' };
      },
      { maxReceiveCount: 1, concurrency: 3 },
    );
    await queue.sendChunks(Array.from({ length: 20 }, (_, i) => chunk(i)));
    await queue.idle();
    expect(most).toBe(3);
  });
});
