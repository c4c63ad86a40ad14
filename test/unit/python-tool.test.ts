/**
 * scripts/python-tool.ts: how moto_server and cfn-lint are found or installed, and test/moto-server.ts reporting a
 * moto that dies. Every case runs in a temporary project folder with a PATH made for it and shell stubs for
 * python3 and pip, so no real .venv/ is made and nothing is downloaded (this machine cannot reach the index; the
 * stub pip prints what the real one printed here).
 */
import { spawn as nodeSpawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  PINNED_FILE,
  pinnedRequirement,
  PythonToolError,
  resolvePythonTool,
  type ResolveOptions,
  type SpawnFn,
} from '../../scripts/python-tool';
import { relayPrinted } from '../audit/child-output';
import { startMotoServer } from '../moto-server';

const MOTO = pinnedRequirement('moto_server');
const CFN_LINT = pinnedRequirement('cfn-lint');

let project: string;
let bin: string;
let log: string[];
let commands: string[][];

/** Real spawn, recording each command line so that a test can say what ran. */
const recordingSpawn: SpawnFn = (command, args, options) => {
  commands.push([command, ...args]);
  return nodeSpawn(command, args, options);
};
const noSpawn: SpawnFn = (command) => {
  throw new Error(`nothing should run, ran ${command}`);
};

function options(extra: ResolveOptions = {}): ResolveOptions {
  // The lines are kept for the test and printed as the default log prints them (to stderr).
  const keepAndPrint = (line: string) => {
    log.push(line);
    process.stderr.write(`${line}\n`);
  };
  return { path: bin, cwd: project, spawn: recordingSpawn, log: keepAndPrint, ...extra };
}

function script(file: string, body: string): string {
  mkdirSync(join(file, '..'), { recursive: true });
  // The PATH under test holds only the stubs; the stubs themselves need mkdir, cp and cat.
  writeFileSync(file, `#!/bin/sh\nPATH="$PATH:/usr/bin:/bin"\n${body}\n`);
  chmodSync(file, 0o755);
  return file;
}

/** A python3 that answers the version probe with `version` and whose `-m venv .venv` runs `venvBody`. */
function python3(venvBody: string, version = '3.11'): void {
  script(join(bin, 'python3'), `case "$1" in\n  -c) echo ${version} ;;\n  -m) ${venvBody} ;;\nesac`);
}

/** A `-m venv` that makes .venv/bin/pip run `pipBody` (in the project folder, like the real one). */
function venvWithPip(pipBody: string): string {
  const pip = script(join(project, 'stub-pip'), `printf '%s\\n' "$@" > pip-args\n${pipBody}`);
  return `mkdir -p .venv/bin && cp ${pip} .venv/bin/pip`;
}

const INSTALLS_TOOLS =
  'for t in moto_server cfn-lint; do printf "#!/bin/sh\\n" > .venv/bin/$t; chmod +x .venv/bin/$t; done';

// What pip 23.2 printed on this machine, which has no route to pypi.org (retries shortened).
const PIP_OFFLINE = `cat >&2 <<'EOF'
WARNING: Retrying (Retry(total=0, connect=None, read=None, redirect=None, status=None)) after connection broken by 'NewConnectionError('<pip._vendor.urllib3.connection.HTTPSConnection object at 0x7fe858d9ced0>: Failed to establish a new connection: [Errno -2] Name or service not known')': /simple/moto/
ERROR: Could not find a version that satisfies the requirement moto[server]==5.2.1 (from versions: none)
ERROR: No matching distribution found for moto[server]==5.2.1
EOF
exit 1`;

async function failure(promise: Promise<unknown>): Promise<PythonToolError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(PythonToolError);
  const message = (error as PythonToolError).message;
  // The one line is all a user sees: no newline, and no stack frames when vitest or the CLI prints it.
  expect(message).not.toContain('\n');
  expect((error as PythonToolError).stack).toBe(`PythonToolError: ${message}`);
  return error as PythonToolError;
}

beforeEach(() => {
  project = mkdtempSync(join(tmpdir(), 'python-tool-'));
  bin = join(project, 'bin');
  mkdirSync(bin);
  log = [];
  commands = [];
});
afterEach(() => rmSync(project, { recursive: true, force: true }));

describe('the pinned file', () => {
  it('pins each tool in scripts/python-tools.txt', () => {
    // Exact pins (==), and moto with its server extra, which is what provides moto_server.
    expect(MOTO).toMatch(/^moto\[server\]==\d+(\.\d+)+$/);
    expect(CFN_LINT).toMatch(/^cfn-lint==\d+(\.\d+)+$/);
  });
});

