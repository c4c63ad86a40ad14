/**
 * The soak, start to end (used by `npm run soak` and by test/integration/soak.test.ts):
 *
 * 1. The fault proxy in front of moto_server, the sandbox with its fault mix and latency, the table, bucket,
 *    queue and dead-letter queue; `processes` worker children (./fleet.ts), each with `loopsPerProcess` event
 *    source loops running the real process-chunk handler.
 * 2. The rows go in waves. Each wave's work (./workload.ts) is fed through the real ingest and submitApiJob
 *    (./feeder.ts), never more than `backlogLimit` visible messages ahead of the workers; while it is fed, worker
 *    processes are killed mid-call at random. Then the wave is drained: the queue and the dead-letter queue
 *    empty (dead-lettered chunks are redriven with scripts/redrive.ts's function) and every job done. Its rows
 *    are checked (./verify.ts), and its items are expired from the table.
 * 3. The ledger against the sandbox's logs, the wire logs and the kills (./analysis.ts).
 *
 * Why waves: moto_server copies a whole table on every TransactWriteItems (one per chunk), so its cost grows
 * with the table; draining and expiring per wave (what the 30-day TTL does, sooner) keeps it flat.
 */
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { redrive } from '../../scripts/redrive';
import { mulberry32, startAwsFaultProxy, type AwsFaultProxy } from '../../test/harness/aws-fault-proxy';
import { DEMO_USER, startSandbox, type Sandbox } from '../../local/sandbox/server';
import { analyse, criteria, type Criterion } from './analysis';
import { awsFaults, DANA_MIX, SOAK_REDELIVERY, type SoakOptions } from './config';
import { Feeder, type JobRef } from './feeder';
import { Fleet } from './fleet';
import type { KillRecord, WireEntry } from './instrument';
import { summarise, type SoakResult, type WaveFigures } from './result';
import {
  createStack,
  destroyClients,
  directClients,
  expireFinishedItems,
  productClients,
  queueDepth,
  type AwsClients,
  type Stack,
} from './stack';
import { checkJob, jobDone, type JobCheck, type LedgerRow } from './verify';
import { planWave, type Work } from './workload';

/** A wave with no call to DANAConnect and no job done for this long is stuck: the soak fails. */
const STUCK_MS = 120_000;
/** Kills stop once the queue holds this few messages, so the drain waits at most one visibility timeout after. */
const KILLS_END_AT_DEPTH = 5;
/** Redrives of one wave's dead-letter queue before the soak gives up on it. */
const MAX_REDRIVES_PER_WAVE = 3;

interface Ctx {
  options: SoakOptions;
  log: (line: string) => void;
  /** Stops the soak early (it then tears everything down and reports what it has). */
  signal?: AbortSignal;
  run: string;
  /** The workload's generator (seeded: the same seed plans the same work) and the kills' own. */
  random: () => number;
  killRandom: () => number;
  began: number;
  /** When the last wave was checked (or the soak gave up): the wall time ends here, before the teardown. */
  ended?: number;
  direct: AwsClients;
  product: AwsClients;
  stack: Stack;
  proxy: AwsFaultProxy;
  sandbox: Sandbox;
  fleet: Fleet;
  feeder: Feeder;
  ledger: LedgerRow[];
  jobs: JobCheck[];
  counters: { killRequests: number; redrives: number; redriven: number; expired: number };
  /** How long moto took to answer the progress line's GetQueueAttributes, every 10 s (its load). */
  motoMs: number[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function checkTime(ctx: Ctx): void {
  if (ctx.signal?.aborted) throw new Error('the soak was stopped');
  if (Date.now() - ctx.began > ctx.options.timeLimitMs) {
    throw new Error(`time limit of ${ctx.options.timeLimitMs / 1000} s reached`);
  }
}

/** The handler's (and the feeder's) environment: the stack, the sandbox as DANAConnect, the rate. */
function handlerEnv(options: SoakOptions, stack: Stack, sandbox: Sandbox): Record<string, string> {
  return {
    JOBS_TABLE_NAME: stack.tableName,
    QUEUE_URL: stack.queueUrl,
    BUCKET_NAME: stack.bucketName,
    MAX_RECEIVE_COUNT: String(options.maxReceiveCount),
    DANA_RATE_LIMIT_PER_SECOND: String(options.rate),
    DANA_BASE_URL: sandbox.url,
    DANA_TOKEN_URL: sandbox.tokenUrl,
    DANA_USERNAME: DEMO_USER.username,
    DANA_COMPANY_CODE: DEMO_USER.companyCode,
    DANA_PASSWORD: DEMO_USER.password,
    DANA_TIMEOUT_MS: String(options.danaTimeoutMs),
  };
}

async function visibleMessages(ctx: Ctx): Promise<number> {
  const answer = await ctx.direct.sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: ctx.stack.queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages'],
    }),
  );
  return Number(answer.Attributes?.ApproximateNumberOfMessages ?? 0);
}

