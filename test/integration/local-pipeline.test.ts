/**
 * The local pipeline of `npm start` on a temporary bucket folder, against the sandbox: a CSV dropped into
 * `uploads/{conversationId}/` is picked up, ingested and worked by the same core as in AWS, and its report and
 * summary appear under `reports/`; progress is printed while it runs. A file changed in place is a new job; files
 * there before the start, dotfiles and a key without a conversation id are handled as documented.
 * Waits poll with a deadline (a guard against a hang); nothing asserts timing. That nothing happened is asserted
 * after the polls that would have done it (the pipeline's onPoll), never after a sleep.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ReportSummary } from '../../lambdas/core/reports';
import { startPipeline, type Pipeline, type PipelineOptions } from '../../local/pipeline';
import { startSandbox, type Sandbox } from '../../local/sandbox/server';
import { rememberCredentialsSeenBy } from '../audit/sensitive';
import { sandboxEnv } from '../fixtures/http';
import { reportRows } from './worker-harness';

let sandbox: Sandbox;
let dir: string;
let pipeline: Pipeline | undefined;
let lines: string[];
/** Polls of the uploads folder the pipeline has completed (its onPoll). */
let polls: number;

async function until<T>(what: string, probe: () => T | undefined): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what} did not happen; output:\n${lines.join('\n')}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function start(): Promise<Pipeline> {
  pipeline = await startPipeline(pipelineOptions(dir, lines, () => polls++));
  return pipeline;
}

/**
 * A pipeline on `bucketDir` that polls often, against `upstream`; its lines are kept in `into` and printed as
 * `npm start` prints them.
 */
function pipelineOptions(
  bucketDir: string,
  into: string[],
  onPoll: () => void,
  upstream: Sandbox = sandbox,
): PipelineOptions {
  return {
    bucketDir,
    env: { ...process.env, ...sandboxEnv(upstream, '1.0'), DANA_RATE_LIMIT_PER_SECOND: '200' },
    pollMs: 25,
    progressMs: 25,
    queue: { concurrency: 1 },
    log: (line) => {
      into.push(line);
      console.log(line);
    },
    onPoll,
  };
}

/** Once `count` more polls of the pipeline have completed. */
async function polled(count: number): Promise<void> {
  const target = polls + count;
  await until(`${count} poll(s)`, () => (polls >= target ? true : undefined));
}

/** A CSV of `total` unique contacts; `invalid` rows have one cell too many. */
function contacts(total: number, tag: string, invalid: number[] = []): string {
  const rows = ['NAME,CODE'];
  for (let row = 1; row <= total; row++) {
    rows.push(invalid.includes(row) ? `P${row},${tag}-${row},extra` : `P${row},${tag}-${row}`);
  }
  return rows.join('\n') + '\n';
}

function drop(key: string, body: string): void {
  const path = join(dir, key);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, body);
}

const summaryAt = (key: string) => () => {
  const path = join(dir, key);
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as ReportSummary) : undefined;
};