describe('resolvePythonTool finds a tool that is there', () => {
  it('takes the first executable one on the PATH, skipping a file that is not executable', async () => {
    const first = join(project, 'first');
    mkdirSync(first);
    writeFileSync(join(first, 'moto_server'), 'not executable');
    const tool = script(join(bin, 'moto_server'), 'exit 0');
    script(join(project, '.venv', 'bin', 'moto_server'), 'exit 0');
    const path = ['', first, bin].join(':');
    await expect(resolvePythonTool('moto_server', options({ path, spawn: noSpawn }))).resolves.toBe(tool);
    expect(log).toEqual([]);
  });

  it('takes .venv/bin/<tool> when the PATH has none, and installs nothing', async () => {
    const tool = script(join(project, '.venv', 'bin', 'cfn-lint'), 'exit 0');
    script(join(bin, 'python3'), 'exit 1');
    await expect(resolvePythonTool('cfn-lint', options({ spawn: noSpawn }))).resolves.toBe(tool);
    expect(log).toEqual([]);
  });
});

describe('resolvePythonTool installs a missing tool into .venv/', () => {
  it('runs python3 -m venv .venv and .venv/bin/pip install -r <pinned file>, one line before and one after', async () => {
    python3(venvWithPip(INSTALLS_TOOLS));
    const tool = await resolvePythonTool('moto_server', options());
    expect(tool).toBe(join(project, '.venv', 'bin', 'moto_server'));
    const python = join(bin, 'python3');
    expect(commands).toEqual([
      [python, '-c', expect.stringContaining('sys.version_info')],
      [python, '-m', 'venv', '.venv'],
      [join(project, '.venv', 'bin', 'pip'), 'install', '-r', PINNED_FILE],
    ]);
    expect(readFileSync(join(project, 'pip-args'), 'utf8')).toBe(`install\n-r\n${PINNED_FILE}\n`);
    expect(log).toHaveLength(2);
    expect(log[0]).toContain(`installing ${MOTO}, ${CFN_LINT} into .venv/`);
    expect(log[1]).toBe(`installed ${MOTO}, ${CFN_LINT} into .venv/; using .venv/bin/moto_server`);
    // The next run finds it and runs nothing.
    await expect(resolvePythonTool('cfn-lint', options({ spawn: noSpawn }))).resolves.toBe(
      join(project, '.venv', 'bin', 'cfn-lint'),
    );
  });

  it('reinstalls into the same .venv/ when the pinned versions change', async () => {
    const pinnedFile = join(project, 'python-tools.txt');
    copyFileSync(PINNED_FILE, pinnedFile);
    python3(venvWithPip(INSTALLS_TOOLS));
    await resolvePythonTool('moto_server', options({ pinnedFile }));
    writeFileSync(pinnedFile, 'moto[server]==5.3.0\ncfn-lint==1.51.0\n');
    commands = [];
    await resolvePythonTool('moto_server', options({ pinnedFile }));
    // .venv/ has pip already: no python3, no venv, only pip.
    expect(commands).toEqual([[join(project, '.venv', 'bin', 'pip'), 'install', '-r', pinnedFile]]);
    expect(log.at(-2)).toMatch(
      /^python-tools\.txt changed: installing moto\[server\]==5\.3\.0, cfn-lint==1\.51\.0 into/,
    );
    // And the run after that finds it current.
    await resolvePythonTool('moto_server', options({ pinnedFile, spawn: noSpawn }));
  });
});

