/**
 * Who may talk to the local gateway: only a client that reached it by a loopback name, and, when a browser sent
 * the request, only a page of the gateway itself. Listening on 127.0.0.1 is not enough on its own:
 * - a web page the developer opens can send a simple cross-site POST (no preflight), which carries its `Origin`;
 * - through DNS rebinding, a page's own host name resolves to 127.0.0.1, and its requests carry that `Host`.
 * So `Host` must be `127.0.0.1`, `localhost` or `[::1]` with the gateway's port, and an `Origin`, when present, must
 * be `http://` and one of those hosts with that port. Pure: the gateway applies it to every request before routing.
 */

const LOOPBACK_NAMES = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** Why a request is refused (names the header, never quotes its value), or undefined when it may be served. */
export function loopbackRefusal(
  headers: { host?: string | undefined; origin?: string | string[] | undefined },
  port: number,
): string | undefined {
  if (!isLoopbackHost(headers.host, port)) {
    return `Host must be 127.0.0.1, localhost or [::1] with port ${port}`;
  }
  const origin = headers.origin;
  if (origin !== undefined && !(typeof origin === 'string' && isOwnOrigin(origin, port))) {
    return 'Origin must be this gateway’s own origin';
  }
  return undefined;
}

/** `name:port` with a loopback name (any case) and exactly this port; port 80 may be left out, as browsers do. */
export function isLoopbackHost(host: string | undefined, port: number): boolean {
  if (host === undefined) return false;
  const lower = host.toLowerCase();
  const colon = lower.lastIndexOf(':');
  // `[::1]` alone has colons inside its brackets: a port follows the closing bracket.
  const hasPort = colon > lower.lastIndexOf(']');
  const name = hasPort ? lower.slice(0, colon) : lower;
  const portText = hasPort ? lower.slice(colon + 1) : '80';
  return LOOPBACK_NAMES.has(name) && portText === String(port);
}

/** `http://<loopback host>` as a browser serialises the origin of a page served by this gateway. */
export function isOwnOrigin(origin: string, port: number): boolean {
  const prefix = 'http://';
  if (!origin.toLowerCase().startsWith(prefix)) return false;
  return isLoopbackHost(origin.slice(prefix.length), port);
}
