/** The ingest's AWS adapters against moto_server: S3ObjectStore (streamed reads, versions, SSE, multipart) and SqsChunkQueue. */
import { randomUUID } from 'node:crypto';
import {
  CreateBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { CreateQueueCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { MIN_PART_BYTES, S3ObjectStore, s3ObjectStoreFromEnv } from '../../lambdas/adapters/s3-object-store';
import { SqsChunkQueue } from '../../lambdas/adapters/sqs-queue';
import type { ChunkMessage } from '../../lambdas/core/jobs';

const endpoint = inject('motoEndpoint');
const region = 'us-east-1';
const s3 = new S3Client({ endpoint, region, forcePathStyle: true });
const sqs = new SQSClient({ endpoint, region });
const bucket = `adapters-${randomUUID().slice(0, 8)}`;

beforeAll(async () => {
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await s3.send(
    new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }),
  );
});
afterAll(() => {
  s3.destroy();
  sqs.destroy();
});

async function readAll(stream: AsyncIterable<Uint8Array>): Promise<{ text: string; pieces: number }> {
  const parts: Uint8Array[] = [];
  for await (const part of stream) parts.push(part);
  return { text: Buffer.concat(parts).toString('utf8'), pieces: parts.length };
}

describe('S3ObjectStore against moto', () => {
  const store = new S3ObjectStore(s3, { bucket, serverSideEncryption: 'AES256' });

  it('streams an object in pieces, and reads a named version', async () => {
    const big = 'línea,ñ\n'.repeat(200_000); // about 2 MB
    const first = await s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: 'uploads/1/a b.csv', Body: big }),
    );
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'uploads/1/a b.csv', Body: 'newer' }));
    const old = await readAll(await store.read('uploads/1/a b.csv', { versionId: first.VersionId }));
    expect(old.text).toBe(big);
    expect(old.pieces).toBeGreaterThan(1);
    expect((await readAll(await store.read('uploads/1/a b.csv'))).text).toBe('newer');
  });

  it('writes a string with its content type and the configured encryption', async () => {
    await store.write('reports/1/x.summary.json', '{"total":1}', 'application/json');
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'reports/1/x.summary.json' }));
    expect(head.ContentType).toBe('application/json');
    expect(head.ServerSideEncryption).toBe('AES256');
    expect((await readAll(await store.read('reports/1/x.summary.json'))).text).toBe('{"total":1}');
  });

  it('writes a small stream with one PutObject and a large one as a multipart upload', async () => {
    async function* lines(count: number) {
      for (let i = 0; i < count; i += 1000) {
        let piece = '';
        for (let k = i; k < Math.min(count, i + 1000); k++) piece += `${k},started,${k},\r\n`;
        yield piece;
      }
    }
    const expected = async (count: number) => {
      let text = '';
      for await (const piece of lines(count)) text += piece;
      return text;
    };
    const small = new S3ObjectStore(s3, { bucket, partBytes: MIN_PART_BYTES });
    await small.write('reports/1/small.report.csv', lines(10), 'text/csv');
    expect((await readAll(await small.read('reports/1/small.report.csv'))).text).toBe(await expected(10));
    // About 12 MB: three parts of at least 5 MiB (the last smaller).
    await small.write('reports/1/large.report.csv', lines(600_000), 'text/csv');
    const large = await readAll(await small.read('reports/1/large.report.csv'));
    expect(large.text.length).toBeGreaterThan(2 * MIN_PART_BYTES);
    expect(large.text).toBe(await expected(600_000));
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'reports/1/large.report.csv' }));
    expect(head.ETag).toMatch(/-3"$/); // a multipart ETag names its part count
    expect(head.ContentType).toBe('text/csv');
  });

  it('aborts the multipart upload when the source fails, leaving no object and no upload', async () => {
    const store = new S3ObjectStore(s3, { bucket, partBytes: MIN_PART_BYTES });
    async function* failing() {
      yield 'x'.repeat(MIN_PART_BYTES + 1);
      throw new Error('source failed');
    }
    await expect(store.write('reports/1/broken.report.csv', failing(), 'text/csv')).rejects.toThrow(
      'source failed',
    );
    const uploads = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
    expect((uploads.Uploads ?? []).filter((u) => u.Key === 'reports/1/broken.report.csv')).toEqual([]);
    await expect(store.read('reports/1/broken.report.csv')).rejects.toThrow();
  });

  it('is configured from BUCKET_NAME, BUCKET_SSE and BUCKET_KMS_KEY_ID', () => {
    expect(() => s3ObjectStoreFromEnv(s3, {})).toThrow('BUCKET_NAME is not set');
    expect(() => s3ObjectStoreFromEnv(s3, { BUCKET_NAME: 'b', BUCKET_SSE: 'rot13' })).toThrow('BUCKET_SSE');
    expect(s3ObjectStoreFromEnv(s3, { BUCKET_NAME: 'b', BUCKET_SSE: 'aws:kms' })).toBeInstanceOf(
      S3ObjectStore,
    );
  });
});

describe('SqsChunkQueue against moto', () => {
  const chunk = (index: number, value: string): ChunkMessage => ({
    jobId: 'job',
    chunkId: `job#${String(index).padStart(9, '0')}`,
    operation: { kind: 'batch', conversationId: 1 },
    rows: [{ row: index + 1, record: { A: value } }],
  });

  async function receiveAll(queueUrl: string): Promise<ChunkMessage[]> {
    const out: ChunkMessage[] = [];
    for (;;) {
      const answer = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 300 }),
      );
      if (!answer.Messages?.length) return out;
      out.push(...answer.Messages.map((m) => JSON.parse(m.Body!) as ChunkMessage));
    }
  }

  it('delivers every chunk as one message, small ones 10 per call and large ones within 256 KiB per call', async () => {
    const { QueueUrl } = await sqs.send(
      new CreateQueueCommand({ QueueName: `q-${randomUUID().slice(0, 8)}` }),
    );
    const queue = new SqsChunkQueue(sqs, QueueUrl!);
    const small = Array.from({ length: 23 }, (_, i) => chunk(i, `v${i}`));
    const large = Array.from({ length: 4 }, (_, i) => chunk(100 + i, 'é'.repeat(100_000))); // ~200 KB each
    await queue.sendChunks(small);
    await queue.sendChunks(large);
    const received = await receiveAll(QueueUrl!);
    const byId = (a: ChunkMessage, b: ChunkMessage) => a.chunkId.localeCompare(b.chunkId);
    expect(received.sort(byId)).toEqual([...small, ...large].sort(byId));
  });
});
