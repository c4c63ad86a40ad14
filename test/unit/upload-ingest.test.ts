/**
 * ingestUpload with the in-memory job store, bucket and queue: hostile files end to end through the ingest, every
 * row exactly once among chunks and rejections, reports for unreadable files, idempotent re-runs, backpressure.
 */
import { describe, expect, it } from 'vitest';
import { MemoryJobStore } from '../../lambdas/adapters/memory-job-store';
import { ingestUpload, uploadJobId, type IngestDeps } from '../../lambdas/core/ingest';
import type { ChunkMessage, ChunkQueue, JobSummary, RowOutcome } from '../../lambdas/core/jobs';
import { MemoryBucket } from '../harness/memory-bucket';
import { RecordingQueue } from './upload-doubles';

const NOW = new Date('2025-03-01T12:00:00.000Z');
const BUCKET = 'uploads-bucket';

function setup(chunkBytes: number | (() => number) = 7) {
  const jobs = new MemoryJobStore(() => NOW.getTime());
  const bucket = new MemoryBucket(chunkBytes);
  const queue = new RecordingQueue();
  const deps: IngestDeps = { jobs, bucket, queue, now: () => NOW };
  return { jobs, bucket, queue, deps };
}

const upload = (key: string, extra: { versionId?: string; etag?: string } = {}) => ({
  bucket: BUCKET,
  key,
  etag: 'etag-1',
  ...extra,
});

async function outcomes(jobs: MemoryJobStore, jobId: string): Promise<RowOutcome[]> {
  const out: RowOutcome[] = [];
  for await (const o of jobs.outcomes(jobId)) out.push(o);
  return out;
}

function asJob(result: JobSummary | { rejectedFile: string }): JobSummary {
  if ('rejectedFile' in result) throw new Error(`file rejected: ${result.rejectedFile}`);
  return result;
}

