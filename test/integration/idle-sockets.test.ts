/**
 * Idle keep-alive sockets after a Lambda thaw. A load balancer silently drops a connection that stayed idle longer
 * than its idle timeout; a frozen Lambda's keep-alive timers do not run, so it thaws holding that connection and
 * the next start goes out on it and is reset: an unknown outcome for a start that never reached DANAConnect.
 * The client never reuses a connection idle longer than its safe age, measured by its own clock (which a freeze
 * moves on), and a failure before any byte of the request was written is "not sent" and retried.
 *
 * The server here plays the load balancer: it resets a request that arrives on a connection idle more than
 * `idleResetMs`, or on a connection it was told to forget (the freeze).
 */
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { DanaCredentials } from '../../lambdas/core/credentials';
import { DanaClient, type DanaClientOptions, type UpstreamCallInfo } from '../../lambdas/core/dana-client';
import { DanaError } from '../../lambdas/core/errors';

const BASIC: DanaCredentials = {
  apiVersion: '1.0',
  username: 'idle',
  companyCode: 'IDLE',
  password: 'idle-test-password',
};

interface LoadBalancer {
  url: string;
  /** Starts that reached the server and were answered. */
  starts: string[];
  connections: number;
  resets: number;
  /** Marks every open connection as dropped: its next request is reset (what a thaw finds). */
  forgetConnections(): void;
  close(): Promise<void>;
}

const servers: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

function closeServer(server: Server | ReturnType<typeof createTcpServer>, sockets: Set<Socket>) {
  for (const socket of sockets) socket.destroy();
  return new Promise<void>((resolve) => server.close(() => resolve()));
}

/** A keep-alive HTTP server that resets a request arriving on a connection idle for more than `idleResetMs`. */
async function loadBalancer(idleResetMs: number): Promise<LoadBalancer> {
  const idleSince = new Map<Socket, number>();
  const forgotten = new Set<Socket>();
  const sockets = new Set<Socket>();
  const lb = { starts: [] as string[], connections: 0, resets: 0 };
  const server = createServer((req, res) => {
    const socket = req.socket;
    const since = idleSince.get(socket);
    if (forgotten.has(socket) || (since !== undefined && Date.now() - since > idleResetMs)) {
      lb.resets++;
      socket.resetAndDestroy();
      return;
    }
    idleSince.delete(socket);
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      lb.starts.push(Buffer.concat(chunks).toString('utf8'));
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ wsResult: { idResult: lb.starts.length, resultDescription: 'OK' } }));
    });
    res.on('finish', () => idleSince.set(socket, Date.now()));
  });
  // The server itself keeps connections open: only the "load balancer" rule above drops them.
  server.keepAliveTimeout = 60_000;
  server.on('connection', (socket: Socket) => {
    lb.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const handle: LoadBalancer = Object.assign(lb, {
    url: `http://127.0.0.1:${port}`,
    forgetConnections: () => sockets.forEach((socket) => forgotten.add(socket)),
    close: () => closeServer(server, sockets),
  });
  servers.push(handle);
  return handle;
}

function client(url: string, options: Partial<DanaClientOptions> = {}) {
  return new DanaClient({
    credentials: { get: async () => BASIC },
    baseUrl: url,
    timeoutMs: 2_000,
    random: () => 0,
    ...options,
  });
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const start = (dana: DanaClient, n: number) => dana.startData(1001, { NAME: `Idle ${n}` });

async function errorOf(call: Promise<unknown>): Promise<DanaError> {
  const error = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DanaError);
  return error as DanaError;
}

const IDLE_RESET_MS = 300;

describe('defect 8: a connection the load balancer dropped while idle', () => {
  it('the fault is real: reused past the balancer’s idle timeout, the start is reset and its outcome unknown', async () => {
    const lb = await loadBalancer(IDLE_RESET_MS);
    // A safe age longer than the balancer's idle timeout: the old, unsafe behaviour.
    const dana = client(lb.url, { maxSocketIdleMs: 60_000 });
    await expect(start(dana, 1)).resolves.toMatchObject({ status: 200 });
    await pause(IDLE_RESET_MS * 3);
    const error = await errorOf(start(dana, 2));
    expect(error).toMatchObject({ kind: 'network', delivery: 'unknown' });
    expect(lb).toMatchObject({ resets: 1, connections: 1 });
    expect(lb.starts).toHaveLength(1);
  });

  it('with a safe age below the balancer’s, the start after the gap goes out on a fresh connection', async () => {
    const lb = await loadBalancer(IDLE_RESET_MS);
    const dana = client(lb.url, { maxSocketIdleMs: IDLE_RESET_MS / 3 });
    await expect(start(dana, 1)).resolves.toMatchObject({ status: 200 });
    await pause(IDLE_RESET_MS * 3);
    await expect(start(dana, 2)).resolves.toMatchObject({ status: 200 });
    expect(lb).toMatchObject({ resets: 0, connections: 2 });
    expect(lb.starts.map((body) => JSON.parse(body).NAME)).toEqual(['Idle 1', 'Idle 2']);
  });

  it('a freeze: the client’s clock jumps past the safe age while the connection is still open → fresh connection', async () => {
    const lb = await loadBalancer(60_000);
    let frozenFor = 0;
    const dana = client(lb.url, { now: () => Date.now() + frozenFor });
    // Within the safe age the connection is kept alive and reused (the pause lets the pool take it back).
    for (const n of [1, 2]) {
      await start(dana, n);
      await pause(20);
    }
    expect(lb.connections).toBe(1);
    // Ten minutes frozen: the balancer forgot the connection, the process's own timers never ran.
    frozenFor += 10 * 60_000;
    lb.forgetConnections();
    await expect(start(dana, 3)).resolves.toMatchObject({ status: 200 });
    expect(lb).toMatchObject({ resets: 0, connections: 2 });
    expect(lb.starts.map((body) => JSON.parse(body).NAME)).toEqual(['Idle 1', 'Idle 2', 'Idle 3']);
  });
});

describe('defect 8: a failure before any byte of the request was written', () => {
  it('is "not sent" and a start is retried: a TLS handshake reset by the peer', async () => {
    // A TCP server that resets every connection at once: the client's TLS handshake fails, so the request
    // itself was never written. ECONNRESET alone does not say that; where it happened does.
    const sockets = new Set<Socket>();
    let connections = 0;
    const server = createTcpServer((socket) => {
      connections++;
      socket.resetAndDestroy();
    });
    server.on('connection', (socket: Socket) => sockets.add(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push({ close: () => closeServer(server, sockets) });
    const { port } = server.address() as { port: number };
    const calls: UpstreamCallInfo[] = [];
    const dana = client(`https://127.0.0.1:${port}`, { onUpstreamCall: (info) => calls.push(info) });
    const error = await errorOf(start(dana, 1));
    expect(error).toMatchObject({ kind: 'network', delivery: 'no' });
    expect(calls.map((c) => c.attempt)).toEqual([1, 2, 3]);
    expect(connections).toBe(3);
  });
});
