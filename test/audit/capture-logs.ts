/**
 * A vitest setup file: tees everything this test worker writes to stdout and stderr (where the Powertools
 * Logger and the EMF metrics go) and everything it prints through `console` into the run's capture folder, for
 * the log audit (./no-secrets-in-logs.test.ts) that runs after every other test file. One file per test file
 * (./capture-files.ts), made as soon as the test file starts, so the audit knows which file printed what and
 * which files ran. Nothing is swallowed: every write still reaches the real stream.
 *
 * Tests must not replace these streams or console methods with something that does not call through (a spy that
 * only records, a SILENT logger, a lowered POWERTOOLS_LOG_LEVEL): what they print must reach this capture. A test
 * that reads its log lines spies without replacing (`vi.spyOn(process.stdout, 'write')`) or tees them.
 */
import { appendFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { format } from 'node:util';
import { expect, inject } from 'vitest';
import { captureFileName } from './capture-files';

const MARK = Symbol.for('dana-gateway.log-capture');
const TARGET = Symbol.for('dana-gateway.log-capture.target');
type Marked = { [MARK]?: true };
/** Where this worker's output goes now: the capture file of the test file it is running. */
type Target = { file: string };

const root = new URL('../..', import.meta.url).pathname;
const testFile = relative(root, expect.getState().testPath ?? 'unknown')
  .split(sep)
  .join('/');
const holder = globalThis as { [TARGET]?: Target };
const target = (holder[TARGET] ??= { file: '' });
// Setup files run again before each test file: output from here on belongs to this one. Made empty now, so that
// a test file that ran and printed nothing is told apart from one that did not run.
target.file = join(inject('logCaptureDir'), captureFileName(process.pid, testFile));
appendFileSync(target.file, '');

/** Stream writes are kept as written (a line written in two chunks stays one line); console calls are lines. */
const keep = (text: string) => appendFileSync(target.file, text);

for (const stream of [process.stdout, process.stderr]) {
  if ((stream as Marked)[MARK]) continue;
  const write = stream.write.bind(stream) as (...args: unknown[]) => boolean;
  stream.write = ((chunk: unknown, ...rest: unknown[]) => {
    keep(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
    return write(chunk, ...rest);
  }) as typeof stream.write;
  (stream as Marked)[MARK] = true;
}

// vitest gives each test file its own console, which does not write through process.stdout in this worker.
if (!(console as Marked)[MARK]) {
  for (const method of ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const) {
    const original = console[method].bind(console);
    console[method] = (...args: unknown[]) => {
      keep(`${format(...args)}\n`);
      original(...args);
    };
  }
  (console as Marked)[MARK] = true;
}
