import { describe, expect, it, vi } from 'vitest';
import { credentialSourceFromEnv, credentialsFromEnv } from '../../lambdas/adapters/credentials';
import { danaClientFromEnv } from '../../lambdas/adapters/dana';
import {
  CachedCredentialSource,
  credentialsFromObject,
  parseSecret,
  type DanaCredentials,
} from '../../lambdas/core/credentials';
import { ConfigurationError } from '../../lambdas/core/errors';

const BASIC = { username: 'api-user', companyCode: 'ACME', password: 'p@ss:w0rd-SECRET' };
const CLIENT = { clientId: 'client-123', clientSecret: 'client-SECRET-value' };

/** The error `fn` throws; fails the test if it does not throw a ConfigurationError. */
function configurationErrorOf(fn: () => unknown): ConfigurationError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigurationError);
    return error as ConfigurationError;
  }
  throw new Error('expected a ConfigurationError');
}

describe('parseSecret', () => {
  it('reads the API 1.0 shape', () => {
    expect(parseSecret('dana/prod', JSON.stringify(BASIC))).toEqual({ apiVersion: '1.0', ...BASIC });
  });

  it('reads the API 2.0 shape', () => {
    expect(parseSecret('dana/prod', JSON.stringify(CLIENT))).toEqual({ apiVersion: '2.0', ...CLIENT });
  });

  it.each([
    ['only 1.0 keys', BASIC, '1.0'],
    ['only 2.0 keys', CLIENT, '2.0'],
    ['a clientId alone (then the secret is missing)', { clientId: 'x' }, 'error'],
    ['a clientSecret alone', { clientSecret: 'x' }, 'error'],
    ['both shapes, apiVersion "1.0"', { ...BASIC, ...CLIENT, apiVersion: '1.0' }, '1.0'],
    ['both shapes, apiVersion "2.0"', { ...BASIC, ...CLIENT, apiVersion: '2.0' }, '2.0'],
    ['both shapes, no apiVersion (client keys win)', { ...BASIC, ...CLIENT }, '2.0'],
  ])('apiVersion follows the keys when not declared: %s', (_name, secret, expected) => {
    if (expected === 'error') {
      expect(() => parseSecret('s', JSON.stringify(secret))).toThrow(/"clientId"|"clientSecret"/);
    } else {
      expect(parseSecret('s', JSON.stringify(secret)).apiVersion).toBe(expected);
    }
  });

  it('keeps only the keys of the chosen shape', () => {
    const parsed = parseSecret('s', JSON.stringify({ ...BASIC, ...CLIENT, apiVersion: '1.0', extra: 'x' }));
    expect(Object.keys(parsed).sort()).toEqual(['apiVersion', 'companyCode', 'password', 'username']);
  });

  const values = [BASIC.username, BASIC.companyCode, BASIC.password, CLIENT.clientId, CLIENT.clientSecret];

  it.each([
    ['missing password', { username: BASIC.username, companyCode: BASIC.companyCode }, '"password"'],
    ['missing username', { companyCode: BASIC.companyCode, password: BASIC.password }, '"username"'],
    ['missing companyCode', { username: BASIC.username, password: BASIC.password }, '"companyCode"'],
    ['empty password', { ...BASIC, password: '' }, '"password"'],
    ['numeric password', { ...BASIC, password: 12345 }, '"password"'],
    ['missing clientSecret', { clientId: CLIENT.clientId }, '"clientSecret"'],
    ['declared 2.0 without clientId', { ...BASIC, apiVersion: '2.0', clientSecret: 'x' }, '"clientId"'],
    ['declared 1.0 without 1.0 keys', { ...CLIENT, apiVersion: '1.0' }, '"username"'],
    ['unknown apiVersion', { ...BASIC, apiVersion: '3.0' }, '"apiVersion"'],
    ['":" in username', { ...BASIC, username: 'api:user' }, '"username"'],
    ['":" in companyCode', { ...BASIC, companyCode: 'AC:ME' }, '"companyCode"'],
  ])('a malformed secret (%s) names the key, the secret id, and no value', (_name, secret, key) => {
    const error = configurationErrorOf(() => parseSecret('dana/prod', JSON.stringify(secret)));
    expect(error.message).toContain(key);
    expect(error.message).toContain('secret dana/prod');
    for (const value of [...values, 'api:user', 'AC:ME', '12345']) expect(error.message).not.toContain(value);
  });

  it.each([
    ['undefined', undefined, /no string value/],
    ['empty', '', /no string value/],
    ['not JSON', `password=${BASIC.password}`, /not valid JSON/],
    ['a JSON array', JSON.stringify([BASIC.password]), /must be a JSON object/],
    ['a JSON string', JSON.stringify(BASIC.password), /must be a JSON object/],
    ['JSON null', 'null', /must be a JSON object/],
  ])('a secret that is %s is refused without echoing it', (_name, secretString, reason) => {
    const error = configurationErrorOf(() => parseSecret('dana/prod', secretString));
    expect(error.message).toMatch(reason);
    expect(error.message).not.toContain(BASIC.password);
  });
});

