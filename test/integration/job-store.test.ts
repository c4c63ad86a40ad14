/**
 * The JobStore contract, run against the DynamoDB store on moto_server and against its embedded twin: both must
 * behave the same. Time is a fake clock, so leases expire without waiting.
 */
import { DeleteTableCommand, GetItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DynamoJobStore } from '../../lambdas/adapters/dynamo-job-store';
import { MemoryJobStore } from '../../lambdas/adapters/memory-job-store';
import type { JobStore, RowOutcome } from '../../lambdas/core/jobs';
import { createJobsTable, awsDynamo } from './job-store-table';

const clock = { now: Date.UTC(2026, 0, 2, 3, 4, 5) };
const dynamo = awsDynamo(inject('awsEndpoint'));
const tableName = `jobs-store-${randomUUID()}`;

beforeAll(() => createJobsTable(dynamo, tableName));
afterAll(async () => {
  await dynamo.send(new DeleteTableCommand({ TableName: tableName }));
  dynamo.destroy();
});

const stores: [string, () => JobStore][] = [
  ['DynamoJobStore', () => new DynamoJobStore({ client: dynamo, tableName, now: () => clock.now })],
  ['MemoryJobStore', () => new MemoryJobStore(() => clock.now)],
];

const upload = (jobId: string) => ({
  jobId,
  source: 'upload' as const,
  operation: { kind: 'batch' as const, conversationId: 1001 },
  name: 'folder/contacts',
});

async function all(outcomes: AsyncIterable<RowOutcome>): Promise<RowOutcome[]> {
  const out: RowOutcome[] = [];
  for await (const o of outcomes) out.push(o);
  return out;
}

const started = (row: number): RowOutcome => ({ row, status: 'started', idResult: 1000 + row });
const failed = (row: number, error = 'outcome unknown: test'): RowOutcome => ({
  row,
  status: 'failed',
  error,
});