describe('resolvePythonTool stops with one line when it cannot install', () => {
  it('names python3 when there is none on the PATH', async () => {
    const error = await failure(resolvePythonTool('moto_server', options()));
    expect(error.message).toBe(
      'moto_server not found and could not be installed: python3 is not on the PATH. Install Python ≥ 3.9 with ' +
        'its venv module (e.g. sudo apt-get install python3-venv, or brew install python), then run this command again',
    );
    expect(log).toEqual([]);
    expect(existsSync(join(project, '.venv'))).toBe(false);
  });

  it('names a python3 that is too old (pip would call that "no matching distribution")', async () => {
    python3('exit 0', '3.8');
    const error = await failure(resolvePythonTool('cfn-lint', options()));
    expect(error.message).toMatch(
      /^cfn-lint not found and could not be installed: python3 is Python 3\.8, older than 3\.9\. Install Python/,
    );
    expect(log).toEqual([]);
  });

  it("names the venv module (and Debian's package for it) when python3 -m venv fails, and removes the half-made .venv/", async () => {
    python3(`mkdir -p .venv/bin
cat <<'EOF'
The virtual environment was not created successfully because ensurepip is not
available.  On Debian/Ubuntu systems, you need to install the python3-venv
package using the following command.

    apt install python3.11-venv

You may need to use sudo with that command.
EOF
exit 1`);
    const error = await failure(resolvePythonTool('moto_server', options()));
    expect(error.message).toBe(
      'moto_server not found and could not be installed: python3 has no working venv module (python3 -m venv ' +
        '.venv: ensurepip is not available). Install it with: sudo apt-get install python3.11-venv',
    );
    expect(existsSync(join(project, '.venv'))).toBe(false);
  });

  it('says pip could not download the pinned version when there is no network', async () => {
    python3(venvWithPip(PIP_OFFLINE));
    const error = await failure(resolvePythonTool('moto_server', options()));
    expect(error.message).toBe(
      `moto_server not found and could not be installed: pip could not download ${MOTO} (no network?). ` +
        `Install it with: python3 -m pip install '${MOTO}'`,
    );
    expect(log).toHaveLength(1);
  });

  it("quotes pip's own error for any other pip failure", async () => {
    python3(venvWithPip('echo "ERROR: Could not install packages due to an OSError: disk full" >&2; exit 1'));
    const error = await failure(resolvePythonTool('cfn-lint', options()));
    expect(error.message).toBe(
      `cfn-lint not found and could not be installed: .venv/bin/pip install -r ${PINNED_FILE} failed (ERROR: ` +
        `Could not install packages due to an OSError: disk full). Install it with: python3 -m pip install '${CFN_LINT}'`,
    );
  });
});

describe('the CLI (scripts/cfn-lint.sh, scripts/synth-check.sh, .ci/run)', () => {
  // A copy of the module in a temporary project, so that the project it works on is that one, not this repository.
  function cli(path: string, ...tools: string[]) {
    mkdirSync(join(project, 'scripts'));
    copyFileSync(join(PINNED_FILE, '..', 'python-tool.ts'), join(project, 'scripts', 'python-tool.ts'));
    copyFileSync(PINNED_FILE, join(project, 'scripts', 'python-tools.txt'));
    const tsx = createRequire(import.meta.url).resolve('tsx/cli');
    const args = [tsx, join(project, 'scripts', 'python-tool.ts'), ...tools];
    const run = spawnSync(process.execPath, args, { env: { ...process.env, PATH: path }, encoding: 'utf8' });
    relayPrinted(run);
    return run;
  }

  it('prints the path of each tool', () => {
    const moto = script(join(bin, 'moto_server'), 'exit 0');
    const cfnLint = script(join(project, '.venv', 'bin', 'cfn-lint'), 'exit 0');
    const run = cli(bin, 'moto_server', 'cfn-lint');
    expect(run.stdout).toBe(`${moto}\n${cfnLint}\n`);
    expect(run.status).toBe(0);
  });

  it('exits 1 with the one line on stderr and nothing else', () => {
    const run = cli(bin, 'cfn-lint');
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(
      /^cfn-lint not found and could not be installed: python3 is not on the PATH\. .*\n$/,
    );
    expect(run.stderr.split('\n')).toHaveLength(2);
    expect(run.status).toBe(1);
  });
});

describe('startMotoServer reports a moto_server that does not come up', () => {
  it('with its own output when it exits early', async () => {
    const moto = script(
      join(bin, 'moto_server'),
      'echo " * Serving Flask app"\necho "OSError: [Errno 98] Address already in use" >&2\nexit 3',
    );
    const error = await startMotoServer({ command: moto }).catch((e: unknown) => e as Error);
    expect(error).toBeInstanceOf(Error);
    const message = (error as Error).message;
    expect(message.split('\n')[0]).toBe(
      `moto_server (${moto}) exited with code 3 before it answered; its output:`,
    );
    // stdout and stderr are two pipes: both are kept, in whichever order they were read.
    expect(message).toContain(' * Serving Flask app');
    expect(message).toContain('OSError: [Errno 98] Address already in use');
  });

  it('with the reason when it cannot be started at all', async () => {
    const missing = join(bin, 'moto_server');
    await expect(startMotoServer({ command: missing })).rejects.toThrow(
      `moto_server (${missing}) could not be started (spawn ${missing} ENOENT) before it answered; it printed nothing`,
    );
  });
});
