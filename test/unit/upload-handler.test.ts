/**
 * The ingest-upload handler over in-memory dependencies, fed real-shaped S3 events: URL-encoded keys with spaces
 * and accents, keys to skip, a failing record that fails the invocation after the others ran, safe logs.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import type { S3Event, S3EventRecord } from 'aws-lambda';
import { describe, expect, it, vi } from 'vitest';
import { MemoryJobStore } from '../../lambdas/adapters/memory-job-store';
import { uploadJobId, type IngestDeps } from '../../lambdas/core/ingest';
import { ingestUploadHandler } from '../../lambdas/ingest-upload/handler';
import { MemoryBucket } from '../harness/memory-bucket';
import { RecordingQueue } from './upload-doubles';

/** One record as S3 sends it (the key URL-encoded, `+` for a space). */
function s3Record(rawKey: string, eventName = 'ObjectCreated:Put'): S3EventRecord {
  return {
    eventVersion: '2.1',
    eventSource: 'aws:s3',
    awsRegion: 'us-east-1',
    eventTime: '2025-03-01T12:00:00.000Z',
    eventName: eventName as S3EventRecord['eventName'],
    userIdentity: { principalId: 'AWS:AIDAEXAMPLE' },
    requestParameters: { sourceIPAddress: '127.0.0.1' },
    responseElements: {
      'x-amz-request-id': 'C3D13FE58DE4C810',
      'x-amz-id-2': 'FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD',
    },
    s3: {
      s3SchemaVersion: '1.0',
      configurationId: 'uploads',
      bucket: {
        name: 'the-bucket',
        ownerIdentity: { principalId: 'A3NL1KOZZKExample' },
        arn: 'arn:aws:s3:::the-bucket',
      },
      object: {
        key: rawKey,
        size: 100,
        eTag: 'd41d8cd98f00b204e9800998ecf8427e',
        versionId: 'v1',
        sequencer: '0055AED6DCD90281E5',
      },
    },
  };
}

function setup() {
  const jobs = new MemoryJobStore();
  // Small pieces: the parser must join characters and lines split across them.
  const bucket = new MemoryBucket(7);
  const queue = new RecordingQueue();
  const deps: IngestDeps = { jobs, bucket, queue };
  const logger = new Logger({ serviceName: 'test' });
  // Spied on, not replaced: the lines are still printed (and reach the log audit).
  const spies = (['info', 'warn', 'error'] as const).map((level) => vi.spyOn(logger, level));
  /** The arguments of every info, warn and error call so far. */
  const logged = () => spies.flatMap((spy) => spy.mock.calls);
  return { jobs, bucket, queue, handler: ingestUploadHandler(() => deps, logger), logged };
}

describe('ingest-upload handler', () => {
  it('decodes a key with spaces and accents and ingests the object under its real name', async () => {
    const { jobs, bucket, queue, handler, logged } = setup();
    bucket.put('uploads/1001/lista de marzo é.csv', 'NAME,EMAIL\nJosé,jose@example.com\n');
    await handler({ Records: [s3Record('uploads/1001/lista+de+marzo+%C3%A9.csv')] });
    const jobId = uploadJobId({
      bucket: 'the-bucket',
      key: 'uploads/1001/lista de marzo é.csv',
      versionId: 'v1',
      etag: 'd41d8cd98f00b204e9800998ecf8427e',
    });
    expect(await jobs.getJob(jobId)).toMatchObject({
      name: 'lista de marzo é.csv',
      total: 1,
      state: 'running',
    });
    expect(bucket.reads).toEqual([{ key: 'uploads/1001/lista de marzo é.csv', versionId: 'v1' }]);
    expect(queue.sent.map((c) => c.rows)).toEqual([
      [{ row: 1, record: { NAME: 'José', EMAIL: 'jose@example.com' } }],
    ]);
    // Logs carry the job and counts, never the key, the name or values.
    const text = JSON.stringify(logged());
    expect(text).toContain(jobId);
    expect(text).not.toMatch(/marzo|José|example\.com/);
  });

  it('skips keys outside uploads/, folder markers, deletions and S3 test events', async () => {
    const { bucket, queue, handler } = setup();
    await handler({ Records: [s3Record('reports/1001/x.report.csv'), s3Record('uploads/1001/')] });
    await handler({ Records: [s3Record('uploads/1001/x.csv', 'ObjectRemoved:Delete')] });
    await handler({ Event: 's3:TestEvent' } as unknown as S3Event);
    expect(bucket.reads).toEqual([]);
    expect(bucket.written.size).toBe(0);
    expect(queue.calls).toBe(0);
  });

  it('reports an upload with a bad key instead of failing', async () => {
    const { bucket, handler } = setup();
    await handler({ Records: [s3Record('uploads/not+a+number/x.csv')] });
    expect(JSON.parse(bucket.text('reports/_invalid/not a number/x.csv.summary.json')!)).toMatchObject({
      total: 0,
      error: expect.stringContaining('conversationId'),
    });
  });

  it('keeps header reasons out of the log: in a file without a header row they quote values', async () => {
    const { bucket, handler, logged } = setup();
    bucket.put('uploads/1001/no-header.csv', 'Ana María,ana@example.com\n');
    await handler({ Records: [s3Record('uploads/1001/no-header.csv')] });
    expect(JSON.parse(bucket.text('reports/1001/no-header.csv.summary.json')!).error).toMatch(
      /^header column /,
    );
    expect(JSON.stringify(logged())).toContain('header row is unusable');
    expect(JSON.stringify(logged())).not.toMatch(/Ana|example\.com/);
  });

  it('runs every record, then fails the invocation if one failed (so S3 retries; the ingest is idempotent)', async () => {
    const { bucket, queue, handler, logged } = setup();
    bucket.put('uploads/1/ok.csv', 'A\n1\n');
    const missing = s3Record('uploads/1/missing.csv');
    await expect(handler({ Records: [missing, s3Record('uploads/1/ok.csv')] })).rejects.toThrow('NoSuchKey');
    expect(queue.sent).toHaveLength(1);
    expect(JSON.stringify(logged())).toContain('upload ingest failed');
  });
});
