import { describe, expect, it } from 'vitest';
import { MemoryJobStore } from '../../lambdas/adapters/memory-job-store';
import type { RowOutcome } from '../../lambdas/core/jobs';
import {
  csvField,
  hasAllOutcomes,
  REPORT_HEADER,
  reportCsv,
  reportKeys,
  reportLine,
  writeRejectedUpload,
  settleJob,
} from '../../lambdas/core/reports';
import { MemoryBucket } from '../harness/memory-bucket';
import { expectCompleteReport, parseCsv, reportRows } from '../integration/worker-harness';

async function collect(pieces: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const piece of pieces) out.push(piece);
  return out;
}

async function* from<T>(items: T[]): AsyncGenerator<T> {
  yield* items;
}

describe('report CSV', () => {
  it('quotes only what RFC 4180 requires, doubling quotes', () => {
    expect(csvField('plain reason')).toBe('plain reason');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "no"')).toBe('"say ""no"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    expect(csvField('cr\rhere')).toBe('"cr\rhere"');
    expect(csvField('')).toBe('');
  });

  it('writes row, status, idResult and error, CRLF-terminated', () => {
    expect(reportLine({ row: 3, status: 'started', idResult: 4711 })).toBe('3,started,4711,\r\n');
    expect(
      reportLine({ row: 4, status: 'rejected', error: 'row 4: field code "A B" is invalid, sorry' }),
    ).toBe('4,rejected,,"row 4: field code ""A B"" is invalid, sorry"\r\n');
  });

  it('round-trips hostile reasons through an RFC 4180 reader', async () => {
    const outcomes: RowOutcome[] = [
      { row: 1, status: 'failed', error: 'DANAConnect error 7: bad, "very" bad\r\nsecond line' },
      { row: 2, status: 'started', idResult: 12 },
      { row: 3, status: 'rejected', error: ',' },
    ];
    const csv = (await collect(reportCsv(from(outcomes)))).join('');
    expect(reportRows(csv)).toEqual(outcomes);
  });

  it('streams whole lines in bounded pieces, header first', async () => {
    const outcomes = Array.from({ length: 20_000 }, (_, i): RowOutcome => ({
      row: i + 1,
      status: 'started',
      idResult: 100_000 + i,
    }));
    const pieces = await collect(reportCsv(from(outcomes)));
    expect(pieces.length).toBeGreaterThan(1);
    expect(pieces[0]!.startsWith(REPORT_HEADER + '\r\n')).toBe(true);
    for (const piece of pieces) {
      expect(piece.endsWith('\r\n')).toBe(true);
      expect(piece.length).toBeLessThan(70 * 1024);
    }
    const rows = parseCsv(pieces.join(''));
    expect(rows).toHaveLength(20_001);
    expect(rows[20_000]).toEqual(['20000', 'started', '119999', '']);
  });

  it('an empty job still has its header line', async () => {
    expect((await collect(reportCsv(from([])))).join('')).toBe('row,status,idResult,error\r\n');
  });
});

describe('settleJob', () => {
  async function uploadJob(jobs: MemoryJobStore, jobId: string) {
    await jobs.createJob({
      jobId,
      source: 'upload',
      operation: { kind: 'batch', conversationId: 1001 },
      name: 'march/contacts',
    });
  }

  it('writes nothing while rows lack outcomes or the ingest is still running', async () => {
    const jobs = new MemoryJobStore();
    const bucket = new MemoryBucket();
    await uploadJob(jobs, 'j1');
    await jobs.completeChunk('j1', 'j1#000000000', [{ row: 1, status: 'started', idResult: 5 }]);
    const ingesting = (await jobs.getJob('j1'))!;
    expect(hasAllOutcomes(ingesting)).toBe(false);
    expect(await settleJob({ jobs, bucket }, ingesting)).toMatchObject({ state: 'ingesting' });
    const running = await jobs.finishIngest('j1', { total: 3, rejected: 1 });
    expect(await settleJob({ jobs, bucket }, running)).toMatchObject({ state: 'running' });
    expect(bucket.objects.size).toBe(0);
    expect((await jobs.getJob('j1'))!.state).toBe('running');
  });

  it('marks the job done once and writes both objects, rows merged in row order', async () => {
    const jobs = new MemoryJobStore();
    const bucket = new MemoryBucket();
    await uploadJob(jobs, 'j2');
    await jobs.recordRejected('j2', [
      { row: 2, status: 'rejected', error: 'row 2: EMAIL must be at most 4000 characters' },
      { row: 5, status: 'rejected', error: 'row 5: field code "x y" is invalid' },
    ]);
    await jobs.completeChunk('j2', 'j2#000000001', [
      { row: 4, status: 'failed', error: 'DANAConnect error 1008: Invalid record' },
      { row: 6, status: 'started', idResult: 8 },
    ]);
    await jobs.completeChunk('j2', 'j2#000000000', [
      { row: 1, status: 'started', idResult: 6 },
      { row: 3, status: 'started', idResult: 7 },
    ]);
    const job = await jobs.finishIngest('j2', { total: 6, rejected: 2 });
    const results = await Promise.all([settleJob({ jobs, bucket }, job), settleJob({ jobs, bucket }, job)]);
    for (const settled of results) expect(settled.state).toBe('done');
    expect(bucket.writes).toBe(2);
    const { rows, summary } = await expectCompleteReport(jobs, bucket, 'j2', '1001', 'march/contacts', 6);
    expect(rows.map((r) => r.status)).toEqual([
      'started',
      'rejected',
      'started',
      'failed',
      'rejected',
      'started',
    ]);
    expect(summary).toMatchObject({ total: 6, started: 3, rejected: 2, failed: 1 });
    expect(summary.finishedAt >= summary.startedAt).toBe(true);
    expect(bucket.objects.get(reportKeys('1001', 'march/contacts').csv)!.contentType).toMatch(/^text\/csv/);
    // A duplicate delivery settles again: the report already reflects every outcome, so nothing is rewritten.
    await settleJob({ jobs, bucket }, (await jobs.getJob('j2'))!);
    expect(bucket.writes).toBe(2);
  });

  it('finishes an API job without writing report objects (GET /jobs reads the store)', async () => {
    const jobs = new MemoryJobStore();
    const bucket = new MemoryBucket();
    await jobs.createJob({
      jobId: 'j3',
      source: 'api',
      operation: { kind: 'data', conversationId: 1002 },
      name: 'api',
    });
    await jobs.completeChunk('j3', 'j3#000000000', [{ row: 1, status: 'started', idResult: 9 }]);
    const job = await jobs.finishIngest('j3', { total: 1, rejected: 0 });
    expect(await settleJob({ jobs, bucket }, job)).toMatchObject({ state: 'done' });
    expect((await jobs.getJob('j3'))!.state).toBe('done');
    expect(bucket.objects.size).toBe(0);
  });
});

