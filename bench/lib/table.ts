/** The results table, as markdown (readable in a terminal and pasted as is into docs/BENCHMARKS.md). */
import type { BenchRow } from './result';

const cell = (value: unknown) => String(value ?? '').replace(/\|/g, '\\|');

export function renderTable(rows: BenchRow[]): string {
  const header = ['what', 'ours', 'floor', 'ratio', 'goal', 'met?'];
  const body = rows.map((r) => [
    r.what,
    r.ours,
    r.floor,
    r.ratio === undefined ? '' : `${r.ratio}×`,
    r.goal,
    r.met === undefined ? '' : r.met ? 'yes' : 'NO',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => cell(row[i]).length)));
  const line = (cells: unknown[]) => `| ${cells.map((c, i) => cell(c).padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
}
