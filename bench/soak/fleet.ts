/**
 * The soak's worker processes, from the parent's side: `processes` children of ./worker-child.ts, each with its
 * loops; a child that dies by SIGKILL (asked to, or at an invocation's timeout) is started again, as Lambda starts
 * a new execution environment, and what it wrote down before dying is kept (`kills`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { emptyLoopStats, type LoopStats } from './event-source';
import type { KillRecord } from './instrument';
import type { ChildMessage, ParentMessage, WorkerConfig } from './worker-child';

const CHILD_SCRIPT = fileURLToPath(new URL('./worker-child.ts', import.meta.url));
const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const READY_TIMEOUT_MS = 60_000;
/** Lambda needs a moment to start a new environment; so does a node process with tsx. */
const RESTART_DELAY_MS = 500;

export type FleetConfig = Omit<WorkerConfig, 'name'>;

interface Slot {
  index: number;
  generation: number;
  child?: ChildProcess;
  ready: boolean;
  /** Stats of this generation (the last report) and of every generation before it. */
  current: LoopStats;
  earlier: LoopStats;
}

export interface Crash {
  name: string;
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Dummy credentials, loopback only, quiet handler logs (warnings and up go to the child's log file). */
function childEnv(config: WorkerConfig): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    AWS_REGION: 'us-east-1',
    AWS_EC2_METADATA_DISABLED: 'true',
    NO_PROXY: '127.0.0.1,localhost',
    // SOAK_LOG_LEVEL=INFO shows every requeue and every chunk done (large logs).
    POWERTOOLS_LOG_LEVEL: process.env.SOAK_LOG_LEVEL ?? 'WARN',
    POWERTOOLS_METRICS_DISABLED: 'true',
    POWERTOOLS_SERVICE_NAME: 'dana-gateway-soak',
    SOAK_WORKER: JSON.stringify(config),
  };
}

function add(into: LoopStats, from: LoopStats): void {
  for (const key of Object.keys(into) as (keyof LoopStats)[]) into[key] += from[key];
}

export class Fleet {
  readonly kills: Array<{ name: string; record: KillRecord }> = [];
  readonly crashes: Crash[] = [];
  killsSkipped = 0;
  /** Why each skipped kill found no safe moment (the state of its process when it gave up). */
  readonly skipReasons: string[] = [];
  /** Processes that did not leave within the grace period at the end, and were killed. */
  forcedStops = 0;
  private readonly slots: Slot[];
  private stopping = false;
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly config: FleetConfig,
    processes: number,
  ) {
    this.slots = Array.from({ length: processes }, (_, index) => ({
      index,
      generation: 0,
      ready: false,
      current: emptyLoopStats(),
      earlier: emptyLoopStats(),
    }));
  }

  async start(): Promise<void> {
    await Promise.all(this.slots.map((slot) => this.spawn(slot)));
  }

  /** Asks one ready process (chosen by `random`) to die mid-call; false when none is ready. */
  requestKill(random: () => number): boolean {
    const ready = this.slots.filter((s) => s.ready && s.child);
    const slot = ready[Math.floor(random() * ready.length)];
    if (!slot) return false;
    slot.child!.send({ type: 'kill' } satisfies ParentMessage);
    return true;
  }

  stats(): LoopStats {
    const total = emptyLoopStats();
    for (const slot of this.slots) {
      add(total, slot.earlier);
      add(total, slot.current);
    }
    return total;
  }

  /** Lets the running invocations finish, then waits for every process (SIGKILL after `graceMs`). */
  async stop(graceMs = 30_000): Promise<void> {
    this.stopping = true;
    await Promise.all(this.pending);
    await Promise.all(
      this.slots.map(async (slot) => {
        const child = slot.child;
        if (!child || child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.send({ type: 'stop' } satisfies ParentMessage);
        const timer = setTimeout(() => {
          this.forcedStops++;
          child.kill('SIGKILL');
        }, graceMs);
        await exited;
        clearTimeout(timer);
      }),
    );
  }

  private name(slot: Slot): string {
    return `worker-${slot.index}-g${slot.generation}`;
  }

  private spawn(slot: Slot): Promise<void> {
    const name = this.name(slot);
    const log = openSync(join(this.config.logDir, `${name}.log`), 'w');
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD_SCRIPT], {
      cwd: PROJECT_ROOT,
      env: childEnv({ ...this.config, name }),
      stdio: ['ignore', log, log, 'ipc'],
    });
    closeSync(log);
    slot.child = child;
    slot.ready = false;
    slot.current = emptyLoopStats();
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name} did not start`)), READY_TIMEOUT_MS);
      child.on('message', (message: ChildMessage) => {
        if (message.type === 'ready') {
          slot.ready = true;
          clearTimeout(timer);
          resolve();
        } else if (message.type === 'stats') slot.current = message.stats;
        else if (message.type === 'kill-skipped') {
          this.killsSkipped++;
          this.skipReasons.push(`${name}: ${message.why}`);
        }
      });
      child.once('exit', () => clearTimeout(timer));
    });
    child.once('exit', (code, signal) => this.exited(slot, name, code, signal));
    return ready;
  }

  private exited(slot: Slot, name: string, code: number | null, signal: NodeJS.Signals | null): void {
    slot.ready = false;
    slot.child = undefined;
    add(slot.earlier, slot.current);
    slot.current = emptyLoopStats();
    const killFile = join(this.config.logDir, `${name}.kill.json`);
    if (signal === 'SIGKILL' && existsSync(killFile)) {
      this.kills.push({ name, record: JSON.parse(readFileSync(killFile, 'utf8')) as KillRecord });
    } else if (!(this.stopping && (code === 0 || signal === 'SIGKILL'))) {
      this.crashes.push({ name, code, signal });
    }
    if (this.stopping) return;
    slot.generation++;
    const restart = new Promise<void>((resolve) => setTimeout(resolve, RESTART_DELAY_MS))
      .then(() => (this.stopping ? undefined : this.spawn(slot)))
      .catch((error: unknown) => {
        this.crashes.push({ name: `${this.name(slot)} (start: ${String(error)})`, code: null, signal: null });
      })
      .finally(() => this.pending.delete(restart));
    this.pending.add(restart);
  }
}
