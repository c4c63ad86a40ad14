/** Warm per-request overhead: see ./children/warm.ts. The sandbox runs in a process of its own. */
import { fileURLToPath } from 'node:url';
import { runChild, startServerChild } from './lib/proc';
import { ratioOf, type BenchOutcome } from './lib/result';
import { percentile, round } from './lib/stats';

export const WARM_GOAL = 1.2;
const child = (name: string) => fileURLToPath(new URL(`children/${name}`, import.meta.url));

export async function warmBenchmark(): Promise<BenchOutcome> {
  const sandbox = await startServerChild('warm-sandbox', child('sandbox.ts'));
  try {
    const { result } = await runChild<{
      ours: number[];
      floor: number[];
      warmup: number;
      blocks: number;
      perBlock: number;
    }>('warm', child('warm.ts'), { env: { BENCH_DANA_URL: sandbox.url }, timeoutMs: 180_000 });
    const p = (values: number[], q: number) => round(percentile(values, q), 3);
    const p50 = ratioOf(p(result.ours, 50), p(result.floor, 50));
    return {
      rows: [
        {
          what: 'warm request p50 (ms), get-contact-data',
          ours: p(result.ours, 50),
          floor: p(result.floor, 50),
          ratio: p50,
          goal: `≤ ${WARM_GOAL}×`,
          met: p50 <= WARM_GOAL,
        },
        {
          what: 'warm request p99 (ms), get-contact-data',
          ours: p(result.ours, 99),
          floor: p(result.floor, 99),
          ratio: ratioOf(p(result.ours, 99), p(result.floor, 99)),
          goal: 'report',
        },
      ],
      runs: `${result.warmup} warm-up calls each, then ${result.blocks} alternating blocks of ${result.perBlock} (${result.ours.length} requests each way); p50/p99 of all`,
      details: {
        oursMs: { p50: p(result.ours, 50), p90: p(result.ours, 90), p99: p(result.ours, 99) },
        floorMs: { p50: p(result.floor, 50), p90: p(result.floor, 90), p99: p(result.floor, 99) },
        overheadP50Ms: round(p(result.ours, 50) - p(result.floor, 50), 3),
      },
    };
  } finally {
    await sandbox.stop();
  }
}
