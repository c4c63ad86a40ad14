/**
 * Groups valid rows into chunk messages: at most MAX_BATCH (10, DANAConnect's batch limit) rows, and at most
 * MAX_CHUNK_BYTES of JSON, so no SQS message comes near SQS's 256 KiB limit. Chunk ids are `<jobId>#<index>`
 * with the 0-based index in file order, zero-padded to 9 digits: the same object always gives the same chunks.
 */
import type { ChunkMessage, JobOperation, JobRow } from '../jobs';
import { MAX_BATCH } from '../validation';

export const MAX_CHUNK_BYTES = 240 * 1024;

export function chunkId(jobId: string, index: number): string {
  return `${jobId}#${String(index).padStart(9, '0')}`;
}

/** Whether `id` is a chunk id of `jobId` as chunkId makes them (the worker refuses any other). */
export function isChunkIdOf(jobId: string, id: string): boolean {
  return id.startsWith(`${jobId}#`) && /^\d{9,}$/.test(id.slice(jobId.length + 1));
}

/** Bytes of `s` as UTF-8 JSON, exactly. */
function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value), 'utf8');
}

/**
 * An upper bound of a row's JSON size that costs no serialisation: no UTF-16 unit takes more than 6 bytes in JSON
 * (`\u001f`; 3 bytes of UTF-8 otherwise), plus quotes, colon and comma per field and the row envelope.
 */
function sizeBound(row: JobRow): number {
  let units = 0;
  let fields = 0;
  for (const code in row.record) {
    units += code.length + row.record[code]!.length;
    fields++;
  }
  return 6 * units + 6 * fields + 40;
}

export class Chunker {
  private readonly envelopeBytes: number;
  private pending: JobRow[] = [];
  /** Per pending row: its size, exact or the cheap bound (see `exact`). Kept beside, not wrapped: no object per row. */
  private sizes: number[] = [];
  private exact: boolean[] = [];
  private pendingBytes = 0;
  private index = 0;

  constructor(
    private readonly jobId: string,
    private readonly operation: JobOperation,
  ) {
    this.envelopeBytes = jsonBytes({ jobId, chunkId: chunkId(jobId, 0), operation, rows: [] });
  }

  /**
   * Adds a valid row, appending to `out` the chunk it completes, if any. Returns false, adding nothing, when the
   * row alone is too large for one message: the caller rejects it.
   */
  add(row: JobRow, out: ChunkMessage[]): boolean {
    let bytes = sizeBound(row);
    let exact = false;
    if (!this.fits(bytes)) {
      // The cheap bounds say no: measure exactly before splitting.
      bytes = jsonBytes(row);
      exact = true;
      if (this.envelopeBytes + bytes > MAX_CHUNK_BYTES) return false;
      this.measurePending();
      if (!this.fits(bytes)) this.flush(out);
    }
    this.pending.push(row);
    this.sizes.push(bytes);
    this.exact.push(exact);
    this.pendingBytes += bytes;
    if (this.pending.length === MAX_BATCH) this.flush(out);
    return true;
  }

  /** Appends the last, partly filled chunk. */
  finish(out: ChunkMessage[]): void {
    this.flush(out);
  }

  private fits(bytes: number): boolean {
    // One comma between rows.
    return this.envelopeBytes + this.pendingBytes + this.pending.length + bytes <= MAX_CHUNK_BYTES;
  }

  private measurePending(): void {
    this.pendingBytes = 0;
    for (let i = 0; i < this.pending.length; i++) {
      if (!this.exact[i]) {
        this.sizes[i] = jsonBytes(this.pending[i]);
        this.exact[i] = true;
      }
      this.pendingBytes += this.sizes[i]!;
    }
  }

  private flush(out: ChunkMessage[]): void {
    if (this.pending.length === 0) return;
    out.push({
      jobId: this.jobId,
      chunkId: chunkId(this.jobId, this.index++),
      operation: this.operation,
      rows: this.pending,
    });
    this.pending = [];
    this.sizes = [];
    this.exact = [];
    this.pendingBytes = 0;
  }
}
