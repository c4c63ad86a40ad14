/**
 * The log audit: across the whole suite, no password, client secret, token, Authorization header, email or phone
 * number from the test data appears in any line a test worker printed. It runs in its own vitest project after
 * every other test file (vitest.config.ts), over what ./capture-logs.ts captured.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { DEMO_CLIENT, DEMO_USER } from '../../local/sandbox/server';
import { SECRETS_SUFFIX } from './sensitive';

const root = new URL('../..', import.meta.url).pathname;
const testDir = join(root, 'test');

function filesUnder(dir: string, accept: (name: string) => boolean): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && accept(entry.name))
    .map((entry) => join(entry.parentPath, entry.name));
}

const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g;
const PHONE = /\+\d{7,15}\b/g;
/** Values of email/phone-like fields, however they are written (the vendor's batch has "EMAIL":"954222233"). */
const CONTACT_FIELD =
  /"?[A-Za-z0-9_-]*(?:EMAIL|PHONE|MOBILE|[Ee]mail|[Pp]hone)[A-Za-z0-9_-]*"?\s*:\s*['"]([^'"]{6,})['"]/g;

/** Every email address and phone number in the test sources and fixtures. */
function personalDataInTests(): string[] {
  const found = new Set<string>();
  const self = new URL(import.meta.url).pathname;
  for (const file of filesUnder(testDir, (name) => /\.(ts|json|csv|txt)$/.test(name))) {
    if (file === self) continue;
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(EMAIL)) found.add(match[0]);
    for (const match of text.matchAll(PHONE)) found.add(match[0]);
    for (const match of text.matchAll(CONTACT_FIELD)) found.add(match[1]!);
  }
  return [...found];
}

function knownSecrets(): string[] {
  const basic = (login: string, password: string) => Buffer.from(`${login}:${password}`).toString('base64');
  return [
    DEMO_USER.password,
    DEMO_CLIENT.clientSecret,
    basic(`${DEMO_USER.username}@${DEMO_USER.companyCode}`, DEMO_USER.password),
    basic(DEMO_CLIENT.clientId, DEMO_CLIENT.clientSecret),
  ];
}

/** Tokens and headers the tests saw at run time (./sensitive.ts). */
function secretsSeenAtRunTime(dir: string): string[] {
  return filesUnder(dir, (name) => name.endsWith(SECRETS_SUFFIX)).flatMap((file) =>
    readFileSync(file, 'utf8')
      .split('\n')
      .filter((line) => line.length > 0)
      .map((line) => JSON.parse(line) as string),
  );
}

/** Whatever the value: a bearer token or the caller's SigV4 header has no business in a log. */
const FORBIDDEN_PATTERNS = [
  /Bearer [A-Za-z0-9._~+/-]{16,}/,
  /AWS4-HMAC-SHA256 Credential=/,
  /"access_token"/,
];

describe('log audit', () => {
  const dir = inject('logCaptureDir');
  const lines = filesUnder(dir, (name) => name.endsWith('.log')).flatMap((file) =>
    readFileSync(file, 'utf8')
      .split('\n')
      .map((text, index) => ({ where: `${relative(dir, file)}:${index + 1}`, text })),
  );

  it('has the logs of the suite to audit (run it with the whole suite: npx vitest run)', () => {
    // Handlers log one JSON line per request; without them there is nothing to audit and the check is empty.
    expect(lines.some((line) => line.text.includes('"operation":"start-data"'))).toBe(true);
    expect(lines.some((line) => line.text.includes('"correlation_id"'))).toBe(true);
  });

  it('finds no password, secret, token, email or phone number from the test data in any log line', () => {
    const sensitive = [
      ...new Set([...knownSecrets(), ...secretsSeenAtRunTime(dir), ...personalDataInTests()]),
    ];
    // The audit would be toothless without test data to look for.
    expect(sensitive).toEqual(
      expect.arrayContaining([DEMO_USER.password, DEMO_CLIENT.clientSecret, 'support@danaconnect.com']),
    );
    const leaks: string[] = [];
    for (const { where, text } of lines) {
      for (const value of sensitive) if (text.includes(value)) leaks.push(`${where}: contains ${value}`);
      for (const pattern of FORBIDDEN_PATTERNS) {
        if (pattern.test(text)) leaks.push(`${where}: matches ${pattern}`);
      }
    }
    expect(leaks).toEqual([]);
  });
});
