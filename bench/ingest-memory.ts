/**
 * Ingest memory and speed benchmark (a script, not a test). Generates a CSV of N rows on disk once, then streams
 * it in a fresh process and prints one JSON line with rows/s and peak RSS:
 *
 *   npx tsx bench/ingest-memory.ts 1000000          ingest: the real ingestUpload (read, decode, parse, validate,
 *                                                   chunk, backpressure) into a stub queue and a counting job store
 *   npx tsx bench/ingest-memory.ts 1000000 parse    the same CSV parser alone (no validation, no chunks): the floor
 *
 * Goals (issue 5): peak RSS at 1M rows <= 1.2x that at 100k; ingest speed >= 0.5x parse-only. Prints wall and
 * CPU time: compare rowsPerCpuSecond when the machine is busy with other work.
 * The file lives in bench/out/ingest-bucket/uploads/1/ (git-ignored). Every 1000th row is ragged, so the
 * rejection path runs too.
 */
import { spawnSync } from 'node:child_process';
import { createReadStream, createWriteStream, existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FolderObjectStore } from '../lambdas/adapters/folder-object-store';
import { ingestUpload } from '../lambdas/core/ingest';
import type { ChunkQueue, JobStore, JobSummary } from '../lambdas/core/jobs';
import { csvRecordBatches, decodeUtf8 } from '../lambdas/core/upload/index';

type Mode = 'ingest' | 'parse';

const BUCKET_DIR = fileURLToPath(new URL('./out/ingest-bucket', import.meta.url));
const keyOf = (rows: number) => `uploads/1/bench-${rows}.csv`;

function row(i: number): string {
  if (i % 1000 === 0) return `${i},ragged row`;
  const note =
    i % 100 === 0
      ? `"first line\r\nsecond, with ""quotes"""`
      : i % 10 === 0
        ? `"a, b and ""c"""`
        : `note ${i}`;
  return `${i},Nombre ${i} Apellido,user${i}@example.com,+58412${String(i).padStart(7, '0')},Caracas,${note}`;
}

/** Writes the CSV with backpressure (never more than one batch in memory), under a temporary name first. */
async function generate(rows: number, path: string): Promise<void> {
  mkdirSync(dirname(path), { recursive: true });
  const temporary = `${path}.tmp`;
  const out = createWriteStream(temporary);
  out.write('\uFEFFID,NAME,EMAIL,PHONE,CITY,NOTE\r\n');
  for (let i = 1; i <= rows;) {
    let batch = '';
    for (const end = Math.min(rows, i + 9_999); i <= end; i++) batch += row(i) + '\r\n';
    if (!out.write(batch)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  renameSync(temporary, path);
}

/** A queue that takes chunks and drops them, after a tick (as a network call would yield). */
function stubQueue(counts: { chunks: number; queuedRows: number }): ChunkQueue {
  return {
    async sendChunks(chunks) {
      await new Promise((resolve) => setImmediate(resolve));
      counts.chunks += chunks.length;
      for (const chunk of chunks) counts.queuedRows += chunk.rows.length;
    },
  };
}

/** A job store that only counts, so that what is measured is the ingest, not a store held in memory. */
function countingJobStore(counts: { rejected: number }): JobStore {
  let summary: JobSummary | undefined;
  const unused = async (): Promise<never> => {
    throw new Error('not used by the ingest');
  };
  return {
    async createJob(job) {
      summary = { ...job, state: 'ingesting', total: 0, started: 0, rejected: 0, failed: 0, startedAt: '' };
      return 'created';
    },
    async recordRejected(_jobId, outcomes) {
      counts.rejected += outcomes.length;
    },
    async finishIngest(_jobId, totals) {
      summary = { ...summary!, ...totals, state: 'running' };
      return summary;
    },
    claimChunk: unused,
    completeChunk: unused,
    releaseChunk: unused,
    markDone: unused,
    takeReportLease: unused,
    releaseReportLease: unused,
    markEventPublished: unused,
    listJobs: unused,
    getJob: async () => summary,
    // eslint-disable-next-line require-yield
    outcomes: async function* () {
      throw new Error('not used by the ingest');
    },
  };
}

async function measure(rows: number, mode: Mode): Promise<Record<string, unknown>> {
  const bucket = new FolderObjectStore(BUCKET_DIR);
  const path = bucket.pathOf(keyOf(rows));
  const began = performance.now();
  const cpuBefore = process.cpuUsage();
  let detail: Record<string, unknown>;
  if (mode === 'parse') {
    let records = 0;
    for await (const batch of csvRecordBatches(decodeUtf8(createReadStream(path)))) records += batch.length;
    detail = { records };
  } else {
    const counts = { chunks: 0, queuedRows: 0, rejected: 0 };
    const result = await ingestUpload(
      { jobs: countingJobStore(counts), queue: stubQueue(counts), bucket },
      { bucket: 'bench', key: keyOf(rows), etag: 'bench' },
    );
    if ('rejectedFile' in result) throw new Error(`file rejected: ${result.rejectedFile}`);
    if (result.total !== rows || counts.queuedRows + counts.rejected !== rows)
      throw new Error('rows went missing');
    detail = counts;
  }
  const seconds = (performance.now() - began) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  return {
    mode,
    rows,
    seconds: Number(seconds.toFixed(2)),
    rowsPerSecond: Math.round(rows / seconds),
    // CPU time too: on a shared, busy machine it varies much less than wall time.
    cpuSeconds: Number(cpuSeconds.toFixed(2)),
    rowsPerCpuSecond: Math.round(rows / cpuSeconds),
    peakRssMiB: Number((process.resourceUsage().maxRSS / 1024).toFixed(1)),
    fileMiB: Number((statSync(path).size / 2 ** 20).toFixed(1)),
    ...detail,
  };
}

async function main(argv: string[]): Promise<void> {
  const [first, second] = argv.filter((arg) => !arg.startsWith('--'));
  const rows = Number(first);
  const mode = (second ?? 'ingest') as Mode;
  if (!Number.isInteger(rows) || rows < 1 || (mode !== 'ingest' && mode !== 'parse')) {
    throw new Error('usage: tsx bench/ingest-memory.ts <rows> [ingest|parse]');
  }
  if (argv.includes('--measure')) {
    console.log(JSON.stringify(await measure(rows, mode)));
    return;
  }
  const path = join(BUCKET_DIR, keyOf(rows));
  if (!existsSync(path)) await generate(rows, path);
  // Measure in a fresh process: its peak RSS is the ingest's, not the generator's.
  const child = spawnSync(
    process.execPath,
    [...process.execArgv, fileURLToPath(import.meta.url), ...argv, '--measure'],
    {
      stdio: 'inherit',
    },
  );
  process.exitCode = child.status ?? 1;
}

await main(process.argv.slice(2));
