/**
 * Authentication as DANAConnect does it: API 1.0 takes HTTP Basic `user@company:password`; API 2.0 takes a
 * Bearer token from the OAuth2 client-credentials endpoint (`POST /oauth2/token`). Plus rotation and revocation.
 */
import { randomUUID } from 'node:crypto';
import { json, type Answer } from './envelopes';
import type { SandboxOptions } from './types';

export const DEMO_USER = { username: 'demo', companyCode: 'DEMO', password: 'demo-password' };
export const DEMO_CLIENT = { clientId: 'demo-client', clientSecret: 'demo-client-secret' };
export const TOKEN_SCOPE = 'conversation:access2api';

/** `user:secret` from a `Basic <base64>` header, undecoded; undefined when malformed. */
function basicPair(authorization: string | undefined): { user: string; secret: string } | undefined {
  const match = /^Basic ([A-Za-z0-9+/=]+)$/.exec(authorization ?? '');
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { user: decoded.slice(0, colon), secret: decoded.slice(colon + 1) };
}

/** RFC 6749 2.3.1: the client id and secret are form-urlencoded, then sent as HTTP Basic. */
function clientPair(authorization: string | undefined): { clientId: string; secret: string } | undefined {
  const pair = basicPair(authorization);
  if (!pair) return undefined;
  try {
    const formDecode = (s: string) => decodeURIComponent(s.replace(/\+/g, ' '));
    return { clientId: formDecode(pair.user), secret: formDecode(pair.secret) };
  } catch {
    return undefined;
  }
}

export class Credentials {
  private readonly users: Map<string, { companyCode: string; password: string }>;
  private readonly clients: Map<string, string>;
  private readonly tokens = new Map<string, { clientId: string; expiresAt: number }>();
  private readonly tokenTtlSeconds: number;

  constructor(options: Pick<SandboxOptions, 'users' | 'clients' | 'tokenTtlSeconds'> = {}) {
    this.users = new Map(
      (options.users ?? [DEMO_USER]).map((u) => [
        u.username,
        { companyCode: u.companyCode, password: u.password },
      ]),
    );
    this.clients = new Map((options.clients ?? [DEMO_CLIENT]).map((c) => [c.clientId, c.clientSecret]));
    this.tokenTtlSeconds = options.tokenTtlSeconds ?? 3600;
  }

  /** Whether `authorization` is good for API `version` ('1.0': Basic; otherwise: Bearer). */
  authorize(version: string, authorization: string | undefined): boolean {
    if (!authorization) return false;
    return version === '1.0' ? this.basicOk(authorization) : this.bearerOk(authorization);
  }

  private basicOk(authorization: string): boolean {
    const pair = basicPair(authorization);
    if (!pair) return false;
    const at = pair.user.lastIndexOf('@');
    if (at < 0) return false;
    const user = this.users.get(pair.user.slice(0, at));
    return (
      user !== undefined && user.companyCode === pair.user.slice(at + 1) && user.password === pair.secret
    );
  }

  private bearerOk(authorization: string): boolean {
    const match = /^Bearer (\S+)$/.exec(authorization);
    if (!match) return false;
    const token = this.tokens.get(match[1]!);
    if (!token) return false;
    if (Date.now() >= token.expiresAt) {
      this.tokens.delete(match[1]!);
      return false;
    }
    return true;
  }

  /** The OAuth2 token endpoint: client credentials grant with scope conversation:access2api. */
  tokenEndpoint(method: string, authorization: string | undefined, rawBody: string): Answer {
    if (method !== 'POST') return json(405, { error: 'invalid_request' }, { Allow: 'POST' });
    const client = clientPair(authorization);
    if (
      !client ||
      !this.clients.has(client.clientId) ||
      this.clients.get(client.clientId) !== client.secret
    ) {
      return json(401, { error: 'invalid_client' }, { 'WWW-Authenticate': 'Basic' });
    }
    const form = new URLSearchParams(rawBody);
    if (form.get('grant_type') !== 'client_credentials')
      return json(400, { error: 'unsupported_grant_type' });
    if (!(form.get('scope') ?? '').split(' ').includes(TOKEN_SCOPE)) {
      return json(400, { error: 'invalid_scope' });
    }
    const token = randomUUID();
    const ttl = this.tokenTtlSeconds;
    this.tokens.set(token, { clientId: client.clientId, expiresAt: Date.now() + ttl * 1000 });
    return json(200, { access_token: token, token_type: 'Bearer', expires_in: ttl });
  }

  /** Rotation: the old password stops working at once. */
  setUserPassword(username: string, password: string): void {
    const user = this.users.get(username);
    if (!user) throw new Error(`unknown user ${username}`);
    user.password = password;
  }

  /** Rotation for 2.0; also invalidates existing tokens of that client. */
  setClientSecret(clientId: string, secret: string): void {
    if (!this.clients.has(clientId)) throw new Error(`unknown client ${clientId}`);
    this.clients.set(clientId, secret);
    for (const [token, info] of this.tokens) if (info.clientId === clientId) this.tokens.delete(token);
  }

  revokeTokens(): void {
    this.tokens.clear();
  }
}