describe('an older report can overwrite a newer one (defect 6)', () => {
  /** A bucket whose next write reads its body at once but lands only when the test opens the gate. */
  class GatedBucket extends MemoryBucket {
    gate: Promise<void> | undefined;
    read_: Promise<void> | undefined;
    override async write(key: string, body: string | AsyncIterable<string>, contentType: string) {
      let text = '';
      if (typeof body === 'string') text = body;
      else for await (const piece of body) text += piece;
      const gate = this.gate;
      this.gate = undefined;
      if (gate) await gate;
      return super.write(key, text, contentType);
    }
  }

  it('a report read before a redrive never lands after the redrive: the newer one is written after it', async () => {
    const jobs = new MemoryJobStore();
    const bucket = new GatedBucket();
    await jobs.createJob({
      jobId: 'j6',
      source: 'upload',
      operation: { kind: 'batch', conversationId: 1001 },
      name: 'r',
    });
    const chunk = 'j6#000000000';
    await jobs.claimChunk('j6', chunk, 60_000, 'w1');
    const dead: RowOutcome = { row: 1, status: 'failed', error: 'dead-lettered: throttled (429)' };
    await jobs.completeChunk('j6', chunk, [dead], { deadLettered: true });
    await jobs.finishIngest('j6', { total: 1, rejected: 0 });
    // Writer A (a duplicate delivery) reads the dead-lettered outcome, and its write stalls on the way to S3.
    let open!: () => void;
    bucket.gate = new Promise((resolve) => (open = resolve));
    const writerA = settleJob({ jobs, bucket }, (await jobs.getJob('j6'))!);
    await new Promise((resolve) => setTimeout(resolve, 10));
    // The redrive: the chunk is claimed again, started, and its worker settles the job while A still writes.
    expect(await jobs.claimChunk('j6', chunk, 60_000, 'w2')).toEqual({ kind: 'claimed', redriven: true });
    const job = await jobs.completeChunk('j6', chunk, [{ row: 1, status: 'started', idResult: 42 }]);
    await settleJob({ jobs, bucket }, job);
    open(); // A's stale report lands after the redrive's outcomes were recorded
    await writerA;
    const { rows, summary } = await expectCompleteReport(jobs, bucket, 'j6', '1001', 'r', 1);
    expect(rows).toEqual([{ row: 1, status: 'started', idResult: 42 }]);
    expect(summary).toMatchObject({ started: 1, failed: 0 });
  });
});

describe('writeRejectedUpload', () => {
  it('writes a header-only CSV and a summary with total 0 and the reason', async () => {
    const bucket = new MemoryBucket();
    await writeRejectedUpload(bucket, {
      segment: '_invalid',
      name: 'notes',
      reason: 'key has no valid conversation id',
      at: '2026-01-02T03:04:05.000Z',
    });
    expect(bucket.text('reports/_invalid/notes.report.csv')).toBe('row,status,idResult,error\r\n');
    expect(JSON.parse(bucket.text('reports/_invalid/notes.summary.json'))).toEqual({
      total: 0,
      started: 0,
      rejected: 0,
      failed: 0,
      startedAt: '2026-01-02T03:04:05.000Z',
      finishedAt: '2026-01-02T03:04:05.000Z',
      error: 'key has no valid conversation id',
    });
  });
});
