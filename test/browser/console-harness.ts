/**
 * What the console's browser tests and `npm run screenshots` share: `npm start` (startLocal: the local gateway,
 * the embedded sandbox and the upload pipeline on a temporary bucket folder) on a free port, and Debian's
 * chromium driven headless by playwright-core. Nothing reaches any address but 127.0.0.1.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startLocal, type LocalRun } from '../../local/start';

/** Debian's chromium (`.ci/run` installs it when missing); CHROMIUM_PATH overrides. */
export const CHROMIUM_PATH =
  process.env.CHROMIUM_PATH ?? ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));

export interface ConsoleRun {
  run: LocalRun;
  bucketDir: string;
  /** http://127.0.0.1:<port>/console/ */
  consoleUrl: string;
  lines: string[];
  close(): Promise<void>;
}

/** The variables startLocal sets or reads, put back by close(). */
const TOUCHED = [
  'PORT',
  'SANDBOX_PORT',
  'LOCAL_BUCKET_DIR',
  'LOCAL_API_KEY',
  'DANA_BASE_URL',
  'DANA_TOKEN_URL',
  'DANA_API_VERSION',
  'DANA_USERNAME',
  'DANA_COMPANY_CODE',
  'DANA_PASSWORD',
  'DANA_CLIENT_ID',
  'DANA_CLIENT_SECRET',
  'DANA_SECRET_ID',
  'DANA_RATE_LIMIT_PER_SECOND',
];

export async function startConsoleRun(extraEnv: Record<string, string> = {}): Promise<ConsoleRun> {
  const saved = new Map(TOUCHED.map((name) => [name, process.env[name]]));
  const bucketDir = mkdtempSync(join(tmpdir(), 'console-bucket-'));
  for (const name of TOUCHED) delete process.env[name];
  Object.assign(process.env, {
    PORT: '0',
    LOCAL_BUCKET_DIR: bucketDir,
    DANA_RATE_LIMIT_PER_SECOND: '200',
    ...extraEnv,
  });
  const lines: string[] = [];
  // The handlers read process.env, as `npm start` runs them: the same object is handed in.
  const run = await startLocal(process.env, { log: (line) => lines.push(line) });
  return {
    run,
    bucketDir,
    consoleUrl: `${run.gateway.url}/console/`,
    lines,
    async close() {
      await run.close();
      rmSync(bucketDir, { recursive: true, force: true });
      for (const [name, value] of saved) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    },
  };
}

export async function launchChromium(): Promise<Browser> {
  if (!CHROMIUM_PATH) throw new Error('chromium is not installed (apt-get install -y chromium)');
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    // Only loopback: no component updates, no background networking, no metrics.
    args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
}

/** A page that fails loudly on a CSP violation or a script error, which a user would otherwise not notice. */
export async function consolePage(browser: Browser, url: string, errors: string[]): Promise<Page> {
  const context = await browser.newContext({
    acceptDownloads: true,
    viewport: { width: 1280, height: 900 },
    timezoneId: 'Europe/Madrid',
  });
  const page = await context.newPage();
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error' && !/Failed to load resource/.test(message.text())) {
      errors.push(`console: ${message.text()}`);
    }
  });
  await page.goto(url);
  return page;
}
