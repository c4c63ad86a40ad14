/**
 * The log audit: across the whole suite, no password, client secret, token, Authorization header, email or phone
 * number from the test data appears in any line a test worker printed. It runs in its own vitest project after
 * every other test file (vitest.config.ts), over what ./capture-logs.ts captured.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { DEMO_CLIENT, DEMO_USER } from '../../local/sandbox/server';
import { LOG_SUFFIX, testFileOfCapture } from './capture-files';
import { CONTACT_FIELD_PATTERN, EMAIL_PATTERN, PHONE_PATTERN, SECRETS_SUFFIX } from './sensitive';

const root = new URL('../..', import.meta.url).pathname;
const testDir = join(root, 'test');

function filesUnder(dir: string, accept: (name: string) => boolean): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && accept(entry.name))
    .map((entry) => join(entry.parentPath, entry.name));
}

// The patterns are shared with the tests that audit reports and job answers the same way (./sensitive.ts).
const EMAIL = EMAIL_PATTERN;
const PHONE = PHONE_PATTERN;
const CONTACT_FIELD = CONTACT_FIELD_PATTERN;

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

/**
 * Test files that print log lines by design, each with what one of its lines looks like. The audit fails if any of
 * them printed no such line (it did not run, or its output no longer reaches the capture: a test swallowed it), so
 * that it cannot pass over logs it never saw.
 */
const KNOWN_TO_LOG: Record<string, RegExp> = {
  // Powertools JSON lines of the handlers in process, and what a Lambda runtime would print of the bundles.
  'test/integration/handlers.test.ts': /"correlation_id"/,
  'test/integration/bundled-functions.test.ts': /"level":"INFO"/,
  'test/integration/ingest-upload.test.ts': /"message":"upload ingested"/,
  'test/integration/pipeline-e2e.test.ts': /"message":"upload ingested"/,
  'test/integration/worker-sqs.test.ts': /"message":"chunk done"/,
  'test/integration/time-budget.test.ts': /"message":"request failed"/,
  'test/unit/worker-handler.test.ts': /"message":"chunk done"/,
  'test/unit/upload-handler.test.ts': /"message":"upload ingest failed"/,
  'test/unit/http-tracing.test.ts': /running untraced/,
  // The local gateway's request line and the local pipeline's progress lines.
  'test/integration/gateway.test.ts': /^GET \(no route\) 404 \d+ms$/,
  'test/integration/gateway-bad-input.test.ts': /^(GET|POST) \S+ \d{3} \d+ms$/,
  'test/integration/gateway-vendor.test.ts': /^POST \S+ 200 \d+ms$/,
  'test/integration/async-api.test.ts': /^POST \S+ 202 \d+ms$/,
  'test/integration/local-pipeline.test.ts': /^job \w+ .*: done, /,
  // `npm start` as a child process: its banner.
  'test/integration/gateway-start.test.ts': /DANAConnect gateway listening on/,
  // The installer's progress lines.
  'test/unit/python-tool.test.ts': /^installed .* into \.venv\//,
};

describe('log audit', () => {
  const dir = inject('logCaptureDir');
  const captures = filesUnder(dir, (name) => name.endsWith(LOG_SUFFIX)).map((file) => {
    const testFile = testFileOfCapture(basename(file));
    const source = testFile ?? relative(dir, file);
    return {
      testFile,
      lines: readFileSync(file, 'utf8')
        .split('\n')
        .map((text, index) => ({ where: `${source}, printed line ${index + 1}`, text })),
    };
  });
  const lines = captures.flatMap((capture) => capture.lines);

  it('has the logs of the suite to audit (run it with the whole suite: npx vitest run)', () => {
    // Handlers log one JSON line per request; without them there is nothing to audit and the check is empty.
    expect(lines.some((line) => line.text.includes('"operation":"start-data"'))).toBe(true);
    expect(lines.some((line) => line.text.includes('"correlation_id"'))).toBe(true);
  });

  it('saw the log lines of every test file known to log (none of them ran silenced)', () => {
    const missing: string[] = [];
    for (const [testFile, looksLike] of Object.entries(KNOWN_TO_LOG)) {
      // A renamed or removed file would otherwise never be looked for again.
      if (!existsSync(join(root, testFile))) {
        missing.push(`${testFile}: no such test file; update KNOWN_TO_LOG`);
        continue;
      }
      const ran = captures.filter((capture) => capture.testFile === testFile);
      if (ran.length === 0) missing.push(`${testFile}: did not run (run the audit with the whole suite)`);
      else if (!ran.some((capture) => capture.lines.some(({ text }) => looksLike.test(text)))) {
        missing.push(`${testFile}: printed no line like ${looksLike}; is its output swallowed?`);
      }
    }
    expect(missing).toEqual([]);
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
