/** Chunking valid rows: at most 10 per chunk, at most 240 KiB of JSON per message, deterministic ids. */
import { describe, expect, it } from 'vitest';
import type { ChunkMessage, JobOperation, JobRow } from '../../lambdas/core/jobs';
import { Chunker, MAX_CHUNK_BYTES, chunkId } from '../../lambdas/core/upload/chunker';

const JOB = '0123456789abcdef0123456789abcdef';
const OPERATION: JobOperation = { kind: 'batch', conversationId: 1001 };

function chunkAll(rows: JobRow[]): { chunks: ChunkMessage[]; refused: number[] } {
  const chunker = new Chunker(JOB, OPERATION);
  const chunks: ChunkMessage[] = [];
  const refused: number[] = [];
  for (const row of rows) if (!chunker.add(row, chunks)) refused.push(row.row);
  chunker.finish(chunks);
  return { chunks, refused };
}

const bytes = (chunk: ChunkMessage) => Buffer.byteLength(JSON.stringify(chunk), 'utf8');

describe('Chunker', () => {
  it('cuts small rows 10 by 10, in order, with zero-padded ids', () => {
    const rows = Array.from({ length: 25 }, (_, i) => ({ row: i + 1, record: { A: String(i) } }));
    const { chunks, refused } = chunkAll(rows);
    expect(refused).toEqual([]);
    expect(chunks.map((c) => c.rows.length)).toEqual([10, 10, 5]);
    expect(chunks.map((c) => c.chunkId)).toEqual([
      `${JOB}#000000000`,
      `${JOB}#000000001`,
      `${JOB}#000000002`,
    ]);
    expect(chunks.flatMap((c) => c.rows)).toEqual(rows);
    for (const c of chunks) expect(c).toMatchObject({ jobId: JOB, operation: OPERATION });
    expect(chunkId(JOB, 123)).toBe(`${JOB}#000000123`);
  });

  it('cuts large rows by size so no message exceeds 240 KiB, keeping every row once and in order', () => {
    // 200 fields of 300 three-byte characters: about 180 KB of JSON per row, so one row per chunk.
    const big = Object.fromEntries(Array.from({ length: 200 }, (_, k) => [`F${k}`, '€'.repeat(300)]));
    const medium = { A: '€'.repeat(4000), B: '€'.repeat(4000) }; // about 24 KB each
    const rows: JobRow[] = [
      ...Array.from({ length: 3 }, (_, i) => ({ row: i + 1, record: big })),
      ...Array.from({ length: 25 }, (_, i) => ({ row: i + 4, record: medium })),
    ];
    const { chunks, refused } = chunkAll(rows);
    expect(refused).toEqual([]);
    for (const c of chunks) expect(bytes(c)).toBeLessThanOrEqual(MAX_CHUNK_BYTES);
    for (const c of chunks) expect(c.rows.filter((r) => r.record === big).length).toBeLessThanOrEqual(1);
    // Greedy: each chunk but the last is full, by count or because the next row would not have fitted.
    for (let i = 0; i + 1 < chunks.length; i++) {
      const c = chunks[i]!;
      const next = chunks[i + 1]!.rows[0]!;
      if (c.rows.length < 10)
        expect(bytes({ ...c, rows: [...c.rows, next] })).toBeGreaterThan(MAX_CHUNK_BYTES);
    }
    expect(chunks.some((c) => c.rows.length < 10 && c !== chunks.at(-1))).toBe(true);
    expect(chunks.flatMap((c) => c.rows.map((r) => r.row))).toEqual(rows.map((r) => r.row));
  });

  it('fills chunks up to the limit when escapes make the cheap size bound too pessimistic', () => {
    // Control characters are 6 bytes in JSON: the bound is exact here, so 10 rows of ~23 KB still fit.
    const record = { A: '\u0001'.repeat(3900) };
    const { chunks } = chunkAll(Array.from({ length: 10 }, (_, i) => ({ row: i + 1, record })));
    expect(chunks.map((c) => c.rows.length)).toEqual([10]);
    expect(bytes(chunks[0]!)).toBeLessThanOrEqual(MAX_CHUNK_BYTES);
  });

  it('refuses a single row too large for any message, and goes on', () => {
    const huge = Object.fromEntries(Array.from({ length: 100 }, (_, k) => [`F${k}`, '\u0001'.repeat(4000)]));
    const { chunks, refused } = chunkAll([
      { row: 1, record: { A: '1' } },
      { row: 2, record: huge },
      { row: 3, record: { A: '3' } },
    ]);
    expect(refused).toEqual([2]);
    expect(chunks.flatMap((c) => c.rows.map((r) => r.row))).toEqual([1, 3]);
  });
});