/**
 * Kill requests at random (exponential gaps, mean `killEveryMs`) from a wave's start until its queue is almost
 * empty (KILLS_END_AT_DEPTH), so the drain waits for at most one visibility timeout after the last kill.
 */
function startKiller(ctx: Ctx): { stop(): void } {
  const mean = ctx.options.killEveryMs;
  if (mean <= 0) return { stop: () => undefined };
  let timer: NodeJS.Timeout;
  const schedule = () => {
    timer = setTimeout(
      () => {
        if (ctx.fleet.requestKill(ctx.killRandom)) ctx.counters.killRequests++;
        schedule();
      },
      -Math.log(1 - ctx.killRandom()) * mean,
    );
  };
  schedule();
  return { stop: () => clearTimeout(timer) };
}

/** One line every 10 s while a wave runs: where the work stands, how loaded moto and the proxy are. */
function startProgress(ctx: Ctx, wave: number): { stop(): void } {
  const timer = setInterval(() => {
    void (async () => {
      const began = performance.now();
      const depth = await queueDepth(ctx.direct.sqs, ctx.stack.queueUrl);
      const motoMs = performance.now() - began;
      ctx.motoMs.push(motoMs);
      const dead = await queueDepth(ctx.direct.sqs, ctx.stack.dlqUrl);
      const proxy = ctx.proxy.stats();
      ctx.log(
        `  wave ${wave}: queue ${depth}, DLQ ${dead}, ${ctx.sandbox.received().length} DANAConnect calls, ` +
          `${ctx.fleet.kills.length} kills; moto answered in ${motoMs.toFixed(0)} ms; proxy: ${proxy.inFlight} open ` +
          `(${proxy.hanging} hanging), ${proxy.locks.items} item locks; ${((Date.now() - ctx.began) / 1000).toFixed(0)} s`,
      );
    })().catch(() => undefined);
  }, 10_000);
  return { stop: () => clearInterval(timer) };
}

/** Feeds a wave's work, at most `feedConcurrency` items at once and never far ahead of the workers. */
async function feedWave(ctx: Ctx, work: Work[]): Promise<JobRef[]> {
  const refs: JobRef[] = [];
  const errors: unknown[] = [];
  const inFlight = new Set<Promise<void>>();
  for (const item of work) {
    while ((await visibleMessages(ctx)) >= ctx.options.backlogLimit) await sleep(250);
    while (inFlight.size >= ctx.options.feedConcurrency) await Promise.race(inFlight);
    checkTime(ctx);
    if (errors.length > 0) break;
    const task: Promise<void> = (item.kind === 'upload' ? ctx.feeder.upload(item) : ctx.feeder.submit(item))
      .then(
        (ref) => void refs.push(ref),
        (error: unknown) => void errors.push(error),
      )
      .finally(() => inFlight.delete(task));
    inFlight.add(task);
  }
  await Promise.all(inFlight);
  if (errors.length > 0) throw new Error(`feeding failed: ${String(errors[0])}`);
  return refs;
}

/** Moves the dead-letter queue back (through the fault proxy, as an operator's redrive would go). */
async function redriveDeadLetters(ctx: Ctx): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      const moved = await redrive(ctx.product.sqs, {
        dlqUrl: ctx.stack.dlqUrl,
        queueUrl: ctx.stack.queueUrl,
      });
      ctx.counters.redrives++;
      ctx.counters.redriven += moved.moved;
      ctx.log(`  redrove ${moved.moved} dead-lettered chunks`);
      return;
    } catch (error) {
      if (attempt >= 5) throw error;
    }
  }
}

