/**
 * One moto_server on 127.0.0.1 (an ephemeral port), started and stopped by whoever needs it: the test run's
 * global setup and the benchmarks that use DynamoDB.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

export interface MotoServer {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
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

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

/** Resolves once moto answers; a moto that exits or is not up within 30 s is stopped and reported. */
export async function startMotoServer(): Promise<MotoServer> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`moto_server exited with code ${child.exitCode}`);
    try {
      await (await fetch(`${url}/moto-api/`)).arrayBuffer();
      return { url, child, stop: () => stop(child) };
    } catch {
      if (Date.now() > deadline) {
        await stop(child);
        throw new Error('moto_server did not start within 30 s');
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
