/**
 * Reports that never overwrite each other (issue 14, item 6): a report is named after the upload's full file name,
 * extension included, so `a.csv`, `a.json` and `a.CSV` (or a rejected `a.txt`) in one folder each get their own.
 */
import { describe, expect, it } from 'vitest';
import { MemoryJobStore } from '../../lambdas/adapters/memory-job-store';
import { ingestUpload, parseUploadKey, type IngestDeps } from '../../lambdas/core/ingest';
import { MemoryBucket } from '../harness/memory-bucket';
import { RecordingQueue } from './upload-doubles';

const NOW = new Date('2025-03-01T12:00:00.000Z');

function setup() {
  const bucket = new MemoryBucket();
  const deps: IngestDeps = {
    jobs: new MemoryJobStore(() => NOW.getTime()),
    bucket,
    queue: new RecordingQueue(),
    now: () => NOW,
  };
  return { bucket, deps };
}

/** Every row rejected (too many fields, not an object), so each job is done and reported at once. */
const FILES: Record<string, { body: string; total: number }> = {
  'uploads/1001/a.csv': { body: 'NAME\nx,y\n', total: 1 },
  'uploads/1001/a.json': { body: '[1,2]', total: 2 },
  'uploads/1001/a.CSV': { body: 'NAME\nx,y\nx,y\nx,y\n', total: 3 },
  'uploads/1001/a.jsonl': { body: '1\n2\n3\n4\n', total: 4 },
};

describe('report names', () => {
  it('keep the full file name: uploads/1001/a.csv -> reports/1001/a.csv.report.csv and .summary.json', async () => {
    const { bucket, deps } = setup();
    for (const [key, { body }] of Object.entries(FILES)) {
      bucket.put(key, body);
      await ingestUpload(deps, { bucket: 'b', key, etag: 'e' });
    }
    for (const [key, { total }] of Object.entries(FILES)) {
      const name = key.slice('uploads/1001/'.length);
      const summary = JSON.parse(bucket.text(`reports/1001/${name}.summary.json`)) as { total: number };
      expect(summary.total, key).toBe(total);
      const lines = bucket.text(`reports/1001/${name}.report.csv`).trimEnd().split('\r\n');
      expect(lines, key).toHaveLength(total + 1);
    }
    // Four uploads, eight report objects: none shared.
    expect([...bucket.written].sort()).toHaveLength(8);
    expect(bucket.written.has('reports/1001/a.report.csv')).toBe(false);
  });

  it('keep the full name of files rejected as a whole too (a.txt and a.tsv do not share a report)', async () => {
    const { bucket, deps } = setup();
    for (const key of ['uploads/1001/a.txt', 'uploads/1001/a.tsv', 'uploads/0/a.csv', 'uploads/0/a.json']) {
      bucket.put(key, 'NAME\nx\n');
      await ingestUpload(deps, { bucket: 'b', key, etag: 'e' });
    }
    expect([...bucket.written].filter((k) => k.endsWith('.summary.json')).sort()).toEqual([
      'reports/1001/a.tsv.summary.json',
      'reports/1001/a.txt.summary.json',
      'reports/_invalid/0/a.csv.summary.json',
      'reports/_invalid/0/a.json.summary.json',
    ]);
  });

  it('the job is named after the full file name, folders kept', () => {
    expect(parseUploadKey('uploads/1001/march/a.CSV')).toMatchObject({
      kind: 'upload',
      name: 'march/a.CSV',
      format: 'csv',
    });
  });
});
