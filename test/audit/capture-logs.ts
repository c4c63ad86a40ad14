/**
 * A vitest setup file: tees everything this test worker writes to stdout and stderr (where the Powertools
 * Logger and the EMF metrics go) and everything it prints through `console` into a per-process file in the
 * run's capture folder, for the log audit (./no-secrets-in-logs.test.ts) that runs after every other test file.
 */
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { format } from 'node:util';
import { inject } from 'vitest';

const MARK = Symbol.for('dana-gateway.log-capture');
type Marked = { [MARK]?: true };

const dir = inject('logCaptureDir');
const file = join(dir, `${process.pid}.log`);
const keep = (text: string) => appendFileSync(file, text.endsWith('\n') ? text : `${text}\n`);

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
      keep(format(...args));
      original(...args);
    };
  }
  (console as Marked)[MARK] = true;
}
