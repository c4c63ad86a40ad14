/**
 * The one way a function builds its DANAConnect client from its environment: `DANA_BASE_URL`, `DANA_TOKEN_URL`,
 * `DANA_TIMEOUT_MS`, and credentials from ./credentials. Built once per execution environment by the caller.
 */
import { DanaClient, type DanaClientOptions } from '../core/dana-client';
import { ConfigurationError } from '../core/errors';
import { credentialSourceFromEnv } from './credentials';

/**
 * The longest timer Node keeps: a longer AbortSignal.timeout is either refused (above 2^32 - 1) or, worse, fires
 * after 1 ms (above 2^31 - 1, Node's TimeoutOverflowWarning).
 */
const MAX_TIMER_MS = 2_147_483_647;

/** `DANA_TIMEOUT_MS`, refused at once when unusable (AbortSignal.timeout would fail on every call instead). */
function timeoutFromEnv(env: NodeJS.ProcessEnv): number | undefined {
  const raw = env.DANA_TIMEOUT_MS;
  if (raw === undefined || raw === '') return undefined;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 1 || value > MAX_TIMER_MS) {
    throw new ConfigurationError(
      `DANA_TIMEOUT_MS must be a whole number of milliseconds from 1 to ${MAX_TIMER_MS}`,
    );
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