describe.each(stores)('%s', (_, makeStore) => {
  const store = makeStore();
  const newJob = async () => {
    const jobId = randomUUID().replace(/-/g, '');
    expect(await store.createJob(upload(jobId))).toBe('created');
    return jobId;
  };

  it('creates a job once; a duplicate create answers the state it is in', async () => {
    const jobId = await newJob();
    expect(await store.createJob(upload(jobId))).toBe('ingesting');
    const job = await store.getJob(jobId);
    expect(job).toEqual({
      jobId,
      source: 'upload',
      operation: { kind: 'batch', conversationId: 1001 },
      name: 'folder/contacts',
      state: 'ingesting',
      total: 0,
      started: 0,
      rejected: 0,
      failed: 0,
      startedAt: new Date(clock.now).toISOString(),
      rev: 0,
    });
    await store.finishIngest(jobId, { total: 0, rejected: 0 });
    expect(await store.createJob(upload(jobId))).toBe('running');
    expect(await store.getJob('no-such-job')).toBeUndefined();
  });

  it('finishIngest is idempotent', async () => {
    const jobId = await newJob();
    const first = await store.finishIngest(jobId, { total: 12, rejected: 2 });
    expect(first).toMatchObject({ state: 'running', total: 12, rejected: 2 });
    const again = await store.finishIngest(jobId, { total: 12, rejected: 2 });
    expect(again).toEqual(first);
  });

  it('claims: claimed, then busy while the lease runs, done once completed', async () => {
    const jobId = await newJob();
    const chunk = `${jobId}#000000000`;
    expect(await store.claimChunk(jobId, chunk, 60_000, 'w1')).toEqual({ kind: 'claimed', redriven: false });
    expect(await store.claimChunk(jobId, chunk, 60_000, 'w2')).toEqual({ kind: 'busy', retryInMs: 60_000 });
    await store.completeChunk(jobId, chunk, [started(1)]);
    expect(await store.claimChunk(jobId, chunk, 60_000, 'w1')).toEqual({ kind: 'done' });
  });

  it('a claim whose lease ran out is abandoned, and stays so until completed', async () => {
    const jobId = await newJob();
    const chunk = `${jobId}#000000001`;
    expect((await store.claimChunk(jobId, chunk, 1_000, 'w1')).kind).toBe('claimed');
    clock.now += 1_001;
    expect(await store.claimChunk(jobId, chunk, 1_000, 'w2')).toEqual({ kind: 'abandoned' });
    expect(await store.claimChunk(jobId, chunk, 1_000, 'w3')).toEqual({ kind: 'abandoned' });
    await store.completeChunk(jobId, chunk, [failed(11, 'outcome unknown: worker stopped mid-call')]);
    expect(await store.claimChunk(jobId, chunk, 1_000, 'w1')).toEqual({ kind: 'done' });
  });

  it('the same owner claims again: an attempt whose claim acted but lost its answer still holds it', async () => {
    const jobId = await newJob();
    const chunk = `${jobId}#000000003`;
    expect((await store.claimChunk(jobId, chunk, 60_000, 'w1')).kind).toBe('claimed');
    expect(await store.claimChunk(jobId, chunk, 60_000, 'w1')).toEqual({ kind: 'claimed', redriven: false });
    expect((await store.claimChunk(jobId, chunk, 60_000, 'w2')).kind).toBe('busy');
    // Only the owner releases: a stray release by another attempt changes nothing.
    await store.releaseChunk(jobId, chunk, 'w2');
    expect((await store.claimChunk(jobId, chunk, 60_000, 'w2')).kind).toBe('busy');
    await store.releaseChunk(jobId, chunk, 'w1');
    expect((await store.claimChunk(jobId, chunk, 60_000, 'w2')).kind).toBe('claimed');
  });

  it('report lease: one writer at a time, only on a done job, and it records what the report reflects', async () => {
    const jobId = await newJob();
    await store.finishIngest(jobId, { total: 1, rejected: 0 });
    expect(await store.takeReportLease(jobId, 'r1', 60_000)).toBeUndefined(); // not done yet
    const chunk = `${jobId}#000000000`;
    await store.claimChunk(jobId, chunk, 60_000, 'w1');
    const completed = await store.completeChunk(jobId, chunk, [started(1)]);
    expect(await store.markDone(jobId)).toBe(true);
    const leased = await store.takeReportLease(jobId, 'r1', 60_000);
    expect(leased).toMatchObject({ state: 'done', rev: completed.rev });
    expect(leased?.reportedRev).toBeUndefined();
    expect(await store.takeReportLease(jobId, 'r2', 60_000)).toBeUndefined(); // r1 holds it
    await store.releaseReportLease(jobId, 'r2', 99); // not r2's: ignored
    await store.releaseReportLease(jobId, 'r1', completed.rev!);
    expect(await store.takeReportLease(jobId, 'r2', 60_000)).toMatchObject({ reportedRev: completed.rev });
    clock.now += 60_001; // r2 stopped without letting go: its lease runs out
    expect(await store.takeReportLease(jobId, 'r3', 60_000)).toMatchObject({ reportedRev: completed.rev });
  });

  it('a released claim can be claimed again', async () => {
    const jobId = await newJob();
    const chunk = `${jobId}#000000002`;
    await store.claimChunk(jobId, chunk, 60_000, 'w1');
    await store.releaseChunk(jobId, chunk, 'w1');
    expect(await store.claimChunk(jobId, chunk, 60_000, 'w1')).toEqual({ kind: 'claimed', redriven: false });
    await store.completeChunk(jobId, chunk, [started(1)]);
    await store.releaseChunk(jobId, chunk, 'w1'); // too late: a done chunk stays done
    expect(await store.claimChunk(jobId, chunk, 60_000, 'w1')).toEqual({ kind: 'done' });
  });

  it('counts a chunk once when two deliveries complete it at the same time', async () => {
    const jobId = await newJob();
    await store.finishIngest(jobId, { total: 3, rejected: 0 });
    const chunk = `${jobId}#000000000`;
    await store.claimChunk(jobId, chunk, 60_000, 'w1');
    const answers = await Promise.all([
      store.completeChunk(jobId, chunk, [started(1), started(2), failed(3)]),
      store.completeChunk(jobId, chunk, [started(1), started(2), failed(3)]),
    ]);
    for (const job of answers) expect(job).toMatchObject({ started: 2, failed: 1 });
    expect(await store.getJob(jobId)).toMatchObject({ total: 3, started: 2, failed: 1, rejected: 0 });
    expect(await all(store.outcomes(jobId))).toEqual([started(1), started(2), failed(3)]);
    // and a late third completion with other outcomes changes nothing either
    await store.completeChunk(jobId, chunk, [failed(1), failed(2), failed(3)]);
    expect(await store.getJob(jobId)).toMatchObject({ started: 2, failed: 1 });
  });

  it('markDone: only when every row has its outcome, and only once', async () => {
    const jobId = await newJob();
    await store.completeChunk(jobId, `${jobId}#000000000`, [started(1)]);
    expect(await store.markDone(jobId)).toBe(false); // still ingesting
    await store.finishIngest(jobId, { total: 3, rejected: 1 });
    expect(await store.markDone(jobId)).toBe(false); // row 2 or 3 missing
    await store.completeChunk(jobId, `${jobId}#000000001`, [failed(3)]);
    clock.now += 5_000;
    const results = await Promise.all([store.markDone(jobId), store.markDone(jobId), store.markDone(jobId)]);
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await store.getJob(jobId)).toMatchObject({
      state: 'done',
      finishedAt: new Date(clock.now).toISOString(),
    });
    expect(await store.markDone(jobId)).toBe(false);
  });

  it('dead-lettered outcomes are replaced by a redriven claim, moving the counts', async () => {
    const jobId = await newJob();
    const chunk = `${jobId}#000000000`;
    await store.finishIngest(jobId, { total: 2, rejected: 0 });
    await store.claimChunk(jobId, chunk, 60_000, 'w1');
    await store.completeChunk(jobId, chunk, [failed(1, 'dead-lettered: x'), failed(2, 'dead-lettered: x')], {
      deadLettered: true,
    });
    // A duplicate of the dead-lettering completion changes nothing.
    await store.completeChunk(jobId, chunk, [failed(1, 'dead-lettered: x'), failed(2, 'dead-lettered: x')], {
      deadLettered: true,
    });
    expect(await store.getJob(jobId)).toMatchObject({ started: 0, failed: 2 });
    expect(await store.markDone(jobId)).toBe(true);

    expect(await store.claimChunk(jobId, chunk, 60_000, 'w1')).toEqual({ kind: 'claimed', redriven: true });
    // Until the redriven run completes, the report still shows the dead-lettered outcomes.
    expect((await all(store.outcomes(jobId))).map((o) => o.error)).toEqual([
      'dead-lettered: x',
      'dead-lettered: x',
    ]);
    // Released again (e.g. another 429): still redriven on the next claim.
    await store.releaseChunk(jobId, chunk, 'w1');
    expect(await store.claimChunk(jobId, chunk, 60_000, 'w1')).toEqual({ kind: 'claimed', redriven: true });
    const job = await store.completeChunk(jobId, chunk, [started(1), failed(2, 'DANAConnect error 1008')]);
    expect(job).toMatchObject({ state: 'done', total: 2, started: 1, failed: 1 });
    expect(await all(store.outcomes(jobId))).toEqual([started(1), failed(2, 'DANAConnect error 1008')]);
    expect(await store.claimChunk(jobId, chunk, 60_000, 'w1')).toEqual({ kind: 'done' });
  });

  it('outcomes: rejected rows and chunk outcomes merged in row order, each row once', async () => {
    const jobId = await newJob();
    const rejected = (row: number): RowOutcome => ({ row, status: 'rejected', error: `row ${row}: bad` });
    // 250 rejected rows among 1..600 (several rejected items), the rest in chunks of up to 10, some out of order.
    const isRejected = (row: number) => row % 12 === 0 || (row > 300 && row <= 320);
    const rows = Array.from({ length: 600 }, (_, i) => i + 1);
    const valid = rows.filter((r) => !isRejected(r));
    const rejectedRows = rows.filter(isRejected).map(rejected);
    await store.recordRejected(jobId, rejectedRows.slice(0, 30));
    await store.recordRejected(jobId, rejectedRows.slice(30));
    await store.recordRejected(jobId, rejectedRows.slice(0, 30)); // a replayed ingest
    const chunks: number[][] = [];
    for (let i = 0; i < valid.length; i += 10) chunks.push(valid.slice(i, i + 10));
    const order = chunks.map((_, i) => i).reverse();
    for (const index of order) {
      const chunk = `${jobId}#${String(index).padStart(9, '0')}`;
      await store.claimChunk(jobId, chunk, 60_000, 'w1');
      await store.completeChunk(jobId, chunk, [...chunks[index]!].reverse().map(started));
    }
    // A chunk still claimed has no outcomes yet and must not show up.
    await store.claimChunk(jobId, `${jobId}#000000999`, 60_000, 'w1');
    const outcomes = await all(store.outcomes(jobId));
    expect(outcomes.map((o) => o.row)).toEqual(rows);
    expect(outcomes.filter((o) => o.status === 'rejected')).toEqual(rejectedRows);
  });
});

