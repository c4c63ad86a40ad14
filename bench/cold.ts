/**
 * Cold init: the time to import each function's bundle in a fresh Node process (what Lambda's init phase does
 * before the first event), against the same for ITS floor (the SDK clients it uses, one command each: see
 * ./bundle.ts), under Node 20 (the project's) and Node 24 (what Lambda runs, nodejs24.x). The single-client
 * floor is measured too, for information. Runs are interleaved (every bundle under every Node once per round, in
 * a shuffled order) so that the machine's noise falls on all of them alike; figures are medians of the rounds,
 * and the ratio is on CPU time.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { buildBundles, type BuiltBundle, type Bundles } from './bundle';
import { node24Binary } from './lib/node-bin';
import { baseEnv, PROJECT_ROOT } from './lib/proc';
import { ratioOf, type BenchOutcome, type BenchRow } from './lib/result';
import { median, percentile, round } from './lib/stats';

const run = promisify(execFile);
const IMPORT_TIME = fileURLToPath(new URL('children/import-time.mjs', import.meta.url));

export const COLD_GOAL = 1.1;
export const COLD_ROUNDS = 31;

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

interface Runtime {
  label: string;
  path: string;
  version: string;
}

interface ImportTime {
  importMs: number;
  importCpuMs: number;
}

async function importTime(node: Runtime, bundle: BuiltBundle): Promise<ImportTime> {
  const flags = bundle.nodeOptions.split(/\s+/).filter(Boolean);
  const { stdout } = await run(node.path, [...flags, IMPORT_TIME, bundle.file], {
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

type Samples = Map<string, { wall: number[]; cpu: number[] }>;
const key = (node: Runtime, bundle: BuiltBundle) => `${node.label}:${bundle.name}`;

/** Every (Node, bundle) pair once per round, shuffled; one unmeasured import of each first (file cache). */
async function measure(runtimes: Runtime[], bundles: BuiltBundle[]): Promise<Samples> {
  const pairs = runtimes.flatMap((node) => bundles.map((bundle) => ({ node, bundle })));
  const samples: Samples = new Map(pairs.map((p) => [key(p.node, p.bundle), { wall: [], cpu: [] }]));
  for (const { node, bundle } of pairs) await importTime(node, bundle);
  for (let r = 0; r < COLD_ROUNDS; r++) {
    for (const { node, bundle } of shuffled(pairs)) {
      const time = await importTime(node, bundle);
      samples.get(key(node, bundle))!.wall.push(time.importMs);
      samples.get(key(node, bundle))!.cpu.push(time.importCpuMs);
    }
  }
  return samples;
}

function rowsFor(node: Runtime, bundles: Bundles, samples: Samples): BenchRow[] {
  const cpu = (b: BuiltBundle) => median(samples.get(key(node, b))!.cpu);
  const wall = (b: BuiltBundle) => median(samples.get(key(node, b))!.wall);
  const cell = (b: BuiltBundle) => `${round(cpu(b), 1)}; wall ${round(wall(b), 1)}`;
  return bundles.functions.flatMap((fn) => {
    const own = bundles.floorOf.get(fn.name)!;
    const ratio = ratioOf(cpu(fn), cpu(own));
    const rows: BenchRow[] = [
      {
        what: `cold init ${fn.name}, ${node.label}, vs its floor (CPU ms; wall ms)`,
        ours: cell(fn),
        floor: cell(own),
        ratio,
        goal: `≤ ${COLD_GOAL}×`,
        met: ratio <= COLD_GOAL,
      },
    ];
    // The single-client floor, for information, under the Node Lambda runs only (the table is long enough).
    if (node.label === 'Node 24') {
      rows.push({
        what: `cold init ${fn.name}, ${node.label}, vs the single-client floor`,
        ours: cell(fn),
        floor: cell(bundles.floor),
        ratio: ratioOf(cpu(fn), cpu(bundles.floor)),
        goal: '(information)',
      });
    }
    return rows;
  });
}

export async function coldBenchmark(): Promise<BenchOutcome> {
  const bundles = await buildBundles();
  const runtimes: Runtime[] = [{ label: 'Node 20', path: process.execPath, version: process.version }];
  const notMeasured: string[] = [];
  try {
    runtimes.push({ label: 'Node 24', ...(await node24Binary()) });
  } catch (error) {
    notMeasured.push(`cold init under Node 24: ${(error as Error).message.split('\n')[0]}`);
  }
  const all = [bundles.floor, ...new Set(bundles.floorOf.values()), ...bundles.functions].filter(
    (b, i, list) => list.indexOf(b) === i,
  );
  const samples = await measure(runtimes, all);
  const details = Object.fromEntries(
    [...samples].map(([name, { wall, cpu }]) => [
      name,
      {
        medianMs: round(median(wall), 2),
        p10Ms: round(percentile(wall, 10), 2),
        p90Ms: round(percentile(wall, 90), 2),
        medianCpuMs: round(median(cpu), 2),
      },
    ]),
  );
  return {
    rows: runtimes.flatMap((node) => rowsFor(node, bundles, samples)),
    runs: `${COLD_ROUNDS} fresh processes per bundle and Node (${runtimes.map((r) => r.version).join(', ')}), interleaved; median CPU time of the import (ratio) and median wall time; NODE_OPTIONS as in the template (${bundles.floor.nodeOptions || 'none'})`,
    details,
    notMeasured,
  };
}
