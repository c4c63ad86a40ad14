/**
 * `npm run soak`: "never twice, never lost" against an AWS and a DANAConnect as harsh as the real ones. The real
 * ingest, async API and process-chunk handler run on moto_server behind the fault proxy, against the sandbox's
 * fault mix, with worker processes killed mid-call; at the end every row's outcome is checked against what
 * DANAConnect saw (bench/soak/run.ts, docs/SOAK.md). Prints the figures, records them as the `soak` entry of
 * bench/results.json, and exits non-zero when a criterion fails.
 *
 *   npm run soak                              100,000 rows (see docs/SOAK.md for what fits in 10 minutes)
 *   npm run soak -- --rows 20000 --seed 7     fewer rows, another seed
 *   npm run soak -- --no-record               do not touch bench/results.json
 */
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { startMoto } from './lib/moto';
import { BENCH_DIR, OUT_DIR, stopAll } from './lib/proc';
import { DEFAULT_OPTIONS, type SoakOptions } from './soak/config';
import { formatResult, recordResult } from './soak/result';
import { runSoak } from './soak/run';

const NUMERIC: Record<string, keyof SoakOptions> = {
  '--rows': 'rows',
  '--seed': 'seed',
  '--rate': 'rate',
  '--wave-rows': 'waveRows',
  '--processes': 'processes',
  '--kill-every-ms': 'killEveryMs',
};

function parseArgs(argv: string[]): { options: SoakOptions; record: boolean } {
  const options = { ...DEFAULT_OPTIONS };
  let record = true;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--no-record') {
      record = false;
      continue;
    }
    const key = NUMERIC[arg];
    const value = Number(argv[++i]);
    if (!key || !Number.isFinite(value) || value < 0) {
      throw new Error(`usage: npm run soak -- [${Object.keys(NUMERIC).join(' N] [')} N] [--no-record]`);
    }
    (options as Record<string, unknown>)[key] = value;
  }
  return { options, record };
}

function machine() {
  return {
    nproc: Number(execFileSync('nproc', { encoding: 'utf8' }).trim()),
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    memoryGiB: Number((totalmem() / 2 ** 30).toFixed(1)),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
  };
}

async function main(): Promise<void> {
  const { options, record } = parseArgs(process.argv.slice(2));
  const logDir = join(OUT_DIR, 'soak');
  rmSync(logDir, { recursive: true, force: true });
  const moto = await startMoto();
  console.error(`soak: ${options.rows} rows, seed ${options.seed}, R = ${options.rate}; logs in ${logDir}`);
  try {
    const result = await runSoak(options, { motoUrl: moto.url, logDir, log: (line) => console.error(line) });
    console.log(formatResult(result));
    if (record) {
      const command = `npm run soak${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
      recordResult(join(BENCH_DIR, 'results.json'), result, command, machine());
      console.error('recorded the soak entry of bench/results.json');
    }
    if (!result.ok) process.exitCode = 1;
  } finally {
    await moto.stop();
  }
}

try {
  await main();
} finally {
  await stopAll();
}
