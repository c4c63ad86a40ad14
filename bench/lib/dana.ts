/** The DanaClient as the benchmarks build it: the core client, pointed at a sandbox, with the demo API 1.0 user. */
import { CachedCredentialSource, credentialsFromObject } from '../../lambdas/core/credentials';
import { DanaClient, type DanaClientOptions } from '../../lambdas/core/dana-client';
import { DEMO_USER } from '../../local/sandbox/server';

export function sandboxClient(sandboxUrl: string, overrides: Partial<DanaClientOptions> = {}): DanaClient {
  return new DanaClient({
    baseUrl: sandboxUrl,
    // Never the real token endpoint, even by mistake: everything stays on loopback.
    tokenUrl: `${sandboxUrl}/oauth2/token`,
    credentials: new CachedCredentialSource(async () => credentialsFromObject('bench', { ...DEMO_USER })),
    ...overrides,
  });
}

/** The environment a handler (or the local gateway) needs to reach the sandbox as the demo user. */
export function sandboxEnv(sandboxUrl: string): Record<string, string> {
  return {
    DANA_BASE_URL: sandboxUrl,
    DANA_TOKEN_URL: `${sandboxUrl}/oauth2/token`,
    DANA_USERNAME: DEMO_USER.username,
    DANA_COMPANY_CODE: DEMO_USER.companyCode,
    DANA_PASSWORD: DEMO_USER.password,
  };
}