/** Waits until the queue and the dead-letter queue are empty and every job of the wave is done. */
async function drain(ctx: Ctx, refs: JobRef[], killer: { stop(): void }): Promise<void> {
  const pending = new Set(refs.map((r) => r.jobId));
  let redrives = 0;
  let last = { depth: -1, pending: pending.size, at: Date.now() };
  for (;;) {
    checkTime(ctx);
    const depth = await queueDepth(ctx.direct.sqs, ctx.stack.queueUrl);
    const dead = await queueDepth(ctx.direct.sqs, ctx.stack.dlqUrl);
    if (depth <= KILLS_END_AT_DEPTH) killer.stop();
    if (depth === 0 && dead > 0) {
      if (++redrives > MAX_REDRIVES_PER_WAVE) throw new Error(`chunks keep coming back to the DLQ (${dead})`);
      await redriveDeadLetters(ctx);
      continue;
    }
    if (depth === 0) {
      for (const jobId of pending) if (await jobDone(ctx.direct, ctx.stack, jobId)) pending.delete(jobId);
      if (pending.size === 0) return;
    }
    if (depth !== last.depth || pending.size !== last.pending)
      last = { depth, pending: pending.size, at: Date.now() };
    if (Date.now() - last.at > STUCK_MS) {
      throw new Error(
        `stuck: ${pending.size} jobs not done (e.g. ${[...pending][0]}), queue ${depth}, DLQ ${dead}`,
      );
    }
    await sleep(500);
  }
}

async function checkWave(ctx: Ctx, refs: JobRef[]): Promise<void> {
  for (const ref of refs) {
    const { rows, check } = await checkJob(ctx.direct, ctx.stack, ref);
    ctx.ledger.push(...rows);
    ctx.jobs.push(check);
  }
}

async function runWave(ctx: Ctx, wave: number, rows: number): Promise<WaveFigures> {
  const work = planWave({ run: ctx.run, wave, rows, apiShare: ctx.options.apiShare, random: ctx.random });
  const began = Date.now();
  const progress = startProgress(ctx, wave);
  const killer = startKiller(ctx);
  let fed: number;
  let drained: number;
  let refs: JobRef[];
  try {
    refs = await feedWave(ctx, work);
    fed = Date.now();
    await drain(ctx, refs, killer);
    drained = Date.now();
  } finally {
    killer.stop();
    progress.stop();
  }
  await checkWave(ctx, refs);
  ctx.counters.expired += await expireFinishedItems(ctx.direct.dynamo, ctx.stack.tableName);
  const figures: WaveFigures = {
    wave,
    rows,
    jobs: refs.length,
    feedSeconds: (fed - began) / 1000,
    drainSeconds: (drained - fed) / 1000,
    checkSeconds: (Date.now() - drained) / 1000,
  };
  ctx.log(
    `wave ${wave}: ${rows} rows, ${refs.length} jobs; fed in ${figures.feedSeconds.toFixed(0)} s, drained in ` +
      `${figures.drainSeconds.toFixed(0)} s; ${ctx.fleet.kills.length} kills so far; ` +
      `${((Date.now() - ctx.began) / 1000).toFixed(0)} s elapsed`,
  );
  return figures;
}

/** Every wire log the worker processes wrote. */
function readWire(logDir: string): WireEntry[] {
  return readdirSync(logDir)
    .filter((f) => f.endsWith('.wire.jsonl'))
    .flatMap((f) =>
      readFileSync(join(logDir, f), 'utf8')
        .split('\n')
        .filter((line) => line.length > 0)
        .map((line) => JSON.parse(line) as WireEntry),
    );
}

type SoakIo = { motoUrl: string; logDir: string; log: (line: string) => void; signal?: AbortSignal };

/** The fleet and the feeder over a made stack. */
function wire(
  options: SoakOptions,
  io: SoakIo,
  parts: Pick<Ctx, 'proxy' | 'sandbox' | 'direct' | 'product' | 'stack'>,
) {
  const env = handlerEnv(options, parts.stack, parts.sandbox);
  const fleet = new Fleet(
    {
      ...{ queueUrl: parts.stack.queueUrl, queueArn: parts.stack.queueArn, batchSize: options.batchSize },
      functionTimeoutMs: options.functionTimeoutMs,
      loops: options.loopsPerProcess,
      awsEndpoint: parts.proxy.url,
      logDir: io.logDir,
      leaseMarginMs: options.leaseMarginMs,
      callWindowMs: options.callWindowMs,
      redelivery: SOAK_REDELIVERY,
      handlerEnv: env,
    },
    options.processes,
  );
  return { fleet, feeder: new Feeder({ ...parts, env }) };
}

