/**
 * The server's connections: tracked so `close()` can end them all, and so a keep-alive connection left idle
 * for more than `idleResetMs` can be reset on its next request, as a load balancer that silently dropped it would.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

interface ConnectionState {
  /** Requests admitted on this connection. */
  served: number;
  /** Admitted requests whose response has not closed yet. */
  inFlight: number;
  /** When the last response closed (or the connection opened). */
  idleSince: number;
}

export class Connections {
  private readonly sockets = new Set<Socket>();
  private readonly states = new WeakMap<Socket, ConnectionState>();
  private readonly defaultKeepAliveMs: number;
  private idleMs: number | undefined;

  constructor(private readonly server: Server) {
    this.defaultKeepAliveMs = server.keepAliveTimeout;
    server.on('connection', (socket: Socket) => this.track(socket));
  }

  /**
   * Sets (or, with undefined, clears) the idle limit. While set, the server's own keep-alive timeout is off,
   * so an idle connection stays open until its next request meets the reset, however long the idle was.
   */
  set idleResetMs(ms: number | undefined) {
    this.idleMs = ms;
    this.server.keepAliveTimeout = ms === undefined ? this.defaultKeepAliveMs : 0;
  }

  get idleResetMs(): number | undefined {
    return this.idleMs;
  }

  /**
   * Admits a request onto its connection and returns true; or, when `idleResetMs` is set, the request is not
   * `exempt`, and the connection served requests before but has had none in flight for more than
   * `idleResetMs`, resets the socket (TCP RST) and returns false. A connection's first request is admitted.
   */
  admit(req: IncomingMessage, res: ServerResponse, exempt = false): boolean {
    const state = this.states.get(req.socket);
    if (!state) return true;
    const idleFor = Date.now() - state.idleSince;
    if (
      this.idleMs !== undefined &&
      !exempt &&
      state.served > 0 &&
      state.inFlight === 0 &&
      idleFor > this.idleMs
    ) {
      req.socket.resetAndDestroy();
      return false;
    }
    state.served++;
    state.inFlight++;
    res.once('close', () => {
      state.inFlight--;
      state.idleSince = Date.now();
    });
    return true;
  }

  destroyAll(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    this.states.set(socket, { served: 0, inFlight: 0, idleSince: Date.now() });
    socket.on('close', () => this.sockets.delete(socket));
  }
}
