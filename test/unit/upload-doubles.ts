/** In-memory doubles for the ingest tests: a queue that records (the bucket is ../harness/memory-bucket.ts). */
import type { ChunkMessage, ChunkQueue } from '../../lambdas/core/jobs';

export class RecordingQueue implements ChunkQueue {
  readonly sent: ChunkMessage[] = [];
  calls = 0;

  async sendChunks(chunks: ChunkMessage[]): Promise<void> {
    this.calls++;
    this.sent.push(...structuredClone(chunks));
  }
}
