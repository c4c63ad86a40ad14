/**
 * DANAConnect credentials: their two shapes, how a secret's JSON becomes one, and the per-environment cache.
 * Where they come from (Secrets Manager, environment variables) is an adapter's business.
 */
import { ConfigurationError } from './errors';

export type ApiVersion = '1.0' | '2.0';

export interface BasicCredentials {
  apiVersion: '1.0';
  username: string;
  companyCode: string;
  password: string;
}

export interface ClientCredentials {
  apiVersion: '2.0';
  clientId: string;
  clientSecret: string;
}

export type DanaCredentials = BasicCredentials | ClientCredentials;

export interface CredentialReadOptions {
  /** Bypass any cache (after a 401). */
  refresh?: boolean;
  /**
   * Ends the wait when it fires (the invocation's deadline): `get` rejects with the signal's reason, and a read it
   * started (the Secrets Manager call) is aborted with it.
   */
  signal?: AbortSignal;
}

/** The port the client reads credentials through. */
export interface CredentialSource {
  get(options?: CredentialReadOptions): Promise<DanaCredentials>;
}

/** Loads the current credentials; `signal` aborts the read (Secrets Manager: the SDK's `abortSignal`). */
export type CredentialLoader = (signal?: AbortSignal) => Promise<DanaCredentials>;

const BASIC_KEYS = ['username', 'companyCode', 'password'] as const;
const CLIENT_KEYS = ['clientId', 'clientSecret'] as const;

function requireStrings(source: string, obj: Record<string, unknown>, keys: readonly string[]): void {
  for (const key of keys) {
    const value = obj[key];
    if (typeof value !== 'string' || value.length === 0) {
      throw new ConfigurationError(`${source}: "${key}" is missing or not a non-empty string`);
    }
  }
}

/**
 * Reads credentials from a plain object (a parsed secret, or environment variables mapped to the same keys).
 * `apiVersion` may say which shape is meant; otherwise the keys present decide. Errors name keys, never values.
 */
export function credentialsFromObject(source: string, obj: Record<string, unknown>): DanaCredentials {
  const declared = obj.apiVersion;
  if (declared !== undefined && declared !== '1.0' && declared !== '2.0') {
    throw new ConfigurationError(`${source}: "apiVersion" must be "1.0" or "2.0"`);
  }
  const version: ApiVersion =
    declared ?? (obj.clientId !== undefined || obj.clientSecret !== undefined ? '2.0' : '1.0');
  if (version === '2.0') {
    requireStrings(source, obj, CLIENT_KEYS);
    return { apiVersion: '2.0', clientId: obj.clientId as string, clientSecret: obj.clientSecret as string };
  }
  requireStrings(source, obj, BASIC_KEYS);
  const username = obj.username as string;
  const companyCode = obj.companyCode as string;
  if (username.includes(':') || companyCode.includes(':')) {
    throw new ConfigurationError(`${source}: "username" and "companyCode" may not contain ":"`);
  }
  return { apiVersion: '1.0', username, companyCode, password: obj.password as string };
}

/** Parses a secret string. A secret that is not a JSON object is a configuration error (its text is not echoed). */
export function parseSecret(secretId: string, secretString: string | undefined): DanaCredentials {
  const source = `secret ${secretId}`;
  if (secretString === undefined || secretString === '') {
    throw new ConfigurationError(
      `${source}: has no string value (set it to the JSON described in the README)`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(secretString);
  } catch {
    throw new ConfigurationError(`${source}: value is not valid JSON`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigurationError(`${source}: value must be a JSON object`);
  }
  return credentialsFromObject(source, parsed as Record<string, unknown>);
}

/** `promise`, unless `signal` fires first: then its reason (a TimeoutError for AbortSignal.timeout). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/**
 * Caches what `load` returns for `ttlMs`, per execution environment. Concurrent callers share one load.
 * `get({ refresh: true })` loads again at once: that is how a rotated secret is picked up after a 401.
 * A caller's `signal` bounds its own wait; the load it starts is sent with that signal, so a read that outlives
 * the invocation's deadline is aborted rather than left running into the next one.
 */
export class CachedCredentialSource implements CredentialSource {
  private value: DanaCredentials | undefined;
  private loadedAt = 0;
  private pending: Promise<DanaCredentials> | undefined;

  constructor(
    private readonly load: CredentialLoader,
    private readonly ttlMs = 5 * 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  async get(options: CredentialReadOptions = {}): Promise<DanaCredentials> {
    if (!options.refresh && this.value && this.now() - this.loadedAt < this.ttlMs) return this.value;
    if (options.signal?.aborted) throw options.signal.reason;
    this.pending ??= this.load(options.signal)
      .then((value) => {
        this.value = value;
        this.loadedAt = this.now();
        return value;
      })
      .finally(() => {
        this.pending = undefined;
      });
    return untilAborted(this.pending, options.signal);
  }
}