/** Every row 1..total appears exactly once: in a chunk or among the rejected outcomes. */
function expectEachRowOnce(chunks: ChunkMessage[], rejected: RowOutcome[], total: number): void {
  const seen = [...chunks.flatMap((c) => c.rows.map((r) => r.row)), ...rejected.map((o) => o.row)];
  expect(seen.slice().sort((a, b) => a - b)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
}

const HOSTILE_CSV = [
  '\uFEFFNAME;EMAIL',
  'Ana;ana@example.com',
  '',
  '"Bo; Jr.";"bo@example.com"',
  'ragged',
  '"multi',
  'line";m@example.com',
  'x;y;z',
  'Zoë;z@example.com',
].join('\r\n');

describe('ingestUpload', () => {
  it('ingests a hostile CSV: valid rows chunked to the queue, the rest rejected with reasons, counts right', async () => {
    const { jobs, bucket, queue, deps } = setup();
    bucket.put('uploads/1001/march/contacts.csv', HOSTILE_CSV);
    const job = asJob(await ingestUpload(deps, upload('uploads/1001/march/contacts.csv')));
    const jobId = uploadJobId(upload('uploads/1001/march/contacts.csv'));
    expect(job).toMatchObject({
      jobId,
      source: 'upload',
      name: 'march/contacts.csv',
      operation: { kind: 'batch', conversationId: 1001 },
      state: 'running',
      total: 6,
      rejected: 2,
    });
    expect(queue.sent).toEqual([
      {
        jobId,
        chunkId: `${jobId}#000000000`,
        operation: { kind: 'batch', conversationId: 1001 },
        rows: [
          { row: 1, record: { NAME: 'Ana', EMAIL: 'ana@example.com' } },
          { row: 2, record: { NAME: 'Bo; Jr.', EMAIL: 'bo@example.com' } },
          { row: 4, record: { NAME: 'multi\r\nline', EMAIL: 'm@example.com' } },
          { row: 6, record: { NAME: 'Zoë', EMAIL: 'z@example.com' } },
        ],
      },
    ]);
    const rejected = await outcomes(jobs, jobId);
    expect(rejected).toEqual([
      { row: 3, status: 'rejected', error: 'row 3: has 1 fields, header has 2' },
      { row: 5, status: 'rejected', error: 'row 5: has 3 fields, header has 2' },
    ]);
    expectEachRowOnce(queue.sent, rejected, job.total);
    // Not done yet: valid rows wait for the worker, so no report.
    expect([...bucket.written.keys()]).toEqual([]);
  });

  it('puts every row exactly once among chunks and rejections, whatever the chunk sizes of the stream', async () => {
    const lines = ['ID,EMAIL'];
    for (let i = 1; i <= 2500; i++) {
      if (i % 97 === 0)
        lines.push(`${i}`); // ragged
      else if (i % 101 === 0)
        lines.push(`${i},"${'v'.repeat(4001)}"`); // value too long
      else if (i % 89 === 0) lines.push(`${i},"quoted ""${i}"", with comma\nand line"`);
      else lines.push(`${i},user${i}@example.com`);
      if (i % 50 === 0) lines.push(''); // blank lines are not rows
    }
    let seed = 7;
    const randomSize = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return 1 + (seed % 300);
    };
    const { jobs, bucket, queue, deps } = setup(randomSize);
    bucket.put('uploads/42/big.csv', lines.join('\n'));
    const job = asJob(await ingestUpload(deps, upload('uploads/42/big.csv')));
    const rejected = await outcomes(jobs, job.jobId);
    expect(job.total).toBe(2500);
    expect(rejected.length).toBe(job.rejected);
    expect(rejected.map((o) => o.row)).toEqual(
      Array.from({ length: 2500 }, (_, i) => i + 1).filter(
        (i) => i % 97 === 0 || (i % 101 === 0 && i % 97 !== 0),
      ),
    );
    expectEachRowOnce(queue.sent, rejected, 2500);
    // Each data row carries its own row number: ID equals row.
    for (const chunk of queue.sent) for (const r of chunk.rows) expect(r.record.ID).toBe(String(r.row));
    expect(queue.sent.every((c) => c.rows.length <= 10)).toBe(true);
    expect(queue.sent.map((c) => c.chunkId)).toEqual(
      queue.sent.map((_, i) => `${job.jobId}#${String(i).padStart(9, '0')}`),
    );
    expect(queue.calls).toBe(Math.ceil(queue.sent.length / 10));
  });

  it('rejects every row of a file with a duplicate header code, and writes the report at once', async () => {
    const { jobs, bucket, queue, deps } = setup();
    bucket.put('uploads/1001/dup.csv', 'EMAIL,EMAIL\na,b\nc,d\n');
    const job = asJob(await ingestUpload(deps, upload('uploads/1001/dup.csv')));
    expect(job).toMatchObject({ state: 'done', total: 2, rejected: 2, started: 0, failed: 0 });
    expect(queue.sent).toEqual([]);
    expect(await outcomes(jobs, job.jobId)).toHaveLength(2);
    expect(bucket.text('reports/1001/dup.csv.report.csv')).toBe(
      'row,status,idResult,error\r\n' +
        '1,rejected,,row 1: header columns 1 and 2: the same field code twice\r\n' +
        '2,rejected,,row 2: header columns 1 and 2: the same field code twice\r\n',
    );
    expect(JSON.parse(bucket.text('reports/1001/dup.csv.summary.json')!)).toMatchObject({
      jobId: job.jobId,
      total: 2,
      started: 0,
      rejected: 2,
      failed: 0,
    });
  });

  it('writes the report on the retried event when the first ingest failed after marking the job done', async () => {
    const { bucket, deps } = setup();
    bucket.put('uploads/1001/all-bad.csv', 'EMAIL,EMAIL\na,b\n');
    const failing = {
      read: bucket.read.bind(bucket),
      write: async () => {
        throw new Error('S3 unavailable');
      },
    };
    // The job reaches done (every row rejected), then the report write fails: S3 retries the event.
    await expect(
      ingestUpload({ ...deps, bucket: failing }, upload('uploads/1001/all-bad.csv')),
    ).rejects.toThrow('S3 unavailable');
    const job = asJob(await ingestUpload(deps, upload('uploads/1001/all-bad.csv')));
    expect(job.state).toBe('done');
    expect(bucket.text('reports/1001/all-bad.csv.report.csv')).toBe(
      'row,status,idResult,error\r\n1,rejected,,row 1: header columns 1 and 2: the same field code twice\r\n',
    );
    expect(JSON.parse(bucket.text('reports/1001/all-bad.csv.summary.json')!)).toMatchObject({
      jobId: job.jobId,
      total: 1,
      rejected: 1,
    });
  });

  it('rejects an empty file as a whole: a report with the reason, no job, nothing queued', async () => {
    const { jobs, bucket, queue, deps } = setup();
    bucket.put('uploads/1001/empty.csv', '');
    expect(await ingestUpload(deps, upload('uploads/1001/empty.csv'))).toEqual({
      rejectedFile: 'file is empty',
    });
    expect(await jobs.getJob(uploadJobId(upload('uploads/1001/empty.csv')))).toBeUndefined();
    expect(queue.calls).toBe(0);
    expect(bucket.text('reports/1001/empty.csv.report.csv')).toBe('row,status,idResult,error\r\n');
    expect(JSON.parse(bucket.text('reports/1001/empty.csv.summary.json')!)).toEqual({
      total: 0,
      started: 0,
      rejected: 0,
      failed: 0,
      startedAt: NOW.toISOString(),
      finishedAt: NOW.toISOString(),
      error: 'file is empty',
    });
  });

  it('rejects a file whose header is unusable and has no data rows, naming the column, not its text', async () => {
    const { bucket, deps } = setup();
    bucket.put('uploads/1001/h.csv', 'A,b c\n');
    const result = await ingestUpload(deps, upload('uploads/1001/h.csv'));
    expect(result).toEqual({ rejectedFile: expect.stringMatching(/^header column 2: field code must be/) });
    expect(JSON.parse(bucket.text('reports/1001/h.csv.summary.json')!).error).toMatch(
      /^header column 2: field code must be/,
    );
  });

  it('rejects an unknown extension without reading the object, reporting under the file name', async () => {
    const { bucket, deps } = setup();
    bucket.put('uploads/1001/notes.txt', 'A\n1\n');
    expect(await ingestUpload(deps, upload('uploads/1001/notes.txt'))).toEqual({
      rejectedFile: 'file extension must be .csv, .jsonl or .json',
    });
    expect(bucket.reads).toEqual([]);
    expect(JSON.parse(bucket.text('reports/1001/notes.txt.summary.json')!).error).toBe(
      'file extension must be .csv, .jsonl or .json',
    );
  });

  it('rejects a key without a valid conversation id into reports/_invalid/', async () => {
    const { bucket, deps } = setup();
    // `acme` would be an alias (docs/ALIASES.md); `Acme` is neither an id nor an alias name.
    bucket.put('uploads/Acme/list.csv', 'A\n1\n');
    const result = await ingestUpload(deps, upload('uploads/Acme/list.csv'));
    expect(result).toEqual({ rejectedFile: expect.stringContaining('conversationId') });
    expect(bucket.text('reports/_invalid/Acme/list.csv.report.csv')).toBe('row,status,idResult,error\r\n');
    expect(JSON.parse(bucket.text('reports/_invalid/Acme/list.csv.summary.json')!)).toMatchObject({
      total: 0,
      error: expect.stringContaining('conversationId: must be an integer'),
    });
  });

  it('ingests a JSON array with garbage elements and a JSONL file with a bad line', async () => {
    const { jobs, bucket, queue, deps } = setup(3);
    bucket.put('uploads/5/a.json', '[{"A":"1"}, {"A":{"x":1}}, nope, [1], {"A":2}]');
    bucket.put('uploads/5/b.jsonl', '{"A":"1"}\n{bad\n\n{"A":"3"}\n');
    const a = asJob(await ingestUpload(deps, upload('uploads/5/a.json')));
    const b = asJob(await ingestUpload(deps, upload('uploads/5/b.jsonl')));
    expect(a).toMatchObject({ total: 5, rejected: 3, name: 'a.json' });
    expect(b).toMatchObject({ total: 3, rejected: 1, name: 'b.jsonl' });
    expect((await outcomes(jobs, a.jobId)).map((o) => o.error)).toEqual([
      'row 2.A: value must be a string, number, boolean or null',
      'row 3: not valid JSON',
      'row 4: must be a JSON object of field code to value',
    ]);
    expect(await outcomes(jobs, b.jobId)).toEqual([
      { row: 2, status: 'rejected', error: 'row 2: not valid JSON' },
    ]);
    expect(queue.sent.map((c) => [c.jobId, c.rows])).toEqual([
      [
        a.jobId,
        [
          { row: 1, record: { A: '1' } },
          { row: 5, record: { A: '2' } },
        ],
      ],
      [
        b.jobId,
        [
          { row: 1, record: { A: '1' } },
          { row: 3, record: { A: '3' } },
        ],
      ],
    ]);
  });

  it('rejects a valid row too large for one queue message', async () => {
    const { jobs, bucket, queue, deps } = setup(64 * 1024);
    const fields = Array.from({ length: 100 }, (_, k) => `F${k}`);
    const huge = fields.map(() => '\u0001'.repeat(4000)).join(',');
    bucket.put('uploads/5/huge.csv', `${fields.join(',')}\n${huge}\n${fields.map(() => 'x').join(',')}\n`);
    const job = asJob(await ingestUpload(deps, upload('uploads/5/huge.csv')));
    expect(job).toMatchObject({ total: 2, rejected: 1 });
    expect(await outcomes(jobs, job.jobId)).toEqual([
      {
        row: 1,
        status: 'rejected',
        error: 'row 1: too large for one queue message (more than 240 KiB as JSON)',
      },
    ]);
    expect(queue.sent.flatMap((c) => c.rows.map((r) => r.row))).toEqual([2]);
  });

  it('reads the object version the event named', async () => {
    const { bucket, deps } = setup();
    bucket.put('uploads/5/v.csv', 'A\n1\n');
    await ingestUpload(deps, { ...upload('uploads/5/v.csv', { versionId: 'v-123' }), size: 4 });
    // The size is known (S3 events carry it) and small: one read, at that version. (A file that must be counted
    // against batch.maxRowsPerUpload is read twice, both times at the version: see upload-limits.test.ts.)
    expect(bucket.reads).toEqual([{ key: 'uploads/5/v.csv', versionId: 'v-123' }]);
  });

  it('does nothing twice for the same event: the second run finds the job and sends nothing', async () => {
    const { bucket, queue, deps } = setup();
    bucket.put('uploads/5/twice.csv', 'A\n1\n2\n');
    const first = asJob(await ingestUpload(deps, upload('uploads/5/twice.csv')));
    const second = asJob(await ingestUpload(deps, upload('uploads/5/twice.csv')));
    expect(second).toEqual(first);
    expect(queue.sent).toHaveLength(1);
    // A new version of the same key is a new job.
    const third = asJob(await ingestUpload(deps, upload('uploads/5/twice.csv', { etag: 'etag-2' })));
    expect(third.jobId).not.toBe(first.jobId);
    expect(queue.sent).toHaveLength(2);
  });

  it('continues a job whose earlier ingest failed mid-way: same chunk ids, every row once, right totals', async () => {
    const { jobs, bucket, deps } = setup(50);
    const lines = ['A'];
    for (let i = 1; i <= 300; i++) lines.push(i % 7 === 0 ? '"open' + 'x"y' : String(i));
    bucket.put('uploads/5/retry.csv', lines.join('\n'));
    const sent: ChunkMessage[] = [];
    let calls = 0;
    const flaky: ChunkQueue = {
      async sendChunks(chunks) {
        if (++calls === 3) throw new Error('queue unavailable');
        sent.push(...structuredClone(chunks));
      },
    };
    await expect(ingestUpload({ ...deps, queue: flaky }, upload('uploads/5/retry.csv'))).rejects.toThrow(
      'queue unavailable',
    );
    const jobId = uploadJobId(upload('uploads/5/retry.csv'));
    expect((await jobs.getJob(jobId))?.state).toBe('ingesting');

    const job = asJob(await ingestUpload({ ...deps, queue: flaky }, upload('uploads/5/retry.csv')));
    expect(job).toMatchObject({ state: 'running', total: 300, rejected: 42 });
    // Chunks sent twice carry the same id and the same rows, so the worker's dedup makes them one.
    const byId = new Map<string, ChunkMessage>();
    for (const chunk of sent) {
      const earlier = byId.get(chunk.chunkId);
      if (earlier) expect(chunk).toEqual(earlier);
      byId.set(chunk.chunkId, chunk);
    }
    expectEachRowOnce([...byId.values()], await outcomes(jobs, jobId), 300);
  });

  it('keeps at most maxInFlight sends running and stops reading while they wait (backpressure)', async () => {
    const { bucket, deps } = setup(16);
    bucket.put(
      'uploads/5/bp.csv',
      ['A', ...Array.from({ length: 2000 }, (_, i) => String(i + 1))].join('\n'),
    );
    const waiting: (() => void)[] = [];
    let running = 0;
    let maxRunning = 0;
    const sent: ChunkMessage[] = [];
    const slow: ChunkQueue = {
      sendChunks(chunks) {
        running++;
        maxRunning = Math.max(maxRunning, running);
        return new Promise<void>((resolve) =>
          waiting.push(() => {
            running--;
            sent.push(...chunks);
            resolve();
          }),
        );
      },
    };
    const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
    // With its size known, as S3 events give it: no counting pass before the ingest (see upload-limits.test.ts).
    const size = bucket.objects.get('uploads/5/bp.csv')!.bytes.byteLength;
    const done = ingestUpload(
      { ...deps, queue: slow, maxInFlight: 3 },
      { ...upload('uploads/5/bp.csv'), size },
    );
    for (let i = 0; i < 1000 && waiting.length < 3; i++) await turn();
    expect(waiting.length).toBe(3);
    const pulled = bucket.pulled;
    for (let i = 0; i < 100; i++) await turn();
    // Blocked: no fourth send started, and the object is not read ahead while the queue is full.
    expect(waiting.length).toBe(3);
    expect(bucket.pulled).toBe(pulled);
    expect(pulled).toBeLessThan(Math.ceil(bucket.objects.get('uploads/5/bp.csv')!.bytes.length / 16));
    let result: JobSummary | { rejectedFile: string } | undefined;
    void done.then((r) => (result = r));
    while (!result) {
      waiting.shift()?.();
      await turn();
    }
    expect(maxRunning).toBe(3);
    expect(asJob(result).total).toBe(2000);
    expect(sent.flatMap((c) => c.rows)).toHaveLength(2000);
  });

  it('refuses a key outside uploads/ (callers filter those out)', async () => {
    const { deps } = setup();
    await expect(ingestUpload(deps, upload('reports/5/x.report.csv'))).rejects.toThrow('not an upload key');
  });
});
