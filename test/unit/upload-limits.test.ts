/**
 * The upload limits (`batch.maxUploadBytes`, `batch.maxRowsPerUpload`): a file beyond either is rejected whole,
 * before any job or chunk exists, with a report naming the limit; the size is judged before reading when known.
 */
import type { S3Event } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { MemoryJobStore } from '../../lambdas/adapters/memory-job-store';
import { loggerFor } from '../../lambdas/adapters/observability';
import { ingestUpload, uploadJobId, type IngestDeps } from '../../lambdas/core/ingest';
import type { UploadLimits } from '../../lambdas/core/upload/limits';
import { ingestUploadHandler, uploadLimitsFromEnv } from '../../lambdas/ingest-upload/handler';
import { MemoryBucket } from '../harness/memory-bucket';
import { RecordingQueue } from './upload-doubles';

const BUCKET = 'uploads-bucket';

function setup(limits?: UploadLimits, chunkBytes = 16) {
  const jobs = new MemoryJobStore();
  const bucket = new MemoryBucket(chunkBytes);
  const queue = new RecordingQueue();
  const deps: IngestDeps = { jobs, bucket, queue, ...(limits && { limits }) };
  return { jobs, bucket, queue, deps };
}

const csv = (rows: number) =>
  ['EMAIL', ...Array.from({ length: rows }, (_, i) => `u${i}@example.com`)].join('\n');
const jsonl = (rows: number) =>
  Array.from({ length: rows }, (_, i) => JSON.stringify({ EMAIL: `u${i}@example.com` })).join('\n');
const jsonArray = (rows: number) =>
  JSON.stringify(Array.from({ length: rows }, (_, i) => ({ EMAIL: `u${i}@x.io` })));

/** What the code wrote to the bucket, all of it. */
const writtenText = (bucket: MemoryBucket) => [...bucket.written].map((key) => bucket.text(key)).join('\n');

/** Nothing started: no chunk queued, no job created. */
async function expectNothingStarted(s: ReturnType<typeof setup>, key: string): Promise<void> {
  expect(s.queue.sent).toEqual([]);
  expect(await s.jobs.getJob(uploadJobId({ bucket: BUCKET, key, etag: 'e' }))).toBeUndefined();
}

