/**
 * The chunk queue in process: the embedded twin of SQS + its dead-letter queue for `npm start` and tests. It
 * behaves like the Lambda event source on SQS: each delivery carries a receive count; a message the consumer
 * answers `retry` comes back after its delay (ChangeMessageVisibility); one the consumer throws on comes back
 * after the visibility timeout; one answered `requeue` is sent again as a new message (a fresh receive count)
 * after its delay, as the worker handler does with SQS; a message about to be received more than `maxReceiveCount` times goes to the
 * dead-letter list instead; `redrive()` moves the dead letters back (with fresh receive counts).
 * Messages travel as JSON, as they would through SQS, so nobody shares objects with the sender.
 */
import type { ChunkMessage, ChunkQueue } from '../core/jobs';

/** The worker as the queue sees it (processChunk, bound to its deps). */
export type ChunkConsumer = (
  message: ChunkMessage,
  receiveCount: number,
) => Promise<{ kind: 'done' } | { kind: 'retry' | 'requeue'; delayMs: number }>;

export interface MemoryQueueOptions {
  /** As the queue's redrive policy. */
  maxReceiveCount: number;
  /** Deliveries in flight at once (the event source's maxConcurrency). Default 4. */
  concurrency?: number;
  /** When the consumer throws. Default 30 s. */
  visibilityTimeoutMs?: number;
  /** Multiplies every delay: 0 in tests redelivers at once, 1 behaves like SQS. Default 1. */
  delayScale?: number;
  /** Called when the consumer throws (the message is retried regardless). */
  onError?: (error: unknown, message: ChunkMessage) => void;
}

interface Entry {
  body: string;
  receiveCount: number;
  visibleAt: number;
}

export class MemoryChunkQueue implements ChunkQueue {
  private waiting: Entry[] = [];
  private readonly dead: string[] = [];
  private inFlight = 0;
  private timer: NodeJS.Timeout | undefined;
  private idleWaiters: (() => void)[] = [];
  private closed = false;
  private readonly concurrency: number;
  private readonly visibilityTimeoutMs: number;
  private readonly delayScale: number;

  constructor(
    private readonly consumer: ChunkConsumer,
    private readonly options: MemoryQueueOptions,
  ) {
    this.concurrency = options.concurrency ?? 4;
    this.visibilityTimeoutMs = options.visibilityTimeoutMs ?? 30_000;
    this.delayScale = options.delayScale ?? 1;
  }

  async sendChunks(chunks: ChunkMessage[]): Promise<void> {
    if (this.closed) throw new Error('queue is closed');
    const now = Date.now();
    for (const chunk of chunks)
      this.waiting.push({ body: JSON.stringify(chunk), receiveCount: 0, visibleAt: now });
    this.pump();
  }

  /** Messages waiting (visible or not) and in flight. */
  depth(): { waiting: number; inFlight: number; deadLettered: number } {
    return { waiting: this.waiting.length, inFlight: this.inFlight, deadLettered: this.dead.length };
  }

  deadLetters(): ChunkMessage[] {
    return this.dead.map((body) => JSON.parse(body) as ChunkMessage);
  }

  /** Moves every dead letter back to the queue; returns how many. */
  redrive(): number {
    const moved = this.dead.splice(0);
    const now = Date.now();
    for (const body of moved) this.waiting.push({ body, receiveCount: 0, visibleAt: now });
    this.pump();
    return moved.length;
  }

  /** Resolves when nothing is waiting or in flight (dead letters stay where they are). */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops delivering; messages in flight finish. */
  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private isIdle(): boolean {
    return this.waiting.length === 0 && this.inFlight === 0;
  }

  private pump(): void {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const now = Date.now();
    while (this.inFlight < this.concurrency) {
      const index = this.waiting.findIndex((entry) => entry.visibleAt <= now);
      if (index < 0) break;
      const [entry] = this.waiting.splice(index, 1);
      // SQS moves a message to the DLQ instead of receiving it beyond maxReceiveCount.
      if (entry!.receiveCount >= this.options.maxReceiveCount) {
        this.dead.push(entry!.body);
        continue;
      }
      entry!.receiveCount++;
      this.deliver(entry!);
    }
    if (this.waiting.length > 0 && this.inFlight < this.concurrency) {
      const next = Math.min(...this.waiting.map((entry) => entry.visibleAt));
      this.timer = setTimeout(() => this.pump(), Math.max(0, next - now));
    }
    if (this.isIdle()) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  private deliver(entry: Entry): void {
    this.inFlight++;
    const message = JSON.parse(entry.body) as ChunkMessage;
    this.consumer(message, entry.receiveCount)
      .then(
        (result) => {
          if (result.kind === 'retry') this.putBack(entry, result.delayMs);
          else if (result.kind === 'requeue') this.putBack({ ...entry, receiveCount: 0 }, result.delayMs);
        },
        (error: unknown) => {
          this.options.onError?.(error, message);
          this.putBack(entry, this.visibilityTimeoutMs);
        },
      )
      .finally(() => {
        this.inFlight--;
        this.pump();
      });
  }

  private putBack(entry: Entry, delayMs: number): void {
    this.waiting.push({ ...entry, visibleAt: Date.now() + delayMs * this.delayScale });
  }
}
