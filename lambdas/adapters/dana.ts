/**
 * The one way a function builds its DANAConnect client from its environment: `DANA_BASE_URL`, `DANA_TOKEN_URL`,
 * `DANA_TIMEOUT_MS`, and credentials from ./credentials. Built once per execution environment by the caller.
 */
import { DanaClient, type DanaClientOptions } from '../core/dana-client';
import { credentialSourceFromEnv } from './credentials';

export function danaClientFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  overrides: Partial<DanaClientOptions> = {},
): DanaClient {
  return new DanaClient({
    baseUrl: env.DANA_BASE_URL || undefined,
    tokenUrl: env.DANA_TOKEN_URL || undefined,
    timeoutMs: env.DANA_TIMEOUT_MS ? Number(env.DANA_TIMEOUT_MS) : undefined,
    credentials: credentialSourceFromEnv(env),
    ...overrides,
  });
}