describe('upload limits in the ingest', () => {
  it('a file whose known size is over maxUploadBytes is rejected whole without being read', async () => {
    const s = setup({ maxBytes: 100, maxRows: 1000 });
    const key = 'uploads/1001/big.csv';
    s.bucket.put(key, csv(3));
    const result = await ingestUpload(s.deps, { bucket: BUCKET, key, etag: 'e', size: 101 });
    expect(result).toEqual({ rejectedFile: expect.stringContaining('batch.maxUploadBytes') as unknown });
    expect(s.bucket.reads).toEqual([]);
    expect(writtenText(s.bucket)).toContain('larger than 100 bytes, the limit (batch.maxUploadBytes)');
    await expectNothingStarted(s, key);
  });

  it('the default limit is 2 GiB: a 2 GiB + 1 byte upload is refused before a read', async () => {
    const s = setup();
    const key = 'uploads/1001/huge.csv';
    const result = await ingestUpload(s.deps, { bucket: BUCKET, key, etag: 'e', size: 2 * 1024 ** 3 + 1 });
    expect(result).toEqual({ rejectedFile: expect.stringContaining('2147483648 bytes') as unknown });
    expect(s.bucket.reads).toEqual([]);
  });

  it('a file of unknown size is measured as it is read: over the limit, nothing is queued', async () => {
    const s = setup({ maxBytes: 200, maxRows: 1_000_000 });
    const key = 'uploads/1001/unsized.csv';
    s.bucket.put(key, csv(40));
    const result = await ingestUpload(s.deps, { bucket: BUCKET, key, etag: 'e' });
    expect(result).toEqual({ rejectedFile: expect.stringContaining('batch.maxUploadBytes') as unknown });
    await expectNothingStarted(s, key);
  });

  it.each([
    ['csv', csv],
    ['jsonl', jsonl],
    ['json', jsonArray],
  ] as const)(
    'a %s file with more rows than maxRowsPerUpload is rejected whole, counting stops early',
    async (ext, make) => {
      const s = setup({ maxBytes: 10_000_000, maxRows: 5 });
      const key = `uploads/1001/many.${ext}`;
      const content = make(2000);
      s.bucket.put(key, content);
      const size = new TextEncoder().encode(content).byteLength;
      const result = await ingestUpload(s.deps, { bucket: BUCKET, key, etag: 'e', size });
      expect(result).toEqual({
        rejectedFile:
          'file has more than 5 rows, the limit (batch.maxRowsPerUpload): nothing in it was started',
      });
      expect(writtenText(s.bucket)).toContain('batch.maxRowsPerUpload');
      await expectNothingStarted(s, key);
      // The count stopped soon after row 6: far from the whole file.
      expect(s.bucket.pulled).toBeLessThan(size / 16 / 4);
    },
  );

  it('exactly maxRowsPerUpload rows is accepted, each row queued once', async () => {
    const s = setup({ maxBytes: 10_000, maxRows: 5 });
    const key = 'uploads/1001/five.csv';
    s.bucket.put(key, csv(5));
    const result = await ingestUpload(s.deps, { bucket: BUCKET, key, etag: 'e', size: 200 });
    expect(result).toMatchObject({ total: 5, rejected: 0 });
    expect(s.queue.sent.flatMap((c) => c.rows.map((r) => r.row))).toEqual([1, 2, 3, 4, 5]);
    // Counted first (it could have held more rows than the limit), then ingested.
    expect(s.bucket.reads).toHaveLength(2);
  });

  it('a file too small to hold more rows than the limit is read once', async () => {
    const s = setup({ maxBytes: 10_000, maxRows: 1000 });
    const key = 'uploads/1001/small.csv';
    s.bucket.put(key, csv(3));
    const result = await ingestUpload(s.deps, { bucket: BUCKET, key, etag: 'e', size: 60 });
    expect(result).toMatchObject({ total: 3 });
    expect(s.bucket.reads).toHaveLength(1);
  });
});

describe('upload limits from the environment, and the S3 event size', () => {
  it('UPLOAD_MAX_BYTES and UPLOAD_MAX_ROWS, each defaulting on its own; a bad value is named', () => {
    expect(uploadLimitsFromEnv({})).toEqual({ maxBytes: 2 * 1024 ** 3, maxRows: 5_000_000 });
    expect(uploadLimitsFromEnv({ UPLOAD_MAX_BYTES: '1000', UPLOAD_MAX_ROWS: '7' })).toEqual({
      maxBytes: 1000,
      maxRows: 7,
    });
    expect(() => uploadLimitsFromEnv({ UPLOAD_MAX_ROWS: '0' })).toThrow(
      'UPLOAD_MAX_ROWS must be a positive integer',
    );
    expect(() => uploadLimitsFromEnv({ UPLOAD_MAX_BYTES: '1.5' })).toThrow('UPLOAD_MAX_BYTES');
  });

  it("the handler hands the event's object size to the ingest: an oversized upload is never read", async () => {
    const s = setup({ maxBytes: 1000, maxRows: 1000 });
    const key = 'uploads/1001/big.csv';
    s.bucket.put(key, csv(3));
    const event = {
      Records: [
        {
          eventName: 'ObjectCreated:Put',
          s3: { bucket: { name: BUCKET }, object: { key, size: 5000, eTag: 'e', versionId: 'v1' } },
        },
      ],
    } as unknown as S3Event;
    await ingestUploadHandler(() => s.deps, loggerFor('ingest-upload'))(event);
    expect(s.bucket.reads).toEqual([]);
    expect(s.queue.sent).toEqual([]);
    expect(writtenText(s.bucket)).toContain('batch.maxUploadBytes');
  });
});
