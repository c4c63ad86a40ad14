/**
 * `npm run bench`: runs every benchmark of issue 6 on this machine, prints one table (what | ours | floor |
 * ratio | goal | met?) and writes bench/results.json. Each benchmark is isolated: one that fails is reported as
 * `not measured: <why>` and the others go on; every server a benchmark starts is stopped.
 *
 *   npm run bench                            all of them
 *   npm run bench -- --only bundle,cold      a subset (names: see BENCHMARKS below)
 *   npm run bench -- --write-docs            also rewrites the results section of docs/BENCHMARKS.md
 *   npm run bench -- --only cost --dry       prints the table, writes nothing (trying a benchmark out)
 *
 * bench/results.json is merged, not replaced: it is read again right before it is written, the entries of the
 * benchmarks that ran replace their namesakes (each entry says when it was measured), and every other entry and
 * top-level key (e.g. another benchmark's `soak`) is kept as it was.
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
  {
    name: 'console-bundle',
    title: 'Console page weight',
    load: async () => (await import('./console-bundle')).consoleBundleBenchmark,
  },
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
    name: 'cost',
    title: 'Cost per million contacts',
    load: async () => (await import('./cost')).costBenchmark,
  },
  {
    name: 'load',
    title: 'Local gateway under load',
    load: async () => (await import('./load')).loadBenchmark,
  },
];

interface Args {
  only: Set<string> | undefined;
  writeDocs: boolean;
  dry: boolean;
}

function parseArgs(argv: string[]): Args {
  let only: Set<string> | undefined;
  let writeDocs = false;
  let dry = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--write-docs') writeDocs = true;
    else if (arg === '--dry') dry = true;
    else if (arg === '--only' || arg.startsWith('--only=')) {
      const value = arg === '--only' ? argv[++i] : arg.slice('--only='.length);
      only = new Set((value ?? '').split(',').filter(Boolean));
      const unknown = [...only].filter((n) => !BENCHMARKS.some((b) => b.name === n));
      if (unknown.length > 0 || only.size === 0) {
        throw new Error(
          `--only takes a comma-separated list of: ${BENCHMARKS.map((b) => b.name).join(', ')}`,
        );
      }
    } else throw new Error(`unknown argument ${arg} (use --only a,b, --write-docs, --dry)`);
  }
  if (dry && writeDocs) throw new Error('--dry writes nothing: leave out --write-docs');
  return { only, writeDocs, dry };
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
  /** When this entry was measured (entries of earlier runs are kept: see mergeResults). */
  measuredAt?: string;
  command?: string;
  seconds: number;
  outcome?: BenchOutcome;
  notMeasured?: string;
}

async function runSelected(selected: Entry[]): Promise<Report[]> {
  const reports: Report[] = [];
  for (const bench of selected) {
    const start = performance.now();
    console.error(`▶ ${bench.name}: ${bench.title}`);
    const seconds = () => (performance.now() - start) / 1000;
    try {
      const outcome = await (await bench.load())();
      reports.push({ name: bench.name, title: bench.title, seconds: seconds(), outcome });
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      reports.push({ name: bench.name, title: bench.title, seconds: seconds(), notMeasured: why });
      console.error(`  not measured: ${why}`);
    } finally {
      await stopAll();
    }
    console.error(`  (${seconds().toFixed(1)} s)`);
  }
  return reports;
}

/** The table, the runs list and the notes of some reports (`dated`: each run line says when it was measured). */
function render(reports: Report[], dated = false): { table: string; runs: string; notes: string } {
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
  const when = (r: Report) => (dated && r.measuredAt ? ` (measured ${r.measuredAt.slice(0, 10)})` : '');
  const runs = reports
    .map(
      (r) =>
        `- ${r.title}${when(r)}: ${r.outcome ? r.outcome.runs : `not measured (${r.notMeasured!.split('\n')[0]})`}`,
    )
    .join('\n');
  const notes = reports.flatMap((r) => (r.outcome?.markdown ? [r.outcome.markdown] : [])).join('\n\n');
  return { table: renderTable(rows), runs, notes };
}

async function main(): Promise<void> {
  const { only, writeDocs, dry } = parseArgs(process.argv.slice(2));
  const began = Date.now();
  const reports = await runSelected(BENCHMARKS.filter((b) => !only || only.has(b.name)));
  const { table, runs, notes } = render(reports);
  console.log(table);
  console.log(`\nRuns:\n${runs}`);
  if (notes) console.log(`\n${notes}`);
  if (dry) return;
  const date = new Date(began).toISOString();
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  const stamped = reports.map((r) => ({ ...r, measuredAt: date, command }));
  const totalSeconds = Number(((Date.now() - began) / 1000).toFixed(1));
  const merged = mergeResults({ date, command, machine: machine(), totalSeconds }, stamped);
  console.error(`wrote bench/results.json (${totalSeconds} s in all)`);
  // The docs show every benchmark in the file, each with the date it was measured, not only this run's.
  const shown = merged.filter((r) => r.outcome !== undefined || typeof r.notMeasured === 'string');
  if (writeDocs) writeDocsSection(render(shown, true), machine(), command, date);
}

/**
 * Writes this run into bench/results.json, read again right before: the top-level run fields describe the latest
 * run, its benchmarks replace their namesakes, and everything else in the file stays.
 */
function mergeResults(run: Record<string, unknown>, reports: Report[]): Report[] {
  const file = join(BENCH_DIR, 'results.json');
  let previous: Record<string, unknown> = {};
  try {
    previous = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch {
    // No file yet, or one that is not JSON: start afresh (git has the old one).
  }
  // Entries of earlier runs keep the date of the run that measured them.
  const kept = (Array.isArray(previous.benchmarks) ? (previous.benchmarks as Report[]) : []).map((r) => ({
    ...r,
    measuredAt: r.measuredAt ?? (typeof previous.date === 'string' ? previous.date : undefined),
  }));
  const ran = new Set(reports.map((r) => r.name));
  const benchmarks = [...kept.filter((r) => !ran.has(r.name)), ...reports];
  const order = (r: Report) => {
    const at = BENCHMARKS.findIndex((b) => b.name === r.name);
    return at < 0 ? BENCHMARKS.length : at;
  };
  benchmarks.sort((a, b) => order(a) - order(b));
  writeFileSync(file, `${JSON.stringify({ ...previous, ...run, benchmarks }, null, 2)}\n`);
  return benchmarks;
}

/** Replaces what is between the results markers of docs/BENCHMARKS.md. */
function writeDocsSection(
  { table, runs, notes }: { table: string; runs: string; notes: string },
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
    `Last run ${date.slice(0, 10)} with \`${command}\` on ${m.nproc} × ${m.cpu} (nproc ${m.nproc}), ${m.memoryGiB} GiB, Node ${m.node} (${m.platform}).`,
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
