/**
 * Where DANAConnect credentials come from: Secrets Manager in AWS (`DANA_SECRET_ID`), environment variables
 * locally. Either way they pass through the core's parser and cache.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import {
  CachedCredentialSource,
  credentialsFromObject,
  parseSecret,
  type CredentialLoader,
  type CredentialSource,
  type DanaCredentials,
} from '../core/credentials';
import { ConfigurationError } from '../core/errors';

export const DEFAULT_SECRET_TTL_MS = 5 * 60_000;

/**
 * The Secrets Manager client's own limits, per SDK attempt. Without them a read that hangs waits for the SDK's
 * default socket timeout (minutes). Connecting to a regional endpoint takes milliseconds, GetSecretValue answers
 * in tens of them: 2 s and 5 s are generous, and the invocation's deadline (the abort signal) cuts in sooner
 * when less is left. `throwOnRequestTimeout`: without it the SDK only logs a warning when `requestTimeout` passes.
 */
export const SECRETS_MANAGER_TIMEOUTS = {
  connectionTimeout: 2_000,
  requestTimeout: 5_000,
  throwOnRequestTimeout: true,
} as const;

/** The Secrets Manager client of this execution environment, with connection and request timeouts. */
export function secretsManagerClient(): SecretsManagerClient {
  return new SecretsManagerClient({ requestHandler: { ...SECRETS_MANAGER_TIMEOUTS } });
}

/**
 * Reads the secret's current value. One client per environment, so its connection is reused. The caller's abort
 * signal (the invocation's deadline) is the SDK's `abortSignal`: it ends the read, its retries and their waits.
 */
export function secretsManagerLoader(
  secretId: string,
  client: SecretsManagerClient = secretsManagerClient(),
): CredentialLoader {
  return async (signal) => {
    const answer = await client.send(new GetSecretValueCommand({ SecretId: secretId }), {
      abortSignal: signal,
    });
    return parseSecret(secretId, answer.SecretString);
  };
}

/** Credentials from `DANA_USERNAME`/`DANA_COMPANY_CODE`/`DANA_PASSWORD` or `DANA_CLIENT_ID`/`DANA_CLIENT_SECRET`. */
export function credentialsFromEnv(env: NodeJS.ProcessEnv = process.env): DanaCredentials {
  const obj: Record<string, unknown> = {};
  const mapping: Record<string, string> = {
    DANA_USERNAME: 'username',
    DANA_COMPANY_CODE: 'companyCode',
    DANA_PASSWORD: 'password',
    DANA_CLIENT_ID: 'clientId',
    DANA_CLIENT_SECRET: 'clientSecret',
    DANA_API_VERSION: 'apiVersion',
  };
  for (const [variable, key] of Object.entries(mapping)) {
    if (env[variable] !== undefined) obj[key] = env[variable];
  }
  // Name the variables, not the secret's keys, in errors: that is what a local user has to set.
  try {
    return credentialsFromObject('environment', obj);
  } catch (error) {
    if (!(error instanceof ConfigurationError)) throw error;
    let message = error.message;
    for (const [variable, key] of Object.entries(mapping)) message = message.replace(`"${key}"`, variable);
    throw new ConfigurationError(message);
  }
}

/**
 * The credential source for this process: Secrets Manager when `DANA_SECRET_ID` is set, otherwise the
 * environment variables. Cached with a TTL (`DANA_SECRET_TTL_SECONDS`, default 300).
 */
export function credentialSourceFromEnv(env: NodeJS.ProcessEnv = process.env): CredentialSource {
  const ttlSeconds = env.DANA_SECRET_TTL_SECONDS ? Number(env.DANA_SECRET_TTL_SECONDS) : undefined;
  // NaN would never count as fresh: every call would read the secret again.
  if (ttlSeconds !== undefined && !(Number.isFinite(ttlSeconds) && ttlSeconds >= 0)) {
    throw new ConfigurationError('DANA_SECRET_TTL_SECONDS must be a number of seconds, 0 or more');
  }
  const ttlMs = ttlSeconds === undefined ? DEFAULT_SECRET_TTL_MS : ttlSeconds * 1000;
  const secretId = env.DANA_SECRET_ID;
  const load = secretId ? secretsManagerLoader(secretId) : async () => credentialsFromEnv(env);
  return new CachedCredentialSource(load, ttlMs);
}
