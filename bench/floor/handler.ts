/**
 * The floor of the bundle-size and cold-init benchmarks: a function that does nothing but read one secret with
 * the AWS SDK, which every one of our HTTP functions must do anyway. Bundled by ./app.ts with the house construct.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

const client = new SecretsManagerClient({});

export const handler = async (): Promise<number> => {
  const answer = await client.send(new GetSecretValueCommand({ SecretId: process.env.DANA_SECRET_ID }));
  return answer.SecretString?.length ?? 0;
};