describe('DynamoJobStore items', () => {
  const store = new DynamoJobStore({ client: dynamo, tableName, ttlDays: 7, now: () => clock.now });

  it('sets the TTL attribute (epoch seconds) on every item it writes', async () => {
    const jobId = randomUUID();
    await store.createJob(upload(jobId));
    await store.recordRejected(jobId, [{ row: 2, status: 'rejected', error: 'row 2: bad' }]);
    await store.claimChunk(jobId, `${jobId}#000000000`, 60_000, 'w1');
    await store.completeChunk(jobId, `${jobId}#000000000`, [started(1)]);
    const items = await dynamo.send(
      new QueryCommand({
        TableName: tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': { S: `job#${jobId}` } },
      }),
    );
    expect(items.Items?.map((i) => i.sk?.S)).toEqual(['chunk#000000000', 'job', 'rejected#0000000002']);
    const expected = Math.floor(clock.now / 1000) + 7 * 86_400;
    for (const item of items.Items ?? []) expect(Number(item.expiresAt?.N)).toBe(expected);
  });

  it('a completion for a job that does not exist fails loudly instead of inventing the job', async () => {
    await expect(store.completeChunk('ghost', 'ghost#000000000', [started(1)])).rejects.toThrow(
      /does not exist/,
    );
    const job = await dynamo.send(
      new GetItemCommand({ TableName: tableName, Key: { pk: { S: 'job#ghost' }, sk: { S: 'job' } } }),
    );
    expect(job.Item).toBeUndefined();
  });
});
