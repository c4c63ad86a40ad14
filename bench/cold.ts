/**
 * Cold init: the time to import each function's bundle in a fresh Node process (what Lambda's init phase does
 * before the first event), against the same for the floor bundle. The bundles are those of the real synth
 * (./bundle.ts). Runs are interleaved (every bundle once per round, in a shuffled order) so that the machine's
 * noise falls on all of them alike; the figures are medians of the rounds, and the ratio is on CPU time.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { BATCH_FUNCTIONS, buildBundles, type BuiltBundle } from './bundle';
import { baseEnv, PROJECT_ROOT } from './lib/proc';
import { ratioOf, type BenchOutcome, type BenchRow } from './lib/result';
import { median, percentile, round } from './lib/stats';

const run = promisify(execFile);
const IMPORT_TIME = fileURLToPath(new URL('children/import-time.mjs', import.meta.url));

export const COLD_GOAL = 1.2;
export const COLD_ROUNDS = 41;

/** What Lambda gives a function of the stack: its region, Powertools settings and the DANAConnect variables. */
const LAMBDA_ENV = {
  AWS_LAMBDA_FUNCTION_NAME: 'bench',
  AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '512',
  POWERTOOLS_SERVICE_NAME: 'dana-gateway-bench',
  POWERTOOLS_METRICS_NAMESPACE: 'DanaGateway',
  POWERTOOLS_LOG_LEVEL: 'INFO',
  DANA_BASE_URL: 'http://127.0.0.1:9',
  DANA_SECRET_ID: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:bench-AbCdEf',
};

interface ImportTime {
  importMs: number;
  importCpuMs: number;
}

async function importTime(bundle: BuiltBundle): Promise<ImportTime> {
  const flags = bundle.nodeOptions.split(/\s+/).filter(Boolean);
  const { stdout } = await run(process.execPath, [...flags, IMPORT_TIME, bundle.file], {
    cwd: PROJECT_ROOT,
    env: baseEnv(LAMBDA_ENV),
    timeout: 30_000,
  });
  return JSON.parse(stdout) as ImportTime;
}

function shuffled<T>(items: T[]): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy;
}

export async function coldBenchmark(): Promise<BenchOutcome> {
  const { functions, floor, batchFloor } = await buildBundles();
  const all = [floor, ...(batchFloor ? [batchFloor] : []), ...functions];
  const samples = new Map<string, number[]>(all.map((b) => [b.name, []]));
  const cpuSamples = new Map<string, number[]>(all.map((b) => [b.name, []]));
  for (const bundle of all) await importTime(bundle); // warms the file cache, not measured
  for (let r = 0; r < COLD_ROUNDS; r++) {
    for (const bundle of shuffled(all)) {
      const time = await importTime(bundle);
      samples.get(bundle.name)!.push(time.importMs);
      cpuSamples.get(bundle.name)!.push(time.importCpuMs);
    }
  }
  const floorCpu = median(cpuSamples.get('floor')!);
  const floorMedian = median(samples.get('floor')!);
  // The ratio is taken on CPU time: on a shared machine the wall time of a 50 ms import swings by 3× with other
  // processes' load (see the p10/p90 in the details); the CPU time the import needs does not.
  const rows: BenchRow[] = functions.map((fn) => {
    const cpu = median(cpuSamples.get(fn.name)!);
    const ratio = ratioOf(cpu, floorCpu);
    return {
      what: `cold init ${fn.name} (CPU ms; wall ms)`,
      ours: `${round(cpu, 1)}; wall ${round(median(samples.get(fn.name)!), 1)}`,
      floor: `${round(floorCpu, 1)}; wall ${round(floorMedian, 1)}`,
      ratio,
      goal: `≤ ${COLD_GOAL}×`,
      met: ratio <= COLD_GOAL,
    };
  });
  if (batchFloor) {
    const batchCpu = median(cpuSamples.get(batchFloor.name)!);
    for (const fn of functions.filter((f) => BATCH_FUNCTIONS.has(f.name))) {
      const cpu = median(cpuSamples.get(fn.name)!);
      rows.push({
        what: `cold init ${fn.name} vs the batch floor (CPU ms; wall ms)`,
        ours: `${round(cpu, 1)}; wall ${round(median(samples.get(fn.name)!), 1)}`,
        floor: `${round(batchCpu, 1)}; wall ${round(median(samples.get(batchFloor.name)!), 1)}`,
        ratio: ratioOf(cpu, batchCpu),
        goal: '(information)',
      });
    }
  }
  const details = Object.fromEntries(
    [...samples].map(([name, values]) => {
      const cpu = median(cpuSamples.get(name)!);
      return [
        name,
        {
          medianMs: round(median(values), 2),
          p10Ms: round(percentile(values, 10), 2),
          p90Ms: round(percentile(values, 90), 2),
          medianCpuMs: round(cpu, 2),
          cpuRatio: ratioOf(cpu, floorCpu),
        },
      ];
    }),
  );
  return {
    rows,
    runs: `${COLD_ROUNDS} fresh processes per bundle, interleaved; median CPU time of the import (ratio) and median wall time; NODE_OPTIONS as in the template (${floor.nodeOptions || 'none'})`,
    details,
  };
}
