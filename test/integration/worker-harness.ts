/**
 * Shared by the worker and report tests (their bucket is ../harness/memory-bucket.ts): an RFC 4180 reader for
 * the report CSV, and the invariants every batch test checks (total = started + rejected + failed, every row
 * exactly once, in order).
 */
import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import { MemoryChunkQueue } from '../../lambdas/adapters/memory-queue';
import { CachedCredentialSource, credentialsFromObject } from '../../lambdas/core/credentials';
import { DanaClient } from '../../lambdas/core/dana-client';
import type { ChunkMessage, JobStore, ObjectStore, RowOutcome } from '../../lambdas/core/jobs';
import { reportKeys, type ReportSummary } from '../../lambdas/core/reports';
import { processChunk, type ChunkResult, type WorkerDeps } from '../../lambdas/core/worker';
import { DEMO_USER, type Sandbox } from '../../local/sandbox/server';

/** RFC 4180: CRLF records, quoted fields may hold commas, quotes ("") and line breaks. */
export function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      record.push(field);
      field = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      record.push(field);
      records.push(record);
      record = [];
      field = '';
      i++;
    } else field += c;
  }
  if (field !== '' || record.length > 0) throw new Error('CSV does not end with CRLF');
  return records;
}

/** The report's rows as outcomes. */
export function reportRows(csv: string): RowOutcome[] {
  const [header, ...rows] = parseCsv(csv);
  expect(header).toEqual(['row', 'status', 'idResult', 'error']);
  return rows.map(([row, status, idResult, error]) => ({
    row: Number(row),
    status: status as RowOutcome['status'],
    ...(idResult ? { idResult: Number(idResult) } : {}),
    ...(error ? { error } : {}),
  }));
}

/**
 * The invariants of a finished job: done; total = started + rejected + failed; the report holds rows 1..total
 * exactly once, in order, with the same counts as the summary and the store.
 */
export async function expectCompleteReport(
  jobs: JobStore,
  bucket: { text(key: string): string } | ObjectStore,
  jobId: string,
  segment: string,
  name: string,
  expectedTotal: number,
): Promise<{ rows: RowOutcome[]; summary: ReportSummary }> {
  const job = await jobs.getJob(jobId);
  expect(job?.state).toBe('done');
  expect(job!.total).toBe(expectedTotal);
  expect(job!.started + job!.rejected + job!.failed).toBe(job!.total);
  const keys = reportKeys(segment, name);
  const read = async (key: string) => {
    if ('text' in bucket) return bucket.text(key);
    let text = '';
    const decoder = new TextDecoder();
    for await (const bytes of await bucket.read(key)) text += decoder.decode(bytes, { stream: true });
    return text + decoder.decode();
  };
  const rows = reportRows(await read(keys.csv));
  expect(rows.map((r) => r.row)).toEqual(Array.from({ length: expectedTotal }, (_, i) => i + 1));
  const summary = JSON.parse(await read(keys.summary)) as ReportSummary;
  const count = (status: string) => rows.filter((r) => r.status === status).length;
  expect(summary).toMatchObject({
    jobId,
    total: job!.total,
    started: job!.started,
    rejected: job!.rejected,
    failed: job!.failed,
  });
  expect([count('started'), count('rejected'), count('failed')]).toEqual([
    summary.started,
    summary.rejected,
    summary.failed,
  ]);
  return { rows, summary };
}

// ---- The worker rig: a sandbox-backed client, a job with rejected rows, and a queue that drives the worker. ----

export interface Secret {
  value: { username: string; companyCode: string; password: string };
}

/** A client like the worker's (one attempt; the 401 refresh stays) whose secret a test can rotate. */
export function sandboxClient(sandbox: Sandbox, secret: Secret, timeoutMs = 5_000): DanaClient {
  const credentials = new CachedCredentialSource(
    async () => credentialsFromObject('test secret', { ...secret.value }),
    60 * 60_000,
  );
  return new DanaClient({ baseUrl: sandbox.url, credentials, retry: { maxAttempts: 1 }, timeoutMs });
}

export interface SeededJob {
  jobId: string;
  name: string;
  messages: ChunkMessage[];
  total: number;
  rejected: number;
}

