/** A moto_server on 127.0.0.1 (ephemeral port) for a benchmark that needs DynamoDB; stopped by `stop()`. */
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { stopChild, track } from './proc';

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

export async function startMoto(): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = track(spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' }));
  const stop = () => stopChild(child);
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`moto_server exited with code ${child.exitCode}`);
    try {
      await (await fetch(`${url}/moto-api/`)).arrayBuffer();
      return { url, stop };
    } catch {
      if (Date.now() > deadline) {
        await stop();
        throw new Error('moto_server did not start within 30 s');
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
