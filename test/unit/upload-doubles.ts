/** In-memory doubles for the ingest tests: a bucket that streams in small chunks, a queue that records. */
import type { ChunkMessage, ChunkQueue, ObjectStore } from '../../lambdas/core/jobs';

export class MemoryBucket implements ObjectStore {
  readonly objects = new Map<string, Uint8Array>();
  readonly written = new Map<string, { text: string; contentType: string }>();
  readonly reads: { key: string; versionId?: string }[] = [];
  /** Chunks pulled from read streams so far (to observe backpressure). */
  pulled = 0;

  constructor(private readonly chunkBytes: number | (() => number) = 7) {}

  put(key: string, content: string | Uint8Array): void {
    this.objects.set(key, typeof content === 'string' ? new TextEncoder().encode(content) : content);
  }

  async read(key: string, options: { versionId?: string } = {}): Promise<AsyncIterable<Uint8Array>> {
    this.reads.push({ key, ...options });
    const bytes = this.objects.get(key);
    if (!bytes) throw new Error('NoSuchKey');
    const size = this.chunkBytes;
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const bucket = this;
    return (async function* () {
      for (let i = 0; i < bytes.length;) {
        const n = typeof size === 'number' ? size : size();
        bucket.pulled++;
        yield bytes.slice(i, i + n);
        i += n;
      }
    })();
  }

  async write(key: string, body: string | AsyncIterable<string>, contentType: string): Promise<void> {
    let text = '';
    if (typeof body === 'string') text = body;
    else for await (const piece of body) text += piece;
    this.written.set(key, { text, contentType });
  }

  text(key: string): string | undefined {
    return this.written.get(key)?.text;
  }
}

export class RecordingQueue implements ChunkQueue {
  readonly sent: ChunkMessage[] = [];
  calls = 0;

  async sendChunks(chunks: ChunkMessage[]): Promise<void> {
    this.calls++;
    this.sent.push(...structuredClone(chunks));
  }
}