/**
 * An upload job as the ingest leaves it: `total` rows, the `rejected` ones recorded as such, the others in chunks
 * of 10 in row order, ingest finished. Every row's record is unique, so the sandbox's duplicate check is exact.
 */
export async function seedUploadJob(
  jobs: JobStore,
  p: { total: number; rejected: number[]; conversationId?: number; name?: string },
): Promise<SeededJob> {
  const jobId = randomUUID().replace(/-/g, '');
  const name = p.name ?? `faults/${jobId.slice(0, 8)}`;
  const operation = { kind: 'batch' as const, conversationId: p.conversationId ?? 1001 };
  expect(await jobs.createJob({ jobId, source: 'upload', operation, name })).toBe('created');
  const rejectedRows = new Set(p.rejected);
  await jobs.recordRejected(
    jobId,
    [...rejectedRows].map((row) => ({
      row,
      status: 'rejected',
      error: `row ${row}: EMAIL must not be empty`,
    })),
  );
  const valid = Array.from({ length: p.total }, (_, i) => i + 1).filter((row) => !rejectedRows.has(row));
  const messages: ChunkMessage[] = [];
  for (let i = 0; i < valid.length; i += 10) {
    messages.push({
      jobId,
      chunkId: `${jobId}#${String(messages.length).padStart(9, '0')}`,
      operation,
      rows: valid.slice(i, i + 10).map((row) => ({
        row,
        record: { EMAIL: `c${row}.${jobId.slice(0, 8)}@example.com`, NAME: `Contact ${row}` },
      })),
    });
  }
  await jobs.finishIngest(jobId, { total: p.total, rejected: rejectedRows.size });
  return { jobId, name, messages, total: p.total, rejected: rejectedRows.size };
}

export interface Delivery {
  chunkId: string;
  receiveCount: number;
  result: ChunkResult;
}

/**
 * Runs messages through the in-process queue (SQS semantics: receive counts, delays, DLQ) into processChunk
 * until nothing is left. Delays are scaled to 0 unless asked (their values are checked on the recorded results).
 */
export async function runQueue(
  deps: WorkerDeps,
  messages: ChunkMessage[],
  options: {
    concurrency?: number;
    /** 1 waits the real delays; default 0. */
    delayScale?: number;
    afterEach?: (delivery: Delivery) => void | Promise<void>;
  } = {},
): Promise<{ deliveries: Delivery[]; queue: MemoryChunkQueue }> {
  const deliveries: Delivery[] = [];
  const errors: unknown[] = [];
  const queue = new MemoryChunkQueue(
    async (message, receiveCount) => {
      const result = await processChunk(deps, message, receiveCount);
      const delivery = { chunkId: message.chunkId, receiveCount, result };
      deliveries.push(delivery);
      await options.afterEach?.(delivery);
      return result;
    },
    {
      maxReceiveCount: deps.maxReceiveCount,
      concurrency: options.concurrency ?? 3,
      delayScale: options.delayScale ?? 0,
      onError: (error) => errors.push(error),
    },
  );
  await queue.sendChunks(messages);
  await queue.idle();
  queue.close();
  expect(errors).toEqual([]);
  return { deliveries, queue };
}

/** The sandbox's batch calls (start/list/data), refused or not. */
export const batchCalls = (sandbox: Sandbox) =>
  sandbox.received().filter((r) => r.path.endsWith('/start/list/data'));

/** The batch functions' environment for tests on moto, with the sandbox as DANAConnect (demo API 1.0 user). */
export function pipelineEnv(p: {
  tableName: string;
  queueUrl: string;
  bucketName: string;
  maxReceiveCount: number;
  sandbox: Sandbox;
}): Record<string, string> {
  return {
    JOBS_TABLE_NAME: p.tableName,
    QUEUE_URL: p.queueUrl,
    BUCKET_NAME: p.bucketName,
    MAX_RECEIVE_COUNT: String(p.maxReceiveCount),
    DANA_RATE_LIMIT_PER_SECOND: '100',
    DANA_BASE_URL: p.sandbox.url,
    DANA_USERNAME: DEMO_USER.username,
    DANA_COMPANY_CODE: DEMO_USER.companyCode,
    DANA_PASSWORD: DEMO_USER.password,
    DANA_TIMEOUT_MS: '2000',
  };
}
