/**
 * Ingest speed and memory, through the ingest engineer's script (./ingest-memory.ts), each measurement in a fresh
 * process: speed is rows/s of the real ingest (parse, validate, chunk, stub queue) of a generated 1,000,000-row
 * CSV against parsing the same file alone with the same CSV parser; memory is the ingest's peak RSS at 1,000,000
 * rows against 100,000 rows. The runs are interleaved and shared by both benchmarks (made once per `npm run bench`).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { baseEnv, PROJECT_ROOT } from './lib/proc';
import { ratioOf, type BenchOutcome } from './lib/result';
import { median, round } from './lib/stats';

const run = promisify(execFile);

export const INGEST_RUNS = 3;
export const SPEED_GOAL = 0.5;
export const MEMORY_GOAL = 1.2;
const BIG = 1_000_000;
const SMALL = 100_000;

interface IngestRun {
  mode: 'ingest' | 'parse';
  rows: number;
  seconds: number;
  rowsPerSecond: number;
  peakRssMiB: number;
  fileMiB: number;
}

async function measure(rows: number, mode: 'ingest' | 'parse'): Promise<IngestRun> {
  const { stdout } = await run(
    process.execPath,
    ['--import', 'tsx', 'bench/ingest-memory.ts', String(rows), mode],
    {
      cwd: PROJECT_ROOT,
      env: baseEnv(),
      timeout: 300_000,
      maxBuffer: 16 * 1024 * 1024,
    },
  );
  const line = stdout
    .trim()
    .split('\n')
    .reverse()
    .find((l) => l.startsWith('{'));
  if (!line) throw new Error(`bench/ingest-memory.ts printed no result for ${rows} ${mode}`);
  const result = JSON.parse(line) as IngestRun;
  if (result.rows !== rows || result.mode !== mode) throw new Error(`unexpected result ${line}`);
  return result;
}

let measured: Promise<Record<string, IngestRun[]>> | undefined;

function measureAll(): Promise<Record<string, IngestRun[]>> {
  measured ??= (async () => {
    const runs: Record<string, IngestRun[]> = { bigIngest: [], bigParse: [], smallIngest: [] };
    // The first call of each size generates its file (not timed: the script measures in a fresh child).
    for (let i = 0; i < INGEST_RUNS; i++) {
      runs.bigIngest!.push(await measure(BIG, 'ingest'));
      runs.bigParse!.push(await measure(BIG, 'parse'));
      runs.smallIngest!.push(await measure(SMALL, 'ingest'));
    }
    return runs;
  })();
  return measured;
}

const RUNS_TEXT = `${INGEST_RUNS} fresh processes per figure, interleaved; median`;

export async function ingestSpeedBenchmark(): Promise<BenchOutcome> {
  const runs = await measureAll();
  const ours = median(runs.bigIngest!.map((r) => r.rowsPerSecond));
  const floor = median(runs.bigParse!.map((r) => r.rowsPerSecond));
  const ratio = ratioOf(ours, floor);
  return {
    rows: [
      {
        what: 'ingest speed, 1M-row CSV (rows/s)',
        ours: Math.round(ours),
        floor: Math.round(floor),
        ratio,
        goal: `≥ ${SPEED_GOAL}×`,
        met: ratio >= SPEED_GOAL,
      },
    ],
    runs: `${RUNS_TEXT} (file ${runs.bigIngest![0]!.fileMiB} MiB)`,
    details: { ingest: runs.bigIngest, parseOnly: runs.bigParse },
  };
}

export async function ingestMemoryBenchmark(): Promise<BenchOutcome> {
  const runs = await measureAll();
  const ours = median(runs.bigIngest!.map((r) => r.peakRssMiB));
  const floor = median(runs.smallIngest!.map((r) => r.peakRssMiB));
  const ratio = ratioOf(ours, floor);
  return {
    rows: [
      {
        what: 'ingest peak RSS (MiB), 1M vs 100k rows',
        ours: round(ours, 1),
        floor: round(floor, 1),
        ratio,
        goal: `≤ ${MEMORY_GOAL}×`,
        met: ratio <= MEMORY_GOAL,
      },
    ],
    runs: RUNS_TEXT,
    details: { at1M: runs.bigIngest, at100k: runs.smallIngest },
  };
}