describe('credentialsFromObject', () => {
  it('names the source in errors', () => {
    expect(() => credentialsFromObject('environment', {})).toThrow(/^environment: "username"/);
  });
});

describe('credentialsFromEnv', () => {
  it('reads API 1.0 credentials', () => {
    const env = { DANA_USERNAME: 'u', DANA_COMPANY_CODE: 'C', DANA_PASSWORD: 'p', OTHER: 'x' };
    expect(credentialsFromEnv(env)).toEqual({
      apiVersion: '1.0',
      username: 'u',
      companyCode: 'C',
      password: 'p',
    });
  });

  it('reads API 2.0 credentials', () => {
    expect(credentialsFromEnv({ DANA_CLIENT_ID: 'id', DANA_CLIENT_SECRET: 's' })).toEqual({
      apiVersion: '2.0',
      clientId: 'id',
      clientSecret: 's',
    });
  });

  it('honours DANA_API_VERSION', () => {
    const env = { DANA_USERNAME: 'u', DANA_COMPANY_CODE: 'C', DANA_PASSWORD: 'p', DANA_CLIENT_ID: 'id' };
    expect(credentialsFromEnv({ ...env, DANA_API_VERSION: '1.0' }).apiVersion).toBe('1.0');
    expect(() => credentialsFromEnv({ ...env, DANA_API_VERSION: '2.0' })).toThrow(/DANA_CLIENT_SECRET/);
  });

  it.each([
    [{ DANA_USERNAME: 'u', DANA_COMPANY_CODE: 'C' }, 'DANA_PASSWORD'],
    [{ DANA_COMPANY_CODE: 'C', DANA_PASSWORD: 'hunter2' }, 'DANA_USERNAME'],
    [{ DANA_CLIENT_ID: 'id' }, 'DANA_CLIENT_SECRET'],
    [
      { DANA_USERNAME: 'u', DANA_COMPANY_CODE: 'C', DANA_PASSWORD: 'hunter2', DANA_API_VERSION: '9' },
      'DANA_API_VERSION',
    ],
    [{}, 'DANA_USERNAME'],
  ])('names the variable to set, never a value (%j)', (env, variable) => {
    const error = configurationErrorOf(() => credentialsFromEnv(env));
    expect(error.message).toContain(variable);
    expect(error.message).not.toContain('hunter2');
    expect(error.message).not.toMatch(/"(username|companyCode|password|clientId|clientSecret|apiVersion)"/);
  });
});

describe('tuning variables', () => {
  const env = { DANA_USERNAME: 'u', DANA_COMPANY_CODE: 'C', DANA_PASSWORD: 'p' };

  // 2147483648 is past Node's longest timer: AbortSignal.timeout would fire after 1 ms.
  it.each(['abc', '2.5', '0', '-1', '2147483648'])(
    'refuses DANA_TIMEOUT_MS=%s when the client is built, naming it',
    (value) => {
      const error = configurationErrorOf(() => danaClientFromEnv({ ...env, DANA_TIMEOUT_MS: value }));
      expect(error.message).toContain('DANA_TIMEOUT_MS');
    },
  );

  it.each(['abc', '-5'])('refuses DANA_SECRET_TTL_SECONDS=%s, naming it', (value) => {
    const error = configurationErrorOf(() =>
      credentialSourceFromEnv({ ...env, DANA_SECRET_TTL_SECONDS: value }),
    );
    expect(error.message).toContain('DANA_SECRET_TTL_SECONDS');
  });

  it('takes usable values', async () => {
    expect(() => danaClientFromEnv({ ...env, DANA_TIMEOUT_MS: '2500' })).not.toThrow();
    const source = credentialSourceFromEnv({ ...env, DANA_SECRET_TTL_SECONDS: '0' });
    expect((await source.get()).apiVersion).toBe('1.0');
  });
});