/** The proxy, the sandbox, the clients and the stack; whatever was started is stopped if a later step fails. */
async function setUp(options: SoakOptions, io: SoakIo): Promise<Ctx> {
  mkdirSync(io.logDir, { recursive: true });
  const run = `s${options.seed.toString(36)}${Date.now().toString(36).slice(-4)}`;
  const proxy = await startAwsFaultProxy({ target: io.motoUrl, faults: awsFaults(options.seed) });
  const sandbox = await startSandbox({
    rateLimitPerSecond: options.rate,
    idleResetMs: options.sandboxIdleResetMs,
  });
  const direct = directClients(io.motoUrl);
  const product = productClients(proxy.url);
  try {
    sandbox.setFaults({
      latencyMs: options.sandboxLatencyMs,
      idleResetMs: options.sandboxIdleResetMs,
      mix: { seed: options.seed, p: DANA_MIX },
    });
    const stack = await createStack(direct, {
      suffix: run,
      visibilitySeconds: options.visibilitySeconds,
      maxReceiveCount: options.maxReceiveCount,
    });
    const parts = { proxy, sandbox, direct, product, stack };
    const random = mulberry32(options.seed ^ 0x50a4);
    const killRandom = mulberry32(options.seed ^ 0x4b11);
    const counters = { killRequests: 0, redrives: 0, redriven: 0, expired: 0 };
    const base = { options, log: io.log, signal: io.signal, run, random, killRandom, began: Date.now() };
    return { ...base, ...parts, ...wire(options, io, parts), ledger: [], jobs: [], counters, motoMs: [] };
  } catch (error) {
    await Promise.all([proxy.close(), sandbox.close()]);
    destroyClients(direct);
    destroyClients(product);
    throw error;
  }
}

async function tearDown(ctx: Ctx): Promise<void> {
  await ctx.fleet.stop();
  await ctx.proxy.close();
  await ctx.sandbox.close();
  destroyClients(ctx.direct);
  destroyClients(ctx.product);
}

function resultOf(ctx: Ctx, waves: WaveFigures[], error: string | undefined, logDir: string): SoakResult {
  const kills: KillRecord[] = ctx.fleet.kills.map((k) => k.record);
  const sandbox = {
    received: ctx.sandbox.received(),
    started: ctx.sandbox.started(),
    duplicateKeys: ctx.sandbox.duplicates().length,
    faults: ctx.sandbox.faultStats(),
  };
  const analysis = analyse(ctx.ledger, ctx.jobs, sandbox, readWire(logDir), kills);
  const finished: Criterion = {
    name: 'soak finished (every wave drained: queue and DLQ empty, every job done)',
    ok: error === undefined && ctx.ledger.length === ctx.options.rows,
    value: error ?? `${ctx.ledger.length} rows in ${waves.length} waves`,
  };
  const crashes: Criterion = {
    name: "no worker process died but by the soak's kills",
    ok: ctx.fleet.crashes.length === 0,
    value: String(ctx.fleet.crashes.length),
  };
  return summarise({ ctx, waves, analysis, criteria: [finished, ...criteria(analysis), crashes], kills });
}

/**
 * Runs the soak against moto at `motoUrl`; worker logs, wire logs and kill records go to `logDir`. `signal` stops
 * it early (everything it started is stopped before it returns).
 */
export async function runSoak(options: SoakOptions, p: SoakIo): Promise<SoakResult> {
  const ctx = await setUp(options, p);
  const waves: WaveFigures[] = [];
  let error: string | undefined;
  try {
    await ctx.fleet.start();
    ctx.began = Date.now();
    for (let done = 0, wave = 0; done < options.rows; wave++) {
      const rows = Math.min(options.waveRows, options.rows - done);
      waves.push(await runWave(ctx, wave, rows));
      done += rows;
    }
  } catch (caught) {
    error = caught instanceof Error ? caught.message : String(caught);
    p.log(`soak failed: ${error}`);
  } finally {
    ctx.ended = Date.now();
    await tearDown(ctx);
  }
  return resultOf(ctx, waves, error, p.logDir);
}

export type { Ctx as SoakContext };
