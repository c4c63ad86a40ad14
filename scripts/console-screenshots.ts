/**
 * `npm run screenshots`: pictures of the operator console for the README, taken in Debian's chromium against
 * `npm start` (the embedded sandbox, a temporary bucket folder): docs/console-upload.png (an upload in progress),
 * docs/console-job.png (a finished job) and docs/console-schedules.png (schedules with their next runs).
 * The rate is held at one DANAConnect call (ten rows) a second, so that the upload is caught half way.
 */
import { consolePage, launchChromium, startConsoleRun } from '../test/browser/console-harness';

const ROWS = 120;

async function main(): Promise<void> {
  const run = await startConsoleRun({ DANA_RATE_LIMIT_PER_SECOND: '1' });
  const browser = await launchChromium();
  try {
    const api = (method: string, path: string, body: unknown) =>
      fetch(`${run.run.gateway.url}${path}`, {
        method,
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      });
    await api('PUT', '/aliases/newsletter', { conversationId: 1001 });
    await api('PUT', '/aliases/newsletter', { conversationId: 1002 });
    await api('PUT', '/aliases/reminders', { conversationId: 1003 });
    const errors: string[] = [];
    const page = await consolePage(browser, `${run.consoleUrl}#/upload`, errors);
    const rows = [
      'NAME,EMAIL',
      ...Array.from({ length: ROWS }, (_, i) =>
        i % 17 === 5 ? `Bad${i},${'x'.repeat(5000)}` : `Person ${i},person${i}@example.org`,
      ),
    ];
    await page.getByLabel('Conversation (alias or id)').fill('newsletter');
    await page.getByLabel('File').setInputFiles({
      name: 'march.csv',
      mimeType: 'text/csv',
      buffer: Buffer.from(`${rows.join('\n')}\n`),
    });
    await page.getByRole('button', { name: 'Upload and start' }).click();
    const rowsBar = 'progress[aria-label="Rows done"]';
    // Half way, or as near as the polling catches it (a minute at most).
    const deadline = Date.now() + 60_000;
    for (let value = 0; value < 25 && Date.now() < deadline;) {
      await page.waitForTimeout(200);
      value = Number((await page.getAttribute(rowsBar, 'value')) ?? 0);
    }
    await page.screenshot({ path: 'docs/console-upload.png' });
    await page.getByRole('heading', { name: 'Finished' }).waitFor({ timeout: 60_000 });
    await page.screenshot({ path: 'docs/console-job.png', fullPage: true });

    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    await api('POST', '/schedules', {
      name: 'weekday-reminders',
      conversation: 'reminders',
      cron: 'cron(0 9 ? * MON-FRI *)',
      timezone: 'America/Bogota',
      description: 'Weekdays at 9:00 in Bogotá',
    });
    await api('POST', '/schedules', {
      name: 'christmas-eve',
      conversation: 'newsletter',
      at: `${tomorrow}T08:00:00`,
      timezone: 'America/Caracas',
    });
    await page.goto(`${run.consoleUrl}#/schedules`);
    await page.locator('tr[data-schedule="christmas-eve"]').waitFor();
    await page.screenshot({ path: 'docs/console-schedules.png', fullPage: true });
    if (errors.length > 0) throw new Error(`the page reported errors: ${errors.join('; ')}`);
    console.log('wrote docs/console-upload.png, docs/console-job.png, docs/console-schedules.png');
  } finally {
    await browser.close();
    await run.close();
  }
}

await main();
