/**
 * Finds the Python command-line tools this project runs for real — `moto_server` (the tests' AWS) and `cfn-lint`
 * (`npm run synth:check`) — and, on a machine that has Python but not the tool, installs them.
 *
 * Order: the PATH, then the project-local `.venv/bin/<tool>`, then `python3 -m venv .venv` and
 * `.venv/bin/pip install -r scripts/python-tools.txt` (the one file that pins their versions), with one line
 * before and one after. When that cannot work (no python3, a python3 that is too old or has no venv module, pip
 * cannot download), a PythonToolError says in ONE line what is missing and the command that fixes it.
 *
 * Used by test/moto-server.ts (in-process) and, through the CLI, by scripts/cfn-lint.sh and .ci/run:
 * `tsx scripts/python-tool.ts <tool>...` prints each tool's path on stdout; progress and the failure line go to
 * stderr, and a failure exits 1 with no stack trace.
 */
import { spawn as nodeSpawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { accessSync, constants, copyFileSync, existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { delimiter, isAbsolute, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The pip distribution each tool comes in: its line in the pinned file. */
const PACKAGES = { moto_server: 'moto', 'cfn-lint': 'cfn-lint' } as const;
export type PythonToolName = keyof typeof PACKAGES;

export const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));
export const PINNED_FILE = fileURLToPath(new URL('./python-tools.txt', import.meta.url));

// moto 5.2 and cfn-lint 1.x need Python 3.9. Checked up front because pip on an older Python says "no matching
// distribution", which reads exactly like the no-network failure.
const [MIN_MAJOR, MIN_MINOR] = [3, 9];

// A copy of the pinned file that was last installed, so that a version bump reinstalls .venv/ by itself.
const STAMP = 'python-tools.installed.txt';

/** A tool that is missing and could not be installed; its message is the one line to show, as it is. */
export class PythonToolError extends Error {
  override name = 'PythonToolError';

  constructor(message: string) {
    super(message);
    // An expected state of the machine, not a bug: whoever prints it (vitest too) shows the line without frames.
    this.stack = `${this.name}: ${message}`;
  }
}

export type SpawnFn = (command: string, args: string[], options: SpawnOptions) => ChildProcess;

export interface ResolveOptions {
  /** Searched for the tool and for python3 (default: process.env.PATH). */
  path?: string;
  /** The project whose `.venv/` is looked in and created (default: this repository). */
  cwd?: string;
  /** Runs python3 and pip (default: node:child_process spawn). */
  spawn?: SpawnFn;
  /** The pinned requirements file (default: scripts/python-tools.txt). */
  pinnedFile?: string;
  /** Where the line before and the line after an install go (default: stderr). */
  log?: (line: string) => void;
}

type Resolved = Required<ResolveOptions>;

/** The absolute path of `tool`: found on the PATH, in `.venv/`, or installed into `.venv/`. */
export async function resolvePythonTool(tool: PythonToolName, options: ResolveOptions = {}): Promise<string> {
  const o: Resolved = {
    path: options.path ?? process.env.PATH ?? '',
    cwd: options.cwd ?? PROJECT_ROOT,
    spawn: options.spawn ?? nodeSpawn,
    pinnedFile: options.pinnedFile ?? PINNED_FILE,
    log: options.log ?? ((line) => process.stderr.write(`${line}\n`)),
  };
  const onPath = findOnPath(tool, o.path);
  if (onPath) return onPath;
  const inVenv = venvBin(o.cwd, tool);
  const inVenvNow = isExecutableFile(inVenv);
  if (inVenvNow && venvIsCurrent(o)) return inVenv;
  const why = inVenvNow
    ? `${displayPath(o.pinnedFile, o.cwd)} changed`
    : `${tool} is not on the PATH or in .venv/`;
  await installIntoVenv(tool, why, o);
  return inVenv;
}

/** Like `command -v`: the first executable file named `name` in the PATH's folders. */
export function findOnPath(name: string, path: string): string | undefined {
  for (const dir of path.split(delimiter)) {
    // An empty PATH entry means the current folder to a shell; a tool should never be picked up from there.
    if (!dir) continue;
    const candidate = join(dir, name);
    if (isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

function isExecutableFile(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

function venvBin(cwd: string, name: string): string {
  return join(cwd, '.venv', 'bin', name);
}

function venvIsCurrent(o: Resolved): boolean {
  const stamp = join(o.cwd, '.venv', STAMP);
  // A .venv/ someone made by hand (no stamp) is trusted; one this module filled is refreshed when the pins change.
  if (!existsSync(stamp)) return true;
  return readFileSync(stamp, 'utf8') === readFileSync(o.pinnedFile, 'utf8');
}

/** The pinned requirement lines (`moto[server]==5.2.1`), comments and blanks left out. */
export function pinnedRequirements(pinnedFile: string = PINNED_FILE): string[] {
  return readFileSync(pinnedFile, 'utf8')
    .split('\n')
    .map((line) => line.replace(/#.*/, '').trim())
    .filter(Boolean);
}

/** The pinned line of the distribution that provides `tool`. */
export function pinnedRequirement(tool: PythonToolName, pinnedFile: string = PINNED_FILE): string {
  // pip treats -, _ and . in names alike and ignores case.
  const norm = (name: string) => name.toLowerCase().replace(/[-_.]+/g, '-');
  const line = pinnedRequirements(pinnedFile).find(
    (requirement) => norm(requirement.split(/[[=<>!~;\s]/)[0] ?? '') === norm(PACKAGES[tool]),
  );
  if (!line) throw new Error(`${pinnedFile} pins no ${PACKAGES[tool]} (needed for ${tool})`);
  return line;
}

/** `python3 -m venv .venv` (unless it has pip already), then `.venv/bin/pip install -r <pinned file>`. */
async function installIntoVenv(tool: PythonToolName, why: string, o: Resolved): Promise<void> {
  const requirement = pinnedRequirement(tool, o.pinnedFile);
  const fail: Fail = (reason, fix) =>
    new PythonToolError(oneLine(`${tool} not found and could not be installed: ${reason}. ${fix}`));
  const pipFix = `Install it with: python3 -m pip install '${requirement}'`;
  const pinned = displayPath(o.pinnedFile, o.cwd);
  const pins = pinnedRequirements(o.pinnedFile).join(', ');
  const env = { ...process.env, PATH: o.path };
  const pip = venvBin(o.cwd, 'pip');
  // python3 is checked before saying anything, so that a machine without a usable one gets the one line only.
  const python = isExecutableFile(pip) ? undefined : await findPython(o, env, fail);

  o.log(`${why}: installing ${pins} into .venv/ (pip install -r ${pinned}, a minute or so)...`);
  if (python) await createVenv(python, o, env, fail);
  const installed = await run(o.spawn, pip, ['install', '-r', o.pinnedFile], o.cwd, env);
  if (installed.code !== 0) {
    if (NO_NETWORK.test(installed.output)) {
      throw fail(`pip could not download ${requirement} (no network?)`, pipFix);
    }
    throw fail(`.venv/bin/pip install -r ${pinned} failed (${lastError(installed.output)})`, pipFix);
  }
  if (!isExecutableFile(venvBin(o.cwd, tool))) {
    throw fail(`.venv/bin/pip installed ${pinned} but there is no .venv/bin/${tool}`, pipFix);
  }
  copyFileSync(o.pinnedFile, join(o.cwd, '.venv', STAMP));
  o.log(`installed ${pins} into .venv/; using .venv/bin/${tool}`);
}

// What pip prints when it cannot reach the index: connection errors while retrying, then "(from versions: none)".
const NO_NETWORK =
  /NewConnectionError|Failed to establish a new connection|Name or service not known|Temporary failure in name resolution|Network is unreachable|ProxyError|ConnectTimeout|Max retries exceeded|\(from versions: none\)/;

type Fail = (reason: string, fix: string) => PythonToolError;

const INSTALL_PYTHON = `Install Python ≥ ${MIN_MAJOR}.${MIN_MINOR} with its venv module (e.g. sudo apt-get install python3-venv, or brew install python), then run this command again`;

/** The python3 on the PATH, if it runs and is recent enough. */
async function findPython(o: Resolved, env: NodeJS.ProcessEnv, fail: Fail): Promise<string> {
  const python = findOnPath('python3', o.path);
  if (!python) throw fail('python3 is not on the PATH', INSTALL_PYTHON);
  const printVersion = 'import sys; print("%d.%d" % sys.version_info[:2])';
  const version = await run(o.spawn, python, ['-c', printVersion], o.cwd, env);
  const match = /^(\d+)\.(\d+)$/m.exec(version.output);
  if (version.code !== 0 || !match) {
    throw fail(`${python} does not run (${lastError(version.output)})`, INSTALL_PYTHON);
  }
  const [major, minor] = [Number(match[1]), Number(match[2])];
  if (major < MIN_MAJOR || (major === MIN_MAJOR && minor < MIN_MINOR)) {
    throw fail(`python3 is Python ${major}.${minor}, older than ${MIN_MAJOR}.${MIN_MINOR}`, INSTALL_PYTHON);
  }
  return python;
}

/** `python3 -m venv .venv`; a failure removes the half-made `.venv/` it leaves. */
async function createVenv(python: string, o: Resolved, env: NodeJS.ProcessEnv, fail: Fail): Promise<void> {
  const venvDir = join(o.cwd, '.venv');
  const existed = existsSync(venvDir);
  const created = await run(o.spawn, python, ['-m', 'venv', '.venv'], o.cwd, env);
  if (created.code === 0 && isExecutableFile(venvBin(o.cwd, 'pip'))) return;
  // A failed attempt leaves the project as it found it, not with a .venv/ that looks usable and has no pip.
  if (!existed) rmSync(venvDir, { recursive: true, force: true });
  // Debian's python3 comes without ensurepip and names the package to install, e.g. `apt install python3.11-venv`.
  const aptPackage = /apt(?:-get)? install (python3[\w.-]*-venv)/.exec(created.output)?.[1] ?? 'python3-venv';
  const why = /ensurepip is not\s+available/.test(created.output)
    ? 'ensurepip is not available'
    : lastError(created.output);
  throw fail(
    `python3 has no working venv module (python3 -m venv .venv: ${why})`,
    `Install it with: sudo apt-get install ${aptPackage}`,
  );
}

interface RunResult {
  code: number | null;
  /** stdout and stderr together, the last 64 KiB: only the end is ever reported. */
  output: string;
}

function run(spawn: SpawnFn, command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv) {
  return new Promise<RunResult>((resolve) => {
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-65_536);
    };
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    // A command that cannot be started (ENOENT, EACCES) is reported like one that failed, with the reason.
    child.once('error', (error) => resolve({ code: null, output: `${output}\n${error.message}` }));
    child.once('close', (code) => resolve({ code, output }));
  });
}

/** pip's own `ERROR:` line if it printed one, else the last line of output. */
function lastError(output: string): string {
  const lines = output
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  return lines.findLast((line) => line.startsWith('ERROR:')) ?? lines.at(-1) ?? 'no output';
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ');
}

function displayPath(file: string, cwd: string): string {
  const rel = relative(cwd, file);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file;
}

/** CLI: prints each tool's path; exit code 1 with the one line on stderr when one is missing, 2 on bad usage. */
async function main(args: string[]): Promise<number> {
  const unknown = args.filter((arg) => !(arg in PACKAGES));
  if (args.length === 0 || unknown.length > 0) {
    process.stderr.write(`usage: tsx scripts/python-tool.ts <${Object.keys(PACKAGES).join('|')}>...\n`);
    return 2;
  }
  try {
    for (const tool of args) process.stdout.write(`${await resolvePythonTool(tool as PythonToolName)}\n`);
    return 0;
  } catch (error) {
    if (!(error instanceof PythonToolError)) throw error;
    process.stderr.write(`${error.message}\n`);
    return 1;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  void main(process.argv.slice(2)).then((code) => (process.exitCode = code));
}
