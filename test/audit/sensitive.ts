/**
 * Secrets that only exist at run time (tokens the sandbox issued, Authorization headers the gateway sent) are
 * handed to the log audit through the capture folder, since the audit cannot find them in the test sources.
 */
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { inject } from 'vitest';
import type { Sandbox } from '../../local/sandbox/server';

export const SECRETS_SUFFIX = '.secrets';

export function rememberSecrets(values: readonly string[]): void {
  const lines = values.filter((value) => value.length > 0).map((value) => `${JSON.stringify(value)}\n`);
  if (lines.length > 0)
    appendFileSync(join(inject('logCaptureDir'), `${process.pid}${SECRETS_SUFFIX}`), lines.join(''));
}

/** Every credential the sandbox was sent: Basic headers, and bearer tokens with and without their scheme. */
export function rememberCredentialsSeenBy(sandbox: Sandbox): void {
  const values = new Set<string>();
  for (const { authorization } of sandbox.received()) {
    if (!authorization) continue;
    values.add(authorization);
    values.add(authorization.replace(/^(Basic|Bearer) /, ''));
  }
  rememberSecrets([...values]);
}