beforeEach(async () => {
  sandbox = await startSandbox();
  dir = mkdtempSync(join(tmpdir(), 'local-pipeline-'));
  lines = [];
  polls = 0;
});
afterEach(async () => {
  await pipeline?.close();
  pipeline = undefined;
  rememberCredentialsSeenBy(sandbox);
  await sandbox.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the local pipeline (npm start)', () => {
  it('processes a dropped CSV into a report, printing progress and a final line', async () => {
    // Slow enough answers that the job is seen running (progress lines are only printed while it runs).
    sandbox.setFaults({ latencyMs: 30 });
    await start();
    drop('uploads/1001/march/contacts list.csv', contacts(45, 'm', [7, 30]));

    const summary = await until(
      'the summary',
      summaryAt('reports/1001/march/contacts list.csv.summary.json'),
    );
    expect(summary).toMatchObject({ total: 45, started: 43, rejected: 2, failed: 0 });
    const rows = reportRows(
      readFileSync(join(dir, 'reports/1001/march/contacts list.csv.report.csv'), 'utf8'),
    );
    expect(rows.map((r) => r.row)).toEqual(Array.from({ length: 45 }, (_, i) => i + 1));
    expect(rows.filter((r) => r.status === 'rejected').map((r) => r.row)).toEqual([7, 30]);
    expect(rows.filter((r) => r.status === 'started').every((r) => r.idResult! > 0)).toBe(true);
    expect(sandbox.started()).toHaveLength(43);
    expect(sandbox.duplicates()).toEqual([]);

    const jobId = summary.jobId!;
    const final = await until('the final line', () => lines.find((l) => l.includes(': done, ')));
    expect(final).toBe(
      `job ${jobId} march/contacts list.csv: done, 45 rows: 43 started, 2 rejected, 0 failed; ` +
        `report ${join(dir, 'reports/1001/march/contacts list.csv.report.csv')}`,
    );
    expect(lines).toContain(`upload uploads/1001/march/contacts list.csv: taken as job ${jobId}`);
    const progress = lines
      .map((l) => new RegExp(`^job ${jobId} march/contacts list\\.csv: (\\d+)/45 rows done$`).exec(l))
      .filter((m) => m !== null)
      .map((m) => Number(m[1]));
    expect(progress.length).toBeGreaterThan(0);
    expect(progress).toEqual([...progress].sort((a, b) => a - b)); // never goes back
    expect(progress.every((done) => done < 45)).toBe(true);
    // Only job lines, upload lines and counts: no row contents.
    expect(lines.join('\n')).not.toMatch(/m-\d/);
  });

  it('a file changed in place is a new job; one left unchanged is not taken again', async () => {
    await start();
    drop('uploads/1002/weekly.csv', contacts(3, 'w1'));
    const first = await until('the first report', summaryAt('reports/1002/weekly.csv.summary.json'));
    expect(first).toMatchObject({ total: 3, started: 3 });

    drop('uploads/1002/weekly.csv', contacts(5, 'w2'));
    const second = await until('the second report', () => {
      const summary = summaryAt('reports/1002/weekly.csv.summary.json')();
      return summary && summary.jobId !== first.jobId ? summary : undefined;
    });
    expect(second).toMatchObject({ total: 5, started: 5 });
    // Same content touched to a new mtime: a new upload, a new job (as a new S3 object version would be).
    const later = new Date(Date.now() + 60_000);
    utimesSync(join(dir, 'uploads/1002/weekly.csv'), later, later);
    const third = await until('the third report', () => {
      const summary = summaryAt('reports/1002/weekly.csv.summary.json')();
      return summary && summary.jobId !== second.jobId ? summary : undefined;
    });
    expect(third).toMatchObject({ total: 5, started: 5 });
    expect(sandbox.started()).toHaveLength(3 + 5 + 5);
    expect(lines.filter((l) => l.startsWith('upload uploads/1002/weekly.csv: taken'))).toHaveLength(3);
  });

  it('leaves files there before the start alone, ignores dotfiles, reports a key without a conversation id', async () => {
    drop('uploads/1001/old.csv', contacts(2, 'old'));
    await start();
    expect(lines[0]).toMatch(/^1 file\(s\) already in .* left alone/);
    // Two polls that saw it unchanged: a file not left alone would have been taken by now.
    await polled(2);
    expect(lines.filter((l) => l.startsWith('upload '))).toEqual([]);
    drop('uploads/1001/.~lock.new.csv#', 'x');
    // Neither an id nor an alias name (`abc` would be an alias).
    drop('uploads/Abc/list.csv', contacts(2, 'bad'));
    const summary = await until(
      'the rejection summary',
      summaryAt('reports/_invalid/Abc/list.csv.summary.json'),
    );
    expect(summary).toMatchObject({ total: 0, started: 0 });
    expect(summary.error).toBeTruthy();
    drop('uploads/1001/new.csv', contacts(2, 'new'));
    await until('the new report', summaryAt('reports/1001/new.csv.summary.json'));

    expect(existsSync(join(dir, 'reports/1001/old.csv.summary.json'))).toBe(false);
    expect(lines.some((l) => l.includes('.~lock'))).toBe(false);
    expect(lines.some((l) => l.startsWith('upload uploads/Abc/list.csv: rejected as a whole'))).toBe(true);
    expect(sandbox.started()).toHaveLength(2);
  });

  it('stops cleanly: nothing is taken after close()', async () => {
    await start();
    await polled(1);
    await pipeline!.close();
    const pollsAtClose = polls;
    // A live pipeline over the same folder (with its own sandbox), polling as often: it takes the file dropped
    // now, which the closed one had as long to take.
    const witnessSandbox = await startSandbox();
    const witness = await startPipeline(pipelineOptions(dir, [], () => undefined, witnessSandbox));
    try {
      drop('uploads/1001/late.csv', contacts(2, 'late'));
      const summary = await until(
        'the live pipeline’s report',
        summaryAt('reports/1001/late.csv.summary.json'),
      );
      expect(summary).toMatchObject({ total: 2, started: 2 });
    } finally {
      await witness.close();
      rememberCredentialsSeenBy(witnessSandbox);
      await witnessSandbox.close();
    }
    expect(polls).toBe(pollsAtClose);
    expect(lines.filter((l) => l.startsWith('upload '))).toEqual([]);
    expect(sandbox.received()).toEqual([]);
    pipeline = undefined;
  });
});
