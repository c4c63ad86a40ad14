/**
 * Node binaries other than the one running the harness, for measuring under the runtime Lambda runs
 * (nodejs24.x) as well as the project's Node 20. The npm package `node@<version>` ships the official binary;
 * it is installed once into bench/out/node-<version>/ (git-ignored) with npm, or taken from BENCH_NODE24.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { OUT_DIR } from './proc';

const run = promisify(execFile);

/** Pinned so that a figure names the Node it was measured with; Lambda's nodejs24.x tracks the 24 line. */
export const NODE24_VERSION = '24.21.0';

async function versionOf(binary: string): Promise<string> {
  const { stdout } = await run(binary, ['--version'], { timeout: 10_000 });
  return stdout.trim();
}

let node24: Promise<{ path: string; version: string }> | undefined;

/** The Node 24 binary: BENCH_NODE24 if set, else the pinned npm package, installed on first use. */
export function node24Binary(): Promise<{ path: string; version: string }> {
  node24 ??= (async () => {
    const fromEnv = process.env.BENCH_NODE24;
    if (fromEnv) return { path: fromEnv, version: await versionOf(fromEnv) };
    const prefix = join(OUT_DIR, `node-${NODE24_VERSION}`);
    const binary = join(prefix, 'node_modules', '.bin', 'node');
    if (!existsSync(binary)) {
      // From a folder of its own: inside the project, npm would resolve the package against the project's tree.
      mkdirSync(prefix, { recursive: true });
      const args = ['install', '--prefix', prefix, '--no-save', '--no-audit', '--no-fund'];
      await run('npm', [...args, `node@${NODE24_VERSION}`], {
        cwd: prefix,
        // npm as the user has it set up (registry, CA certificates): this installs a tool, it runs no benchmark.
        env: process.env,
        timeout: 300_000,
      });
    }
    const version = await versionOf(binary);
    if (!version.startsWith('v24.')) throw new Error(`${binary} is ${version}, not Node 24`);
    return { path: binary, version };
  })();
  return node24;
}
