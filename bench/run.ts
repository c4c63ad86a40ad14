/**
 * `npm run bench`: runs every benchmark of issue 6 on this machine, prints one table (what | ours | floor |
 * ratio | goal | met?) and writes bench/results.json. Each benchmark is isolated: one that fails is reported as
 * `not measured: <why>` and the others go on; every server a benchmark starts is stopped.
 *
 *   npm run bench                            all of them
 *   npm run bench -- --only bundle,cold      a subset (names: see BENCHMARKS below)
 *   npm run bench -- --write-docs            also rewrites the results section of docs/BENCHMARKS.md
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { BENCH_DIR, PROJECT_ROOT, stopAll } from './lib/proc';
import type { BenchOutcome, BenchRow } from './lib/result';
import { renderTable } from './lib/table';

interface Entry {
  name: string;
  title: string;
  /** Loaded when it runs, so that a benchmark whose product code is missing cannot break the others. */
  load: () => Promise<() => Promise<BenchOutcome>>;
}

const BENCHMARKS: Entry[] = [
  { name: 'bundle', title: 'Bundle size', load: async () => (await import('./bundle')).bundleBenchmark },
  { name: 'cold', title: 'Cold init', load: async () => (await import('./cold')).coldBenchmark },
  {
    name: 'warm',
    title: 'Warm per-request overhead',
    load: async () => (await import('./warm')).warmBenchmark,
  },
  {
    name: 'ingest',
    title: 'Ingest speed',
    load: async () => (await import('./ingest')).ingestSpeedBenchmark,
  },
  {
    name: 'memory',
    title: 'Ingest memory',
    load: async () => (await import('./ingest')).ingestMemoryBenchmark,
  },
  { name: 'pacing', title: 'Pacing', load: async () => (await import('./pacing')).pacingBenchmark },
  {
    name: 'load',
    title: 'Local gateway under load',
    load: async () => (await import('./load')).loadBenchmark,
  },
];

function parseArgs(argv: string[]): { only: Set<string> | undefined; writeDocs: boolean } {
  let only: Set<string> | undefined;
  let writeDocs = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--write-docs') writeDocs = true;
    else if (arg === '--only' || arg.startsWith('--only=')) {
      const value = arg === '--only' ? argv[++i] : arg.slice('--only='.length);
      only = new Set((value ?? '').split(',').filter(Boolean));
      const unknown = [...only].filter((n) => !BENCHMARKS.some((b) => b.name === n));
      if (unknown.length > 0 || only.size === 0) {
        throw new Error(
          `--only takes a comma-separated list of: ${BENCHMARKS.map((b) => b.name).join(', ')}`,
        );
      }
    } else throw new Error(`unknown argument ${arg} (use --only a,b and/or --write-docs)`);
  }
  return { only, writeDocs };
}

export function machine() {
  return {
    nproc: Number(execFileSync('nproc', { encoding: 'utf8' }).trim()),
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    memoryGiB: Number((totalmem() / 2 ** 30).toFixed(1)),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
  };
}

interface Report {
  name: string;
  title: string;
  seconds: number;
  outcome?: BenchOutcome;
  notMeasured?: string;
}

async function main(): Promise<void> {
  const { only, writeDocs } = parseArgs(process.argv.slice(2));
  const selected = BENCHMARKS.filter((b) => !only || only.has(b.name));
  const reports: Report[] = [];
  const began = Date.now();
  for (const bench of selected) {
    const start = performance.now();
    console.error(`▶ ${bench.name}: ${bench.title}`);
    try {
      const outcome = await (await bench.load())();
      reports.push({
        name: bench.name,
        title: bench.title,
        seconds: (performance.now() - start) / 1000,
        outcome,
      });
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      reports.push({
        name: bench.name,
        title: bench.title,
        seconds: (performance.now() - start) / 1000,
        notMeasured: why,
      });
      console.error(`  not measured: ${why}`);
    } finally {
      await stopAll();
    }
    console.error(`  (${((performance.now() - start) / 1000).toFixed(1)} s)`);
  }

  const rows: BenchRow[] = reports.flatMap((r) =>
    r.outcome
      ? [
          ...r.outcome.rows,
          ...(r.outcome.notMeasured ?? []).map((why) => ({
            what: `${r.name}: not measured`,
            ours: '—',
            floor: '—',
            goal: why,
          })),
        ]
      : [{ what: `${r.name}: not measured`, ours: '—', floor: '—', goal: r.notMeasured!.split('\n')[0]! }],
  );
  const table = renderTable(rows);
  console.log(table);
  const runs = reports
    .map(
      (r) =>
        `- ${r.title}: ${r.outcome ? r.outcome.runs : `not measured (${r.notMeasured!.split('\n')[0]})`}`,
    )
    .join('\n');
  const notes = reports.flatMap((r) => (r.outcome?.markdown ? [r.outcome.markdown] : [])).join('\n\n');
  console.log(`\nRuns:\n${runs}`);
  if (notes) console.log(`\n${notes}`);

  const results = {
    date: new Date(began).toISOString(),
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    machine: machine(),
    totalSeconds: Number(((Date.now() - began) / 1000).toFixed(1)),
    benchmarks: reports,
  };
  writeFileSync(join(BENCH_DIR, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  console.error(`wrote bench/results.json (${results.totalSeconds} s in all)`);
  if (writeDocs) writeDocsSection(table, runs, notes, results.machine, results.command, results.date);
}

/** Replaces what is between the results markers of docs/BENCHMARKS.md. */
function writeDocsSection(
  table: string,
  runs: string,
  notes: string,
  m: ReturnType<typeof machine>,
  command: string,
  date: string,
): void {
  const file = join(PROJECT_ROOT, 'docs', 'BENCHMARKS.md');
  const text = readFileSync(file, 'utf8');
  const begin = '<!-- bench:results:begin -->';
  const end = '<!-- bench:results:end -->';
  const from = text.indexOf(begin);
  const to = text.indexOf(end);
  if (from < 0 || to < from) throw new Error(`docs/BENCHMARKS.md has no ${begin} … ${end} section`);
  const section = [
    begin,
    `Measured ${date.slice(0, 10)} with \`${command}\` on ${m.nproc} × ${m.cpu} (nproc ${m.nproc}), ${m.memoryGiB} GiB, Node ${m.node} (${m.platform}).`,
    '',
    table,
    '',
    'Runs:',
    '',
    runs,
    ...(notes ? ['', notes] : []),
    end,
  ].join('\n');
  writeFileSync(file, text.slice(0, from) + section + text.slice(to + end.length));
  console.error('updated docs/BENCHMARKS.md');
}

try {
  await main();
} finally {
  await stopAll();
}
