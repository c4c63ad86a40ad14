/**
 * The operator console's weight: everything the page loads (index.html, console.js, console.css), built by the
 * same esbuild build the local gateway serves (console/build.ts), measured minified and gzip-compressed (level 9,
 * as a CDN or API Gateway compression would serve it) against the budget of 60 KiB gzip for the script
 * and styles together. The largest inputs of the script come from esbuild's metafile.
 */
import { gzipSync } from 'node:zlib';
import { buildConsole } from '../console/build';
import type { BenchOutcome, BenchRow } from './lib/result';

export const CONSOLE_BUDGET_GZIP_BYTES = 60 * 1024;

export async function consoleBundleBenchmark(): Promise<BenchOutcome> {
  const assets = await buildConsole({ minify: true });
  const sizes = [...assets].map(([name, asset]) => ({
    name,
    bytes: asset.body.length,
    gzip: gzipSync(asset.body, { level: 9 }).length,
  }));
  const scriptAndStyles = sizes.filter((s) => s.name !== 'index.html').reduce((sum, s) => sum + s.gzip, 0);
  const rows: BenchRow[] = sizes.map((s) => ({
    what: `console ${s.name} (bytes min / gzip)`,
    ours: `${s.bytes} / ${s.gzip}`,
    floor: '—',
    goal: 'informational',
  }));
  rows.push({
    what: 'console script + styles (gzip bytes)',
    ours: scriptAndStyles,
    floor: CONSOLE_BUDGET_GZIP_BYTES,
    ratio: Number((scriptAndStyles / CONSOLE_BUDGET_GZIP_BYTES).toFixed(3)),
    goal: '≤ 60 KiB gzip',
    met: scriptAndStyles <= CONSOLE_BUDGET_GZIP_BYTES,
  });
  return {
    rows,
    runs: '1 build (sizes are deterministic)',
    details: { sizes, budget: CONSOLE_BUDGET_GZIP_BYTES },
  };
}
