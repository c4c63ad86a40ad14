/**
 * `npm start` (tsx local/start.ts) as a user runs it: a child process that prints where it listens and a curl per
 * route, whose curls work as pasted, that talks to the embedded sandbox by default or to the DANAConnect named by
 * DANA_BASE_URL, and that stops cleanly on SIGTERM and SIGINT.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../local/sandbox/server';
import { relayOutput } from '../audit/child-output';
import { rememberCredentialsSeenBy } from '../audit/sensitive';
import { DEMO_BASIC, sandboxEnv } from '../fixtures/http';

const root = new URL('../..', import.meta.url).pathname;

interface Started {
  child: ChildProcess;
  url: string;
  output: () => string;
  exited: Promise<number | null>;
}

// The upload folder of `npm start`: a temporary one, not the checkout's .local/bucket.
const bucketDirs: string[] = [];

function cleanEnv(extra: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const bucketDir = mkdtempSync(join(tmpdir(), 'npm-start-bucket-'));
  bucketDirs.push(bucketDir);
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: '0', LOCAL_BUCKET_DIR: bucketDir };
  for (const name of Object.keys(env))
    if (name.startsWith('DANA_') || name === 'LOCAL_API_KEY') delete env[name];
  for (const [name, value] of Object.entries(extra)) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  return env;
}

function npmStart(env: NodeJS.ProcessEnv): Started {
  // What `npm start` runs (tsx), loaded into node itself: the tsx CLI relays signals to a child process and, when
  // that child is slow to say it handles SIGINT (a loaded CI machine), exits 130 on its own.
  const child = spawn(process.execPath, ['--import', 'tsx', 'local/start.ts'], { cwd: root, env });
  relayOutput(child);
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, url: '', output: () => output, exited };
}

async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met within 20 s');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function untilListening(started: Started): Promise<Started> {
  await until(() => started.output().includes('Ctrl-C stops.') || started.child.exitCode !== null);
  const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(started.output());
  if (!match) throw new Error(`npm start did not start:\n${started.output()}`);
  return { ...started, url: match[1]! };
}

let running: Started | undefined;
let sandbox: Sandbox | undefined;
afterEach(async () => {
  if (running && running.child.exitCode === null) {
    running.child.kill('SIGKILL');
    await running.exited;
  }
  if (sandbox) {
    rememberCredentialsSeenBy(sandbox);
    await sandbox.close();
  }
  running = sandbox = undefined;
  for (const dir of bucketDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('npm start', () => {
  it('serves the routes in front of the embedded sandbox; its printed curls work as pasted; SIGTERM stops it', async () => {
    running = await untilListening(npmStart(cleanEnv({})));
    const banner = running.output();
    expect(banner).toMatch(
      /Upstream: embedded sandbox http:\/\/127\.0\.0\.1:\d+ \(API 1\.0, user demo@DEMO\)/,
    );
    const curls = banner.split('\n').filter((line) => line.startsWith('curl '));
    expect(curls).toHaveLength(6);
    for (const line of curls) {
      const { stdout } = await promisify(execFile)('sh', ['-c', `${line} --silent --noproxy '*'`]);
      expect(stdout.split('\r\n')[0], line).toMatch(/^HTTP\/1\.1 200 OK$/);
    }
    // The child's request log arrives through a pipe, possibly after the answer.
    const logged = /GET \/api\/1\.0\/rest\/conversation\/data\/\{danaparam\} 200 \d+ms/;
    await until(() => logged.test(running!.output()));
    running.child.kill('SIGTERM');
    expect(await running.exited).toBe(0);
    expect(running.output()).toContain('SIGTERM: stopping');
  });

  it('talks to the DANAConnect named by DANA_BASE_URL with the given credentials, and stops on SIGINT', async () => {
    sandbox = await startSandbox();
    const env = cleanEnv(sandboxEnv(sandbox, '1.0'));
    running = await untilListening(npmStart(env));
    expect(running.output()).toContain(`Upstream: ${sandbox.url} (API 1.0)`);
    // A real DANAConnect: the gateway requires the key it printed (see the next test).
    const key = /export LOCAL_API_KEY=(\S+)/.exec(running.output())![1]!;
    const response = await fetch(`${running.url}/api/1.0/rest/conversation/1002/start/list`, {
      method: 'POST',
      headers: { 'x-api-key': key },
    });
    expect(response.status).toBe(200);
    expect(sandbox.received()).toMatchObject([
      { path: '/api/1.0/rest/conversation/1002/start/list', authorization: DEMO_BASIC },
    ]);
    running.child.kill('SIGINT');
    expect(await running.exited).toBe(0);
  });

  it('with real credentials and no LOCAL_API_KEY, generates a key, prints it once and requires it', async () => {
    sandbox = await startSandbox();
    running = await untilListening(npmStart(cleanEnv(sandboxEnv(sandbox, '1.0'))));
    const printed = [...running.output().matchAll(/export LOCAL_API_KEY=(\S+)/g)].map((m) => m[1]!);
    expect(printed).toHaveLength(1);
    const key = printed[0]!;
    expect(key).toMatch(/^[A-Za-z0-9_-]{32,}$/);
    expect(running.output().split(key)).toHaveLength(2); // printed once, nowhere else
    const list = (headers: Record<string, string>) =>
      fetch(`${running!.url}/api/1.0/rest/conversation/1002/start/list`, { method: 'POST', headers });
    for (const headers of [{}, { 'x-api-key': 'guess' }] as Record<string, string>[]) {
      const refused = await list(headers);
      expect(refused.status).toBe(403);
      expect(((await refused.json()) as { wsError: { idError: number } }).wsError.idError).toBe(9403);
    }
    expect(sandbox.received()).toEqual([]);
    expect((await list({ 'x-api-key': key })).status).toBe(200);
  });

  it('with real credentials and LOCAL_API_KEY set, requires that key and prints none', async () => {
    sandbox = await startSandbox();
    const env = cleanEnv({ ...sandboxEnv(sandbox, '1.0'), LOCAL_API_KEY: 'my-own-local-key-0123456789' });
    running = await untilListening(npmStart(env));
    expect(running.output()).not.toContain('export LOCAL_API_KEY=');
    expect(running.output()).not.toContain('my-own-local-key-0123456789');
    const list = (headers: Record<string, string>) =>
      fetch(`${running!.url}/api/1.0/rest/conversation/1002/start/list`, { method: 'POST', headers });
    expect((await list({})).status).toBe(403);
    expect((await list({ 'x-api-key': 'my-own-local-key-0123456789' })).status).toBe(200);
  });

  it('refuses to start against a DANAConnect without credentials, naming the missing variable', async () => {
    running = npmStart(cleanEnv({ DANA_BASE_URL: 'http://127.0.0.1:9' }));
    expect(await running.exited).toBe(1);
    expect(running.output()).toMatch(/Cannot start: .*DANA_USERNAME/);
  });
});
