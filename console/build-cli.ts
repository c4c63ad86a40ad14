/**
 * `tsx console/build-cli.ts <dir>`: writes the built console (index.html template, console.js, console.css) into
 * <dir>. The console function's bundling runs it after esbuild (infra/constructs/operator-console.ts), so the
 * files sit next to the handler in its asset.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildConsole } from './build';

const dir = process.argv[2];
if (!dir) throw new Error('usage: tsx console/build-cli.ts <output folder>');
mkdirSync(dir, { recursive: true });
for (const [name, asset] of await buildConsole()) writeFileSync(join(dir, name), asset.body);
