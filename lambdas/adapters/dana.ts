/**
 * The one way a function builds its DANAConnect client from its environment: `DANA_BASE_URL`, `DANA_TOKEN_URL`,
 * `DANA_TIMEOUT_MS`, and credentials from ./credentials. Built once per execution environment by the caller.
 */
import { DanaClient, type DanaClientOptions } from '../core/dana-client';
import { ConfigurationError } from '../core/errors';
import { credentialSourceFromEnv } from './credentials';

/** `DANA_TIMEOUT_MS`, refused at once when unusable (AbortSignal.timeout would throw on every call instead). */
function timeoutFromEnv(env: NodeJS.ProcessEnv): number | undefined {
  const raw = env.DANA_TIMEOUT_MS;
  if (raw === undefined || raw === '') return undefined;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new ConfigurationError('DANA_TIMEOUT_MS must be a positive whole number of milliseconds');
  }
  return value;
}

export function danaClientFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  overrides: Partial<DanaClientOptions> = {},
): DanaClient {
  return new DanaClient({
    baseUrl: env.DANA_BASE_URL || undefined,
    tokenUrl: env.DANA_TOKEN_URL || undefined,
    timeoutMs: timeoutFromEnv(env),
    credentials: credentialSourceFromEnv(env),
    ...overrides,
  });
}
