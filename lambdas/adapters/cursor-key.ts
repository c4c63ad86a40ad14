/**
 * The key that seals `GET /jobs` cursors (../core/job-list.ts). In AWS: a Secrets Manager secret the stack
 * generates (JOBS_CURSOR_SECRET_ARN), read once per execution environment, from which a 256-bit key is derived
 * with HKDF (so the secret's text format does not matter and the key serves this purpose only). Without the
 * variable outside Lambda (the local gateway, tests): a random key per process, so cursors last as long as the
 * process. Inside Lambda without it: a configuration error, never a key anyone could guess.
 */
import { hkdfSync, randomBytes } from 'node:crypto';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ConfigurationError } from '../core/errors';
import { awsClientConfig } from './aws-clients';

const KEY_INFO = 'dana-gateway jobs list cursor v1';

const processKey = randomBytes(32);

export function deriveCursorKey(secret: string): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(secret, 'utf8'), Buffer.alloc(0), KEY_INFO, 32));
}

/** A getter for the key, built on first use and kept for the execution environment. */
export function cursorKeyFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  client?: SecretsManagerClient,
): () => Promise<Buffer> {
  let key: Promise<Buffer> | undefined;
  return () => {
    const secretId = env.JOBS_CURSOR_SECRET_ARN;
    if (!secretId) {
      if (env.AWS_LAMBDA_FUNCTION_NAME) throw new ConfigurationError('JOBS_CURSOR_SECRET_ARN is not set');
      return Promise.resolve(processKey);
    }
    key ??= (async () => {
      const sm = client ?? new SecretsManagerClient(awsClientConfig('secretsmanager'));
      const answer = await sm.send(new GetSecretValueCommand({ SecretId: secretId }));
      if (!answer.SecretString) throw new ConfigurationError('JOBS_CURSOR_SECRET_ARN holds no string');
      return deriveCursorKey(answer.SecretString);
    })().catch((error: unknown) => {
      key = undefined; // a passing failure is tried again on the next request
      throw error;
    });
    return key;
  };
}
