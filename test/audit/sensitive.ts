/**
 * Secrets that only exist at run time (tokens the sandbox issued, Authorization headers the gateway sent) are
 * handed to the log audit through the capture folder, since the audit cannot find them in the test sources.
 */
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { inject } from 'vitest';
import type { Sandbox } from '../../local/sandbox/server';

export const SECRETS_SUFFIX = '.secrets';

/**
 * What the audit calls personal data: an email address, a phone number, the value of an email- or phone-like
 * field. The log audit looks for these in every log line; tests apply the same to reports and job answers
 * (personalDataIn), which must hold none either.
 */
export const EMAIL_PATTERN = /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g;
export const PHONE_PATTERN = /\+\d{7,15}\b/g;
/** Values of email/phone-like fields, however they are written (the vendor's batch has "EMAIL":"954222233"). */
export const CONTACT_FIELD_PATTERN =
  /"?[A-Za-z0-9_-]*(?:EMAIL|PHONE|MOBILE|[Ee]mail|[Pp]hone)[A-Za-z0-9_-]*"?\s*:\s*['"]([^'"]{6,})['"]/g;

/** Every email address and phone number in `text`, and `values` (known personal data) it contains. */
export function personalDataIn(text: string, values: readonly string[] = []): string[] {
  const found = new Set<string>();
  for (const match of text.matchAll(EMAIL_PATTERN)) found.add(match[0]);
  for (const match of text.matchAll(PHONE_PATTERN)) found.add(match[0]);
  for (const value of values) if (text.includes(value)) found.add(value);
  return [...found];
}

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
