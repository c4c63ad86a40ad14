/**
 * The operator console in a real browser (issue 13): Debian's chromium, headless, driven by playwright-core
 * against `npm start` (startLocal: local gateway, embedded sandbox, upload pipeline on a temporary bucket folder).
 * An operator uploads a CSV and watches both bars reach 100 %, downloads the report (compared byte for byte with
 * the report in LOCAL_BUCKET_DIR), changes an alias through its form, creates a one-time schedule in a non-UTC
 * zone, sees its next run, deletes it; axe-core finds no serious or critical violation on any view. The page runs
 * under its real Content-Security-Policy: any script error or CSP violation fails the test.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../lambdas/core/errors';
import { parseSchedule } from '../../lambdas/core/schedules';
import {
  CHROMIUM_PATH,
  consolePage,
  launchChromium,
  startConsoleRun,
  type ConsoleRun,
} from './console-harness';

/** Without chromium the tests are skipped on a developer's machine, never in CI (.ci/run installs it). */
const noBrowser = !CHROMIUM_PATH && !process.env.CI;
if (noBrowser)
  console.warn('console browser tests skipped: chromium is not installed (apt-get install -y chromium)');

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

let run: ConsoleRun;
let browser: Browser;
let page: Page;
const errors: string[] = [];

/** Every file under `dir`, recursively, relative to it. */
function filesUnder(dir: string, prefix = ''): string[] {
  return readdirSync(join(dir, prefix), { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? filesUnder(dir, join(prefix, entry.name)) : [join(prefix, entry.name)],
  );
}

async function apiCall(method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${run.run.gateway.url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

/** axe-core's serious and critical violations on the page as it is now (evaluated over CDP: the CSP stays on). */
async function seriousViolations(): Promise<string[]> {
  await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const axe = (
      globalThis as unknown as {
        axe: {
          run(): Promise<{ violations: { id: string; impact: string; nodes: { target: string[] }[] }[] }>;
        };
      }
    ).axe;
    return (await axe.run()).violations;
  });
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

beforeAll(async () => {
  if (!noBrowser) browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
});

/** The reason the API's validator gives for a schedule with these fields (and valid others). */
function apiReasonFor(fields: Record<string, unknown>): string {
  try {
    parseSchedule({ name: 'n', conversation: 1001, timezone: 'UTC', ...fields }, new Date());
  } catch (error) {
    if (error instanceof InvalidInputError) return error.reason;
    throw error;
  }
  throw new Error('the API accepts these fields');
}

describe.skipIf(noBrowser)('the operator console in chromium', () => {
  beforeAll(async () => {
    run = await startConsoleRun();
    page = await consolePage(browser, run.consoleUrl, errors);
  });
  afterAll(async () => {
    await run?.close();
  });
  afterEach(() => {
    expect(errors, 'script errors or CSP violations in the page').toEqual([]);
  });

  it('is served with a strict CSP and the other security headers, and no file from elsewhere', async () => {
    const answer = await fetch(run.consoleUrl);
    expect(answer.status).toBe(200);
    const csp = answer.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(answer.headers.get('x-content-type-options')).toBe('nosniff');
    expect(answer.headers.get('strict-transport-security')).toMatch(/max-age=\d+/);
    const html = await answer.text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/); // no inline script
    expect(html).not.toMatch(/https?:\/\//); // nothing from a CDN
  });

  it('uploads a CSV: both bars reach 100 %, the report downloads and matches the one in the bucket', async () => {
    await page.goto(`${run.consoleUrl}#/upload`);
    await page.getByLabel('Conversation (alias or id)').fill('1001');
    const csv = [
      'NAME,EMAIL',
      'Lin,lin@example.net',
      'Rosa,rosa@example.net',
      'Alan,alan@example.org',
      `Joan,${'x'.repeat(5000)}`,
      'Edsger,edsger@example.org',
    ].join('\n');
    await page
      .getByLabel('File')
      .setInputFiles({ name: 'march.csv', mimeType: 'text/csv', buffer: Buffer.from(`${csv}\n`) });
    await page.getByRole('button', { name: 'Upload and start' }).click();
    await expect
      .poll(() => page.getAttribute('progress[aria-label="Bytes sent"]', 'value'), { timeout: 15_000 })
      .toBe('100');
    await expect
      .poll(() => page.getAttribute('progress[aria-label="Rows done"]', 'value'), { timeout: 20_000 })
      .toBe('100');
    await page.getByRole('heading', { name: 'Finished' }).waitFor();
    expect(await page.locator('[data-count="total"]').textContent()).toBe('5');
    expect(await page.locator('[data-count="started"]').textContent()).toBe('4');
    expect(await page.locator('[data-count="rejected"]').textContent()).toBe('1');
    // The first rejected row is listed with its reason.
    expect(await page.locator('table.outcomes tbody tr').count()).toBe(1);
    expect(await page.locator('table.outcomes tbody').textContent()).toContain('rejected');

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('link', { name: 'Download report.csv' }).click(),
    ]);
    const downloaded = readFileSync((await download.path())!);
    const reports = filesUnder(run.bucketDir).filter(
      (f) => f.startsWith('reports') && f.endsWith('.report.csv'),
    );
    expect(reports).toHaveLength(1);
    expect(downloaded.equals(readFileSync(join(run.bucketDir, reports[0]!)))).toBe(true);
    expect(downloaded.toString('utf8').split('\n')[0]).toMatch(/row/i);

    // The jobs table lists it as done; axe on the finished upload and on the jobs table.
    expect(await seriousViolations()).toEqual([]);
    await page.goto(`${run.consoleUrl}#/jobs`);
    await page.locator('table.jobs tbody tr').first().waitFor();
    expect(await page.locator('table.jobs tbody tr').first().textContent()).toContain('done');
    expect(await seriousViolations()).toEqual([]);
  });

  it('changes an alias through its form, after a confirmation naming what follows it', async () => {
    await page.goto(`${run.consoleUrl}#/aliases`);
    await page.getByLabel('Alias name').fill('newsletter');
    await page.getByLabel('Conversation id', { exact: true }).fill('1001');
    await page.getByRole('button', { name: 'Create alias' }).click();
    const item = page.locator('article[data-alias="newsletter"]');
    await item.waitFor();
    expect(await item.locator('.current-id').textContent()).toBe('1001');

    const follower = {
      name: 'newsletter-weekly',
      conversation: 'newsletter',
      cron: 'cron(0 9 ? * MON *)',
      timezone: 'America/Bogota',
    };
    expect((await apiCall('POST', '/schedules', follower)).status).toBe(201);
    await item.getByLabel('New conversation id for newsletter').fill('1002');
    await item.getByRole('button', { name: 'Change' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    expect(await dialog.textContent()).toContain('uploads/newsletter/');
    expect(await dialog.textContent()).toContain('schedules: newsletter-weekly');
    expect(await seriousViolations()).toEqual([]);
    await dialog.getByRole('button', { name: 'Point at 1002' }).click();
    await expect.poll(() => item.locator('.current-id').textContent()).toBe('1002');
    const stored = (await (await apiCall('GET', '/aliases/newsletter')).json()) as {
      conversationId: number;
      history: unknown[];
    };
    expect(stored.conversationId).toBe(1002);
    expect(stored.history).toHaveLength(2);
    expect(await seriousViolations()).toEqual([]);
    expect((await apiCall('DELETE', '/schedules/newsletter-weekly')).status).toBe(204);
  });

  it('shows the API’s own error next to the field it names', async () => {
    await page.goto(`${run.consoleUrl}#/aliases`);
    await page.getByLabel('Alias name').fill('Bad Name');
    await page.getByLabel('Conversation id', { exact: true }).fill('1001');
    await page.getByRole('button', { name: 'Create alias' }).click();
    const name = page.getByLabel('Alias name');
    await expect.poll(() => name.getAttribute('aria-invalid')).toBe('true');
  });

  it('creates a one-time schedule in America/Caracas, shows its next run, then deletes it', async () => {
    await page.goto(`${run.consoleUrl}#/schedules`);
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    // As you type: a bad cron is refused under its field with the API's own words, before anything is sent.
    await page.getByLabel('Runs').selectOption('cron');
    await page.getByLabel('Cron').fill('cron(0 25 ? * MON *)');
    const cronError = page.locator('.field-error[data-for]').filter({ hasText: /\S/ });
    await expect
      .poll(() => cronError.allTextContents())
      .toEqual([apiReasonFor({ cron: 'cron(0 25 ? * MON *)' })]);
    await page.getByLabel('Runs').selectOption('at');
    await page.getByLabel('Name', { exact: true }).fill('console-once');
    await page.getByLabel('Conversation (alias or id)').fill('1001');
    await page.getByLabel('Time zone').fill('America/Caracas');
    await page.getByLabel('Local date and time').fill(`${tomorrow}T08:00:00`);
    // The as-you-type check found nothing wrong and previews the run.
    await page.locator('.preview li').first().waitFor();
    expect(await seriousViolations()).toEqual([]);
    await page.getByRole('button', { name: 'Create schedule' }).click();
    const row = page.locator('tr[data-schedule="console-once"]');
    await row.waitFor();
    const stored = (await (await apiCall('GET', '/schedules/console-once')).json()) as {
      nextRuns: { utc: string }[];
    };
    // Caracas is UTC-4 all year: 08:00 there is 12:00 UTC.
    expect(stored.nextRuns[0]!.utc).toMatch(new RegExp(`^${tomorrow}T12:00:00`));
    const shown = await row.locator('.runs li').first().textContent();
    expect(shown).toContain('(America/Caracas)');
    expect(shown).toContain('Europe/Madrid'); // the viewer's zone (the browser context's)
    const inCaracas = new Intl.DateTimeFormat(undefined, {
      dateStyle: 'medium',
      timeStyle: 'medium',
      timeZone: 'America/Caracas',
    }).format(new Date(stored.nextRuns[0]!.utc));
    expect(shown).toContain(inCaracas.replace(/\u202f/g, ' ').slice(0, 6));
    expect(await seriousViolations()).toEqual([]);

    await row.getByRole('button', { name: 'Delete console-once' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
    await row.waitFor({ state: 'detached' });
    expect((await apiCall('GET', '/schedules/console-once')).status).toBe(404);
  });

  it('says so and offers a retry when the gateway stops answering', async () => {
    await page.goto(`${run.consoleUrl}#/jobs`);
    await page.locator('table.jobs').waitFor();
    await page.route('**/jobs?*', (route) => route.abort('connectionrefused'));
    await page.getByLabel('State').selectOption('done');
    const alert = page.getByRole('alert').filter({ hasText: 'did not answer' });
    await alert.waitFor();
    await page.unroute('**/jobs?*');
    await alert.getByRole('button', { name: 'Retry' }).click();
    await alert.waitFor({ state: 'hidden' });
  });
});

describe.skipIf(noBrowser)('the console with LOCAL_API_KEY set', () => {
  let keyed: ConsoleRun;
  afterAll(async () => {
    await keyed?.close();
  });

  it('asks for the key, keeps it in sessionStorage only, and asks again when it is wrong', async () => {
    keyed = await startConsoleRun({ LOCAL_API_KEY: 'console-test-key' });
    const keyErrors: string[] = [];
    const keyPage = await consolePage(browser, `${keyed.consoleUrl}#/aliases`, keyErrors);
    await keyPage.getByLabel('API key').fill('wrong-key');
    await keyPage.getByRole('button', { name: 'Continue' }).click();
    await keyPage.getByText('The API key was refused').waitFor();
    await keyPage.getByLabel('API key').fill('console-test-key');
    await keyPage.getByRole('button', { name: 'Continue' }).click();
    await keyPage.getByRole('heading', { name: 'Aliases' }).waitFor();
    await keyPage.getByText('No aliases yet.').waitFor();
    const stored = await keyPage.evaluate(() => {
      const storage = globalThis as unknown as {
        localStorage: { length: number };
        sessionStorage: { length: number };
      };
      return { local: storage.localStorage.length, session: storage.sessionStorage.length };
    });
    expect(stored).toEqual({ local: 0, session: 1 });
    await keyPage.context().close();
  });
});
