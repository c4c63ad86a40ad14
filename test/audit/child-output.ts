/**
 * What our code prints in a child process (`npm start`, a bundled function, a CLI) is passed on to this test
 * worker's own stdout and stderr, so that it is printed and reaches the log audit (./capture-logs.ts) like what it
 * prints in process. A test that reads the child's output still reads its pipes as before.
 */
import type { ChildProcess } from 'node:child_process';
import { StringDecoder } from 'node:string_decoder';
import type { Readable } from 'node:stream';

/** Passes the child's stdout and stderr on, whole lines at a time (a line is never split across two writes). */
export function relayOutput(child: ChildProcess): void {
  relay(child.stdout, process.stdout);
  relay(child.stderr, process.stderr);
}

/** Passes on what a finished child printed (spawnSync's stdout and stderr). */
export function relayPrinted(printed: {
  stdout?: string | Buffer | null;
  stderr?: string | Buffer | null;
}): void {
  for (const [text, to] of [
    [printed.stdout, process.stdout],
    [printed.stderr, process.stderr],
  ] as const) {
    const value = text?.toString() ?? '';
    if (value.length > 0) to.write(value.endsWith('\n') ? value : `${value}\n`);
  }
}

function relay(from: Readable | null, to: NodeJS.WriteStream): void {
  if (!from) return;
  const decoder = new StringDecoder('utf8');
  let pending = '';
  from.on('data', (chunk: Buffer | string) => {
    pending += typeof chunk === 'string' ? chunk : decoder.write(chunk);
    const end = pending.lastIndexOf('\n') + 1;
    if (end === 0) return;
    to.write(pending.slice(0, end));
    pending = pending.slice(end);
  });
  from.on('end', () => {
    pending += decoder.end();
    if (pending.length > 0) to.write(`${pending}\n`);
    pending = '';
  });
}
