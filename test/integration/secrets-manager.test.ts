/**
 * lambdas/adapters/credentials.ts against a real Secrets Manager API (moto_server), including a rotation picked
 * up on refresh, and end to end through the DanaClient and the sandbox. One aws-sdk-client-mock unit test at the end.
 */
import { randomUUID } from 'node:crypto';
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import {
  credentialSourceFromEnv,
  SECRETS_MANAGER_TIMEOUTS,
  secretsManagerClient,
  secretsManagerLoader,
} from '../../lambdas/adapters/credentials';
import { CachedCredentialSource } from '../../lambdas/core/credentials';
import { DanaClient } from '../../lambdas/core/dana-client';
import { ConfigurationError } from '../../lambdas/core/errors';
import { DEMO_USER, startSandbox, type Sandbox } from '../../local/sandbox/server';

const endpoint = inject('motoEndpoint');
const client = new SecretsManagerClient({ endpoint, region: 'us-east-1' });

async function createSecret(value: unknown): Promise<string> {
  const name = `dana/test/${randomUUID()}`;
  await client.send(new CreateSecretCommand({ Name: name, SecretString: JSON.stringify(value) }));
  return name;
}

const putSecret = (secretId: string, value: unknown) =>
  client.send(new PutSecretValueCommand({ SecretId: secretId, SecretString: JSON.stringify(value) }));

afterAll(() => client.destroy());

describe('secretsManagerLoader against moto', () => {
  it('reads an API 1.0 secret', async () => {
    const id = await createSecret(DEMO_USER);
    await expect(secretsManagerLoader(id, client)()).resolves.toEqual({ apiVersion: '1.0', ...DEMO_USER });
  });

  it('reads an API 2.0 secret', async () => {
    const id = await createSecret({ clientId: 'c', clientSecret: 's' });
    await expect(secretsManagerLoader(id, client)()).resolves.toEqual({
      apiVersion: '2.0',
      clientId: 'c',
      clientSecret: 's',
    });
  });

  it('a rotation (PutSecretValue) is picked up on refresh, not before', async () => {
    const id = await createSecret(DEMO_USER);
    const source = new CachedCredentialSource(secretsManagerLoader(id, client), 60_000);
    expect(await source.get()).toMatchObject({ password: DEMO_USER.password });
    await putSecret(id, { ...DEMO_USER, password: 'rotated-password' });
    expect(await source.get()).toMatchObject({ password: DEMO_USER.password });
    expect(await source.get({ refresh: true })).toMatchObject({ password: 'rotated-password' });
    expect(await source.get()).toMatchObject({ password: 'rotated-password' });
  });

  it('a malformed secret is a ConfigurationError naming the key, not the value', async () => {
    const id = await createSecret({ username: 'u', companyCode: 'C', passwd: 'leaked-value' });
    const error = await secretsManagerLoader(id, client)().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as Error).message).toContain('"password"');
    expect((error as Error).message).toContain(id);
    expect((error as Error).message).not.toContain('leaked-value');
  });

  it('a missing secret fails with the SDK’s ResourceNotFoundException', async () => {
    const error = await secretsManagerLoader(`dana/missing/${randomUUID()}`, client)().catch(
      (e: unknown) => e,
    );
    expect((error as Error).name).toBe('ResourceNotFoundException');
  });
});

describe('the time a Secrets Manager read may take', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('the environment’s client has connection and request timeouts, and a passed request timeout throws', async () => {
    vi.stubEnv('AWS_ENDPOINT_URL_SECRETS_MANAGER', endpoint);
    const own = secretsManagerClient();
    try {
      const id = await createSecret(DEMO_USER);
      await expect(secretsManagerLoader(id, own)()).resolves.toMatchObject({ apiVersion: '1.0' });
      // The handler (the SDK's NodeHttpHandler) resolves its configuration on first use.
      const handler = own.config.requestHandler as unknown as { httpHandlerConfigs(): object };
      expect(handler.httpHandlerConfigs()).toMatchObject(SECRETS_MANAGER_TIMEOUTS);
      expect(SECRETS_MANAGER_TIMEOUTS.throwOnRequestTimeout).toBe(true);
    } finally {
      own.destroy();
    }
  });

  it('the read is sent with the caller’s abort signal (the invocation’s deadline)', async () => {
    const id = await createSecret(DEMO_USER);
    const error = await secretsManagerLoader(id, client)(AbortSignal.abort()).catch((e: unknown) => e);
    expect((error as Error).name).toBe('AbortError');
    // The same loader without a signal reads the secret.
    await expect(secretsManagerLoader(id, client)()).resolves.toMatchObject({ apiVersion: '1.0' });
  });
});

