import 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    motoEndpoint: string;
    /** Where every test worker's stdout/stderr is captured for the log audit (test/audit). */
    logCaptureDir: string;
  }
}

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

async function waitUntilUp(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`moto_server exited with code ${child.exitCode}`);
    try {
      const res = await fetch(`${url}/moto-api/`);
      await res.arrayBuffer();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error('moto_server did not start within 30 s');
}

/**
 * Starts one moto_server on 127.0.0.1 for the whole run (unless MOTO_ENDPOINT points at one already)
 * and stops it afterwards. Tests reach it with `inject('motoEndpoint')`.
 * Also makes the folder where test workers' output is captured for the log audit (`inject('logCaptureDir')`).
 */
export default async function setup(project: TestProject) {
  const logCaptureDir = mkdtempSync(join(tmpdir(), 'dana-gateway-logs-'));
  project.provide('logCaptureDir', logCaptureDir);
  let endpoint = process.env.MOTO_ENDPOINT;
  let child: ChildProcess | undefined;
  if (!endpoint) {
    const port = await freePort();
    endpoint = `http://127.0.0.1:${port}`;
    child = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
    await waitUntilUp(endpoint, child);
  }
  project.provide('motoEndpoint', endpoint);
  return async () => {
    rmSync(logCaptureDir, { recursive: true, force: true });
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child!.once('exit', r));
    }
  };
}