describe('CachedCredentialSource', () => {
  const first: DanaCredentials = { apiVersion: '1.0', ...BASIC };
  const second: DanaCredentials = { apiVersion: '1.0', ...BASIC, password: 'rotated' };

  function source(ttlMs = 1_000) {
    let now = 0;
    const answers = [first, second, second];
    const load = vi.fn(async () => answers[load.mock.calls.length - 1]!);
    const cached = new CachedCredentialSource(load, ttlMs, () => now);
    return { cached, load, advance: (ms: number) => (now += ms) };
  }

  it('loads once and serves the cache within the TTL', async () => {
    const { cached, load, advance } = source();
    expect(await cached.get()).toEqual(first);
    advance(999);
    expect(await cached.get()).toEqual(first);
    expect(load).toHaveBeenCalledTimes(1);
  });

  it('loads again once the TTL has passed', async () => {
    const { cached, load, advance } = source();
    await cached.get();
    advance(1_000);
    expect(await cached.get()).toEqual(second);
    expect(load).toHaveBeenCalledTimes(2);
  });

  it('refresh loads at once, and the fresh value is cached for a new TTL', async () => {
    const { cached, load, advance } = source();
    await cached.get();
    advance(500);
    expect(await cached.get({ refresh: true })).toEqual(second);
    advance(900);
    expect(await cached.get()).toEqual(second);
    expect(load).toHaveBeenCalledTimes(2);
  });

  it('concurrent callers share one load', async () => {
    let release!: (value: DanaCredentials) => void;
    const load = vi.fn(() => new Promise<DanaCredentials>((resolve) => (release = resolve)));
    const cached = new CachedCredentialSource(load, 1_000);
    const callers = [cached.get(), cached.get(), cached.get({ refresh: true })];
    release(first);
    expect(await Promise.all(callers)).toEqual([first, first, first]);
    expect(load).toHaveBeenCalledTimes(1);
  });

  it('a failed load is not cached: the next get tries again', async () => {
    const load = vi
      .fn<() => Promise<DanaCredentials>>()
      .mockRejectedValueOnce(new Error('secrets unavailable'))
      .mockResolvedValueOnce(first);
    const cached = new CachedCredentialSource(load, 1_000);
    await expect(cached.get()).rejects.toThrow('secrets unavailable');
    expect(await cached.get()).toEqual(first);
    expect(load).toHaveBeenCalledTimes(2);
  });

  it('a caller’s signal ends its own wait with the signal’s reason; the load it starts is given that signal', async () => {
    let given: AbortSignal | undefined;
    const load = vi.fn((signal?: AbortSignal) => {
      given = signal;
      return new Promise<DanaCredentials>(() => undefined); // a read that never answers
    });
    const cached = new CachedCredentialSource(load, 1_000);
    const controller = new AbortController();
    const waiting = cached.get({ signal: controller.signal });
    controller.abort(new Error('deadline reached'));
    await expect(waiting).rejects.toThrow('deadline reached');
    expect(given).toBe(controller.signal);
  });

  it('an aborted signal is refused before loading, but a fresh cached value is still served', async () => {
    const load = vi.fn(async () => first);
    const cached = new CachedCredentialSource(load, 60_000);
    const spent = AbortSignal.abort(new Error('no time left'));
    await expect(cached.get({ signal: spent })).rejects.toThrow('no time left');
    expect(load).not.toHaveBeenCalled();
    await cached.get();
    await expect(cached.get({ signal: spent })).resolves.toEqual(first);
    await expect(cached.get({ refresh: true, signal: spent })).rejects.toThrow('no time left');
    expect(load).toHaveBeenCalledTimes(1);
  });
});
