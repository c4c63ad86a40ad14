/**
 * Pacing, in a process of its own: BENCH_WORKERS concurrent loops each take the next chunk message and run the
 * product's worker (`processChunk`) on it, paced by the product's rate limiter at R = BENCH_RATE calls per second:
 * one MemoryRateLimiter shared by all loops (BENCH_LIMITER=memory), or one DynamoRateLimiter per loop on one
 * table in moto_server (BENCH_LIMITER=dynamo: each loop stands for a separate Lambda). The sandbox (another
 * process) answers 429 above R calls in any 1 s window and adds 50 ms of latency. Every upstream call's time and
 * status is recorded through the client's onUpstreamCall hook.
 */
import { DynamoRateLimiter } from '../../lambdas/adapters/dynamo-rate-limiter';
import { MemoryJobStore } from '../../lambdas/adapters/memory-job-store';
import type { ChunkMessage, ObjectStore } from '../../lambdas/core/jobs';
import { MemoryRateLimiter, type RateLimiter } from '../../lambdas/core/pacing';
import { processChunk, WORKER_CLIENT_RETRY } from '../../lambdas/core/worker';
import { createJobsTable, motoDynamo } from '../../test/integration/job-store-table';
import { sandboxClient } from '../lib/dana';
import { reportResult } from '../lib/proc';

const R = Number(process.env.BENCH_RATE ?? 20);
const WORKERS = Number(process.env.BENCH_WORKERS ?? 8);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const LIMITER = process.env.BENCH_LIMITER ?? 'memory';
/** Experiments only (never set by `npm run bench`): pace at this fraction of R, to test headroom as a fix. */
const PACED_RATE = R * Number(process.env.BENCH_PACING_RATE_FACTOR ?? 1);
const ROWS_PER_CHUNK = 10;

const calls: { at: number; status: number | undefined; errorKind: string | undefined }[] = [];
// Built like the product's worker builds its client: one attempt, the worker re-queues on 429.
const client = sandboxClient(process.env.BENCH_DANA_URL!, {
  retry: WORKER_CLIENT_RETRY,
  onUpstreamCall: (info) =>
    calls.push({ at: performance.now(), status: info.status, errorKind: info.errorKind }),
});

async function limiters(): Promise<() => RateLimiter> {
  if (LIMITER === 'memory') {
    const shared = new MemoryRateLimiter({ ratePerSecond: PACED_RATE });
    return () => shared;
  }
  // moto checks a condition and writes in separate steps, so two concurrent conditional writes can both pass
  // there; DynamoDB applies each atomically. The serialising client restores that guarantee (the limiters still
  // race for real: their read-decide-write sequences interleave between requests).
  const dynamo = motoDynamo(process.env.BENCH_MOTO_URL!);
  const tableName = `bench-jobs-${process.pid}`;
  await createJobsTable(dynamo, tableName);
  return () => new DynamoRateLimiter({ client: dynamo, tableName, ratePerSecond: PACED_RATE });
}

const bucket: ObjectStore = {
  read: async () => {
    throw new Error('not used');
  },
  write: async () => undefined,
};

const jobs = new MemoryJobStore();
const jobId = 'bench-pacing';
const operation = { kind: 'batch', conversationId: 1001 } as const;
const chunkCount = R * SECONDS;
const messages: ChunkMessage[] = Array.from({ length: chunkCount }, (_, c) => ({
  jobId,
  chunkId: `${jobId}#${c}`,
  operation,
  rows: Array.from({ length: ROWS_PER_CHUNK }, (_, r) => {
    const row = c * ROWS_PER_CHUNK + r + 1;
    return { row, record: { NAME: `Bench ${row}`, EMAIL: `bench${row}@example.com` } };
  }),
}));
await jobs.createJob({ jobId, source: 'api', operation, name: 'bench' });
await jobs.finishIngest(jobId, { total: chunkCount * ROWS_PER_CHUNK, rejected: 0 });

const newLimiter = await limiters();
let next = 0;
const results = { done: 0, retried: 0, reasons: {} as Record<string, number> };
const began = performance.now();
await Promise.all(
  Array.from({ length: WORKERS }, async () => {
    const deps = { client, jobs, bucket, limiter: newLimiter(), leaseMs: 60_000, maxReceiveCount: 5 };
    while (next < messages.length) {
      const message = messages[next++]!;
      const result = await processChunk(deps, message, 1);
      if (result.kind === 'done') results.done++;
      else {
        results.retried++;
        results.reasons[result.reason] = (results.reasons[result.reason] ?? 0) + 1;
      }
    }
  }),
);
const elapsedMs = performance.now() - began;
const job = await jobs.getJob(jobId);
reportResult({
  rate: R,
  workers: WORKERS,
  limiter: LIMITER,
  chunks: chunkCount,
  elapsedMs,
  calls,
  results,
  job: job && { started: job.started, failed: job.failed, state: job.state },
});
