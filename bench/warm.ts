/**
 * Warm per-request overhead: see ./children/warm.ts. Three runs, each with the sandbox in a process of its own:
 *
 * - start-data (a start route, the gateway's purpose) against a sandbox that answers after 20 ms, a realistic
 *   upstream: this is where the overhead matters to a caller, and where the goal is (p50 ≤ 1.01×);
 * - start-data and get-contact-data on loopback (0 ms): the overhead in absolute terms, reported. There the floor
 *   is a 0.3 ms call to an in-memory sandbox, so a ratio says little (see docs/BENCHMARKS.md).
 */
import { fileURLToPath } from 'node:url';
import { runChild, startServerChild } from './lib/proc';
import { ratioOf, type BenchOutcome, type BenchRow } from './lib/result';
import { percentile, round } from './lib/stats';

export const WARM_GOAL = 1.01;
export const WARM_LATENCY_MS = 20;
const child = (name: string) => fileURLToPath(new URL(`children/${name}`, import.meta.url));

interface WarmRun {
  route: string;
  ours: number[];
  floor: number[];
  warmup: number;
  blocks: number;
  perBlock: number;
}

interface Variant {
  route: 'start-data' | 'get-contact-data';
  latencyMs: number;
  size: { warmup: number; blocks: number; perBlock: number };
}

const VARIANTS: Variant[] = [
  { route: 'start-data', latencyMs: WARM_LATENCY_MS, size: { warmup: 50, blocks: 10, perBlock: 100 } },
  { route: 'start-data', latencyMs: 0, size: { warmup: 500, blocks: 20, perBlock: 200 } },
  { route: 'get-contact-data', latencyMs: 0, size: { warmup: 500, blocks: 20, perBlock: 200 } },
];

async function runVariant(v: Variant): Promise<WarmRun> {
  const name = `warm-${v.route}-${v.latencyMs}ms`;
  const faults = v.latencyMs > 0 ? { faults: { latencyMs: v.latencyMs } } : {};
  const sandbox = await startServerChild(`${name}-sandbox`, child('sandbox.ts'), {
    BENCH_SANDBOX: JSON.stringify(faults),
  });
  try {
    const { result } = await runChild<WarmRun>(name, child('warm.ts'), {
      env: {
        BENCH_DANA_URL: sandbox.url,
        BENCH_WARM_ROUTE: v.route,
        BENCH_WARM_WARMUP: String(v.size.warmup),
        BENCH_WARM_BLOCKS: String(v.size.blocks),
        BENCH_WARM_PER_BLOCK: String(v.size.perBlock),
      },
      timeoutMs: 300_000,
    });
    return result;
  } finally {
    await sandbox.stop();
  }
}

const p = (values: number[], q: number) => round(percentile(values, q), 3);

function rowsOf(v: Variant, r: WarmRun): BenchRow[] {
  const where = v.latencyMs > 0 ? `sandbox +${v.latencyMs} ms` : 'loopback 0 ms';
  const p50 = ratioOf(p(r.ours, 50), p(r.floor, 50));
  const goal = v.latencyMs > 0;
  return [
    {
      what: `warm p50 (ms), ${v.route}, ${where}`,
      ours: p(r.ours, 50),
      floor: p(r.floor, 50),
      ratio: p50,
      goal: goal ? `≤ ${WARM_GOAL}×` : 'report',
      ...(goal ? { met: p50 <= WARM_GOAL } : {}),
    },
    {
      what: `warm p99 (ms), ${v.route}, ${where}`,
      ours: p(r.ours, 99),
      floor: p(r.floor, 99),
      ratio: ratioOf(p(r.ours, 99), p(r.floor, 99)),
      goal: 'report',
    },
  ];
}

export async function warmBenchmark(): Promise<BenchOutcome> {
  const rows: BenchRow[] = [];
  const details: unknown[] = [];
  const runs: string[] = [];
  for (const v of VARIANTS) {
    const r = await runVariant(v);
    rows.push(...rowsOf(v, r));
    runs.push(
      `${v.route} at ${v.latencyMs} ms: ${r.warmup} warm-up calls each, ${r.blocks} alternating blocks of ${r.perBlock} (${r.ours.length} each way)`,
    );
    details.push({
      route: v.route,
      latencyMs: v.latencyMs,
      oursMs: { p50: p(r.ours, 50), p90: p(r.ours, 90), p99: p(r.ours, 99) },
      floorMs: { p50: p(r.floor, 50), p90: p(r.floor, 90), p99: p(r.floor, 99) },
      overheadP50Ms: round(p(r.ours, 50) - p(r.floor, 50), 3),
    });
  }
  return { rows, runs: `${runs.join('; ')}; p50/p99 of all`, details };
}
