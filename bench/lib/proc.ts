/**
 * Child processes for the benchmarks: each measurement runs in a process of its own (a clean heap, its own
 * event loop, its own environment), and every server a benchmark starts is a child that is stopped afterwards,
 * even when the benchmark fails (`stopAll`, also called when the harness exits).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BENCH_DIR = fileURLToPath(new URL('..', import.meta.url));
export const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** Scratch space (git-ignored): synth output, generated files, child logs. */
export const OUT_DIR = join(BENCH_DIR, 'out');

const live = new Set<ChildProcess>();

/** Loopback only, dummy AWS credentials: nothing a benchmark runs may reach AWS or the internet. */
export function baseEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    AWS_ACCESS_KEY_ID: 'bench',
    AWS_SECRET_ACCESS_KEY: 'bench',
    AWS_REGION: 'us-east-1',
    AWS_EC2_METADATA_DISABLED: 'true',
    CDK_DISABLE_CLI_TELEMETRY: 'true',
    NO_PROXY: '127.0.0.1,localhost',
    ...extra,
  };
}

/** A child's output goes straight to bench/out/<name>.log (a file descriptor, so the harness spends no CPU on it). */
function logFd(name: string): number {
  mkdirSync(OUT_DIR, { recursive: true });
  return openSync(join(OUT_DIR, `${name}.log`), 'w');
}

/** Registers a child so that `stopAll` (and the harness's exit) stops it. */
export function track(child: ChildProcess): ChildProcess {
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

/** The end of a log file, for an error message. */
function tail(file: string, chars = 1500): string {
  try {
    const text = readFileSync(file, 'utf8');
    return text.slice(-chars).trim();
  } catch {
    return '';
  }
}

export interface ChildRun<T> {
  result: T;
  wallMs: number;
}

/**
 * Runs `node <nodeArgs> <script> <args>` to completion; the child writes its result as JSON to the file named by
 * BENCH_RESULT_FILE. Its stdout and stderr go to bench/out/<logName>.log.
 */
export async function runChild<T>(
  logName: string,
  script: string,
  options: { args?: string[]; env?: Record<string, string | undefined>; timeoutMs: number; ts?: boolean },
): Promise<ChildRun<T>> {
  mkdirSync(OUT_DIR, { recursive: true });
  const resultFile = join(OUT_DIR, `${logName}.result.json`);
  rmSync(resultFile, { force: true });
  const logFile = join(OUT_DIR, `${logName}.log`);
  const nodeArgs = options.ts === false ? [] : ['--import', 'tsx'];
  const began = performance.now();
  const log = logFd(logName);
  const child = track(
    spawn(process.execPath, [...nodeArgs, script, ...(options.args ?? [])], {
      cwd: PROJECT_ROOT,
      env: baseEnv({ ...options.env, BENCH_RESULT_FILE: resultFile }),
      stdio: ['ignore', log, log],
    }),
  );
  closeSync(log);
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(timer);
  const wallMs = performance.now() - began;
  if (code !== 0) {
    const why = code === null ? `killed after ${options.timeoutMs} ms` : `exit code ${code}`;
    throw new Error(`${logName} child failed (${why}); log bench/out/${logName}.log:\n${tail(logFile)}`);
  }
  try {
    return { result: JSON.parse(readFileSync(resultFile, 'utf8')) as T, wallMs };
  } catch {
    throw new Error(`${logName} child wrote no result; log bench/out/${logName}.log:\n${tail(logFile)}`);
  }
}

/** For a child script: hands its result to the parent. */
export function reportResult(result: unknown): void {
  const file = process.env.BENCH_RESULT_FILE;
  if (!file) {
    console.log(JSON.stringify(result, null, 2));
    return;
  }
  // Written synchronously so that it is complete before the process exits.
  writeFileSync(file, JSON.stringify(result));
}

export interface ServerChild {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/**
 * Starts a long-running server child (a TypeScript file under bench/children) that prints `READY <url>` on stderr
 * when it listens (its stdout, where handler logs go, is written to bench/out/<logName>.log). Stopped with SIGTERM (SIGKILL after 5 s) by `stop()` or `stopAll()`.
 */
export async function startServerChild(
  logName: string,
  script: string,
  env: Record<string, string | undefined> = {},
): Promise<ServerChild> {
  const log = logFd(logName);
  const child = track(
    spawn(process.execPath, ['--import', 'tsx', script], {
      cwd: PROJECT_ROOT,
      env: baseEnv(env),
      stdio: ['ignore', log, 'pipe'],
    }),
  );
  closeSync(log);
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${logName} did not start within 30 s`)), 30_000);
    let buffered = '';
    let ready = false;
    child.stderr!.on('data', (data: Buffer) => {
      if (ready) return;
      buffered += data.toString('utf8');
      const match = /^READY (\S+)$/m.exec(buffered);
      if (match) {
        ready = true;
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(
        new Error(`${logName} exited with code ${code} before it was ready; see bench/out/${logName}.log`),
      );
    });
  });
  return { url, pid: child.pid!, stop: () => stopChild(child) };
}

export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

/** Stops every child still running (each by its own pid). */
export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((child) => stopChild(child)));
}

process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});
