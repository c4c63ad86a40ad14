/**
 * The one in-memory ObjectStore of the tests (ingest, worker, reports): what a test puts and what the code
 * writes, by key. Reads are streamed in pieces of `chunkBytes` (whole by default) so a test can exercise a
 * parser on pieces that split characters and lines, and watch how far a reader pulled (backpressure).
 */
import type { ObjectStore } from '../../lambdas/core/jobs';

export class MemoryBucket implements ObjectStore {
  /** Every object, put by the test or written by the code under test. */
  readonly objects = new Map<string, { bytes: Uint8Array; contentType: string }>();
  /** The keys the code under test wrote. */
  readonly written = new Set<string>();
  /** How many writes there were (a key written twice counts twice). */
  writes = 0;
  readonly reads: { key: string; versionId?: string }[] = [];
  /** Pieces pulled from read streams so far. */
  pulled = 0;

  constructor(private readonly chunkBytes: number | (() => number) = Infinity) {}

  put(key: string, content: string | Uint8Array, contentType = 'application/octet-stream'): void {
    const bytes = typeof content === 'string' ? new TextEncoder().encode(content) : content;
    this.objects.set(key, { bytes, contentType });
  }

  async read(key: string, options: { versionId?: string } = {}): Promise<AsyncIterable<Uint8Array>> {
    this.reads.push({ key, ...options });
    const object = this.objects.get(key);
    if (!object) throw new Error(`NoSuchKey: ${key}`);
    const { bytes } = object;
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
    this.objects.set(key, { bytes: new TextEncoder().encode(text), contentType });
    this.written.add(key);
    this.writes++;
  }

  /** An object's text; throws when there is none, so a test reads what it expects or fails there. */
  text(key: string): string {
    const object = this.objects.get(key);
    if (!object) throw new Error(`no object ${key}`);
    return new TextDecoder().decode(object.bytes);
  }
}