describe('credentialSourceFromEnv', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('reads DANA_SECRET_ID from Secrets Manager, with the SDK’s own endpoint configuration', async () => {
    vi.stubEnv('AWS_ENDPOINT_URL_SECRETS_MANAGER', endpoint);
    const id = await createSecret(DEMO_USER);
    const source = credentialSourceFromEnv({ DANA_SECRET_ID: id, DANA_USERNAME: 'ignored' });
    await expect(source.get()).resolves.toEqual({ apiVersion: '1.0', ...DEMO_USER });
    await putSecret(id, { ...DEMO_USER, password: 'rotated-password' });
    await expect(source.get({ refresh: true })).resolves.toMatchObject({ password: 'rotated-password' });
  });

  it('honours DANA_SECRET_TTL_SECONDS', async () => {
    vi.stubEnv('AWS_ENDPOINT_URL_SECRETS_MANAGER', endpoint);
    const id = await createSecret(DEMO_USER);
    const source = credentialSourceFromEnv({ DANA_SECRET_ID: id, DANA_SECRET_TTL_SECONDS: '0' });
    await source.get();
    await putSecret(id, { ...DEMO_USER, password: 'rotated-password' });
    // A TTL of 0 never serves the cache.
    await expect(source.get()).resolves.toMatchObject({ password: 'rotated-password' });
  });

  it('without DANA_SECRET_ID, reads the environment variables', async () => {
    const source = credentialSourceFromEnv({ DANA_CLIENT_ID: 'id', DANA_CLIENT_SECRET: 'secret' });
    await expect(source.get()).resolves.toEqual({
      apiVersion: '2.0',
      clientId: 'id',
      clientSecret: 'secret',
    });
  });
});

describe('end to end: a rotated password, Secrets Manager and DANAConnect', () => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    sandbox = await startSandbox();
  });
  afterAll(async () => {
    await sandbox.close();
  });

  it('the 401 after a rotation reloads the secret once and the start goes through once', async () => {
    const id = await createSecret(DEMO_USER);
    const dana = new DanaClient({
      credentials: new CachedCredentialSource(secretsManagerLoader(id, client), 60_000),
      baseUrl: sandbox.url,
    });
    await dana.startList(1001);
    await putSecret(id, { ...DEMO_USER, password: 'rotated-password' });
    sandbox.setUserPassword(DEMO_USER.username, 'rotated-password');
    await expect(dana.startData(1001, { NAME: 'Rotation' })).resolves.toMatchObject({ status: 200 });
    expect(sandbox.received().map((r) => r.path)).toEqual([
      '/api/1.0/rest/conversation/1001/start/list',
      '/api/1.0/rest/conversation/1001/start/data',
      '/api/1.0/rest/conversation/1001/start/data',
    ]);
    expect(sandbox.started().map((s) => s.via)).toEqual(['list', 'data']);
  });
});

describe('secretsManagerLoader with aws-sdk-client-mock (unit)', () => {
  it('asks for the configured secret id and parses its string', async () => {
    const mocked = new SecretsManagerClient({ region: 'us-east-1' });
    const mock = mockClient(mocked);
    try {
      mock
        .on(GetSecretValueCommand, { SecretId: 'dana/prod' })
        .resolves({ SecretString: JSON.stringify({ clientId: 'c', clientSecret: 's' }) });
      await expect(secretsManagerLoader('dana/prod', mocked)()).resolves.toEqual({
        apiVersion: '2.0',
        clientId: 'c',
        clientSecret: 's',
      });
      expect(mock.commandCalls(GetSecretValueCommand)).toHaveLength(1);

      // A binary-only secret has no SecretString: a configuration error, not a crash.
      mock.on(GetSecretValueCommand).resolves({ SecretBinary: new Uint8Array([1, 2, 3]) });
      await expect(secretsManagerLoader('dana/binary', mocked)()).rejects.toThrow(
        /dana\/binary: has no string value/,
      );
    } finally {
      mock.restore();
    }
  });
});
