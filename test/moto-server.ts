/**
 * One moto_server on 127.0.0.1 (an ephemeral port), started and stopped by whoever needs it: the test run's
 * global setup and the benchmarks that use DynamoDB. moto_server is found (or installed into .venv/) by
 * scripts/python-tool.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { resolvePythonTool } from '../scripts/python-tool';

export interface MotoServer {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** The moto_server to run (default: the one scripts/python-tool.ts resolves). */
  command?: string;
}

const START_TIMEOUT_MS = 30_000;
// Enough for a Python traceback or moto's "address in use"; the buffer stays bounded however long moto runs.
const OUTPUT_TAIL_CHARS = 8_192;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

async function stop(child: ChildProcess): Promise<void> {
  // No pid: it never started, so there is nothing to wait for.
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function answers(url: string): Promise<boolean> {
  try {
    await (await fetch(`${url}/moto-api/`)).arrayBuffer();
    return true;
  } catch {
    return false;
  }
}

/** moto's stdout and stderr together, only the last `OUTPUT_TAIL_CHARS`. */
function captureOutput(child: ChildProcess): () => string {
  let tail = '';
  const keep = (chunk: Buffer) => {
    tail = (tail + chunk.toString()).slice(-OUTPUT_TAIL_CHARS);
  };
  // Read for moto's whole life, not just until it answers: it logs every request, and a pipe nobody reads fills up
  // and stalls it.
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return () => (tail.trim() ? `; its output:\n${tail.trimEnd()}` : '; it printed nothing');
}

/** Resolves once moto answers; a moto that exits or is not up within 30 s is stopped and reported with its output. */
export async function startMotoServer(options: StartOptions = {}): Promise<MotoServer> {
  const command = options.command ?? (await resolvePythonTool('moto_server'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(command, ['-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = captureOutput(child);
  let ended: string | undefined;
  child.once('error', (error) => (ended ??= `could not be started (${error.message})`));
  child.once(
    'exit',
    (code, signal) => (ended ??= signal ? `was killed by ${signal}` : `exited with code ${code}`),
  );
  // 'close' comes once the last output has been read (also after a failed spawn), so the report has all of it;
  // bounded, in case something moto started still holds its pipes.
  const closed = new Promise((resolve) => child.once('close', resolve));
  const lastOutput = async () => {
    await Promise.race([closed, sleep(1_000)]);
    return output();
  };
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (ended) throw new Error(`moto_server (${command}) ${ended} before it answered${await lastOutput()}`);
    if (await answers(url)) return { url, child, stop: () => stop(child) };
    if (Date.now() > deadline) {
      await stop(child);
      throw new Error(
        `moto_server (${command}) did not answer within ${START_TIMEOUT_MS / 1000} s${await lastOutput()}`,
      );
    }
    await Promise.race([closed, sleep(100)]);
  }
}
