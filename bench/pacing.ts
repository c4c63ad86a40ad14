/**
 * Pacing: DANAConnect calls per second the workers achieve against a sandbox that answers 429 above R calls per
 * second (latency 50 ms), against R. See ./children/pacing.ts. The in-memory limiter always; the DynamoDB one
 * against a moto_server started here (and stopped), when moto_server is installed.
 */
import { fileURLToPath } from 'node:url';
import { startMoto } from './lib/moto';
import { runChild, startServerChild } from './lib/proc';
import type { BenchOutcome, BenchRow } from './lib/result';
import { round } from './lib/stats';

export const PACING_RATE = 20;
export const PACING_LATENCY_MS = 50;
export const PACING_WORKERS = 8;
export const PACING_SECONDS = 10;
export const PACING_GOAL = 0.9;
const child = (name: string) => fileURLToPath(new URL(`children/${name}`, import.meta.url));

interface PacingRun {
  rate: number;
  elapsedMs: number;
  chunks: number;
  calls: { at: number; status: number | undefined; errorKind: string | undefined }[];
  results: { done: number; retried: number; reasons: Record<string, number> };
  job?: { started: number; failed: number; state: string };
}

/** Calls per second from the first to the last call start (n - 1 intervals). */
function achievedRate(calls: PacingRun['calls']): number {
  if (calls.length < 2) return 0;
  const times = calls.map((c) => c.at).sort((a, b) => a - b);
  return (times.length - 1) / ((times[times.length - 1]! - times[0]!) / 1000);
}

async function runOnce(
  limiter: 'memory' | 'dynamo',
  motoUrl?: string,
): Promise<{ row: BenchRow; details: unknown }> {
  const sandbox = await startServerChild(`pacing-${limiter}-sandbox`, child('sandbox.ts'), {
    BENCH_SANDBOX: JSON.stringify({
      rateLimitPerSecond: PACING_RATE,
      faults: { latencyMs: PACING_LATENCY_MS },
    }),
  });
  try {
    const { result } = await runChild<PacingRun>(`pacing-${limiter}`, child('pacing.ts'), {
      env: {
        BENCH_DANA_URL: sandbox.url,
        BENCH_RATE: String(PACING_RATE),
        BENCH_WORKERS: String(PACING_WORKERS),
        BENCH_SECONDS: String(PACING_SECONDS),
        BENCH_LIMITER: limiter,
        BENCH_MOTO_URL: motoUrl,
      },
      timeoutMs: 120_000,
    });
    // The hook reports when each call ended; its status is DANAConnect's answer.
    const answered = result.calls.filter((c) => c.status !== undefined);
    const throttled = answered.filter((c) => c.status === 429).length;
    // Calls DANAConnect accepted (2xx): a 429 is a call that did not count.
    const rate = achievedRate(answered.filter((c) => c.status! >= 200 && c.status! < 300));
    const ratio = Number((rate / PACING_RATE).toFixed(3));
    const complete = result.results.done === result.chunks && result.results.retried === 0;
    return {
      row: {
        what: `pacing, ${limiter} limiter (accepted calls/s; 429s)`,
        ours: `${round(rate, 2)}/s; ${throttled}×429`,
        floor: `R = ${PACING_RATE}/s`,
        ratio,
        goal: `≥ ${PACING_GOAL}× R, no 429`,
        met: ratio >= PACING_GOAL && throttled === 0 && complete,
      },
      details: {
        limiter,
        calls: result.calls.length,
        throttled,
        allCallsPerSecond: round(achievedRate(result.calls), 2),
        otherStatuses: [...new Set(answered.map((c) => c.status))],
        transportErrors: result.calls.filter((c) => c.status === undefined).map((c) => c.errorKind),
        elapsedSeconds: round(result.elapsedMs / 1000, 2),
        chunks: result.chunks,
        results: result.results,
        job: result.job,
      },
    };
  } finally {
    await sandbox.stop();
  }
}

export async function pacingBenchmark(): Promise<BenchOutcome> {
  const rows: BenchRow[] = [];
  const details: unknown[] = [];
  const notMeasured: string[] = [];
  const memory = await runOnce('memory');
  rows.push(memory.row);
  details.push(memory.details);
  let moto: Awaited<ReturnType<typeof startMoto>> | undefined;
  try {
    moto = await startMoto();
    const dynamo = await runOnce('dynamo', moto.url);
    rows.push(dynamo.row);
    details.push(dynamo.details);
  } catch (error) {
    notMeasured.push(`pacing with the DynamoDB limiter: ${(error as Error).message.split('\n')[0]}`);
  } finally {
    await moto?.stop();
  }
  return {
    rows,
    runs: `${PACING_WORKERS} concurrent worker loops, ${PACING_RATE * PACING_SECONDS} chunks of 10 rows (about ${PACING_SECONDS} s) per limiter, R = ${PACING_RATE}/s, sandbox latency ${PACING_LATENCY_MS} ms; rate = (accepted calls - 1) / (last - first accepted call)`,
    details,
    notMeasured,
  };
}
