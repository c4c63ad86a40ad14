/**
 * The soak's result: the criteria, the figures behind them, the faults injected on both sides, and the
 * printable report; `recordResult` writes it as the `soak` entry of bench/results.json.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { FaultStats } from '../../local/sandbox/server';
import type { ProxyStats } from '../../test/harness/aws-fault-proxy';
import type { Analysis, Criterion } from './analysis';
import { AWS_FAULTS, DANA_MIX, SOAK_REDELIVERY, type SoakOptions } from './config';
import type { LoopStats } from './event-source';
import type { FeedStats } from './feeder';
import type { KillRecord } from './instrument';
import type { SoakContext } from './run';

export interface WaveFigures {
  wave: number;
  rows: number;
  jobs: number;
  feedSeconds: number;
  drainSeconds: number;
  checkSeconds: number;
}

/** Per service: requests, and faults by kind (before forwarding, and after moto acted). */
export interface ProxySummary {
  requests: Record<string, number>;
  /** `service.Operation` → requests. */
  requestsByOperation: Record<string, number>;
  faults: Record<string, number>;
  actedThenFailed: Record<string, number>;
  transactionConflicts: number;
}

export interface SoakResult {
  ok: boolean;
  options: SoakOptions;
  criteria: Criterion[];
  analysis: Analysis;
  wallSeconds: number;
  rowsPerSecond: number;
  waves: WaveFigures[];
  proxy: ProxySummary;
  /** moto's answer time to a direct GetQueueAttributes, sampled every 10 s: how loaded it was. */
  motoLatencyMs: { p50: number; p90: number; max: number };
  sandboxFaults: FaultStats;
  kills: {
    requested: number;
    done: number;
    skipped: number;
    /** Each skipped kill's process state when it gave up. */
    skipReasons: string[];
    timeouts: number;
    crashes: string[];
    forcedStops: number;
  };
  pipeline: LoopStats & FeedStats & { redrives: number; redriven: number; itemsExpired: number };
}

/** `service.Operation.kind` → `service.kind` totals. */
function byServiceAndKind(counts: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, n] of Object.entries(counts)) {
    const [service, , kind] = key.split('.');
    const name = kind === undefined ? service! : `${service}.${kind}`;
    out[name] = (out[name] ?? 0) + n;
  }
  return out;
}

export function proxySummary(stats: ProxyStats): ProxySummary {
  return {
    requests: byServiceAndKind(stats.requests),
    requestsByOperation: stats.requests,
    faults: byServiceAndKind(stats.faults),
    actedThenFailed: byServiceAndKind(stats.actedThenFailed),
    transactionConflicts: Object.values(stats.transactionConflicts).reduce((a, b) => a + b, 0),
  };
}

/** p50, p90 and max of samples, in whole ms. */
function percentiles(samples: number[]): { p50: number; p90: number; max: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) =>
    Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0);
  return { p50: at(0.5), p90: at(0.9), max: Math.round(sorted.at(-1) ?? 0) };
}

export function summarise(p: {
  ctx: SoakContext;
  waves: WaveFigures[];
  analysis: Analysis;
  criteria: Criterion[];
  kills: KillRecord[];
}): SoakResult {
  const { ctx } = p;
  const wallSeconds = ((ctx.ended ?? Date.now()) - ctx.began) / 1000;
  return {
    ok: p.criteria.every((c) => c.ok),
    options: ctx.options,
    criteria: p.criteria,
    analysis: p.analysis,
    wallSeconds,
    rowsPerSecond: p.analysis.rows.total / wallSeconds,
    waves: p.waves,
    proxy: proxySummary(ctx.proxy.stats()),
    motoLatencyMs: percentiles(ctx.motoMs),
    sandboxFaults: ctx.sandbox.faultStats(),
    kills: {
      requested: ctx.counters.killRequests,
      done: p.kills.filter((k) => k.reason === 'kill').length,
      skipped: ctx.fleet.killsSkipped,
      skipReasons: ctx.fleet.skipReasons,
      timeouts: p.kills.filter((k) => k.reason === 'timeout').length,
      crashes: ctx.fleet.crashes.map((c) => `${c.name}: code ${c.code}, signal ${c.signal}`),
      forcedStops: ctx.fleet.forcedStops,
    },
    pipeline: {
      ...ctx.fleet.stats(),
      ...ctx.feeder.stats,
      redrives: ctx.counters.redrives,
      redriven: ctx.counters.redriven,
      itemsExpired: ctx.counters.expired,
    },
  };
}

const sum = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);
const list = (counts: Record<string, number>) =>
  Object.entries(counts)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');

/** The report printed at the end of a run. */
export function formatResult(r: SoakResult): string {
  const a = r.analysis;
  const calls = a.calls;
  const lines = [
    `Soak: ${a.rows.total} rows (${a.rows.upload} in ${r.pipeline.uploads} uploads, ${a.rows.api} in ${r.pipeline.apiRequests} API requests, ${a.rows.invalid} invalid), ${r.waves.length} waves, ${r.wallSeconds.toFixed(0)} s wall (${r.rowsPerSecond.toFixed(1)} rows/s)`,
    `Workers: ${r.options.processes} processes × ${r.options.loopsPerProcess} loops, batch ${r.options.batchSize}; ${r.pipeline.invocations} invocations, ${r.pipeline.records} records, ${r.pipeline.batchItemFailures} batch item failures`,
    `Outcomes: started ${a.outcomes.started}, rejected ${a.outcomes.rejected}, failed ${a.outcomes.failed} (unknown ${a.outcomes.unknown}, dead-lettered ${a.outcomes.deadLettered})`,
    `DANAConnect calls: ${calls.total} received, ${calls.answered2xx} answered 2xx (${calls.acceptedPerSecond.toFixed(2)}/s); peak ${calls.peakPerSecond}/s arriving, ${calls.acceptedPeakPerSecond}/s accepted, R = ${r.options.rate}; ${calls.vendorLimit429} answered 429 by the vendor's limit`,
    `Kills: ${r.kills.done} mid-call (${r.kills.requested} requested, ${r.kills.skipped} skipped${r.kills.skipReasons.length > 0 ? `: ${r.kills.skipReasons.join('; ')}` : ''}), ${r.kills.timeouts} at the function timeout; crashes: ${r.kills.crashes.length === 0 ? 'none' : r.kills.crashes.join('; ')}`,
    `AWS faults (proxy): ${sum(r.proxy.faults)} before forwarding (${list(r.proxy.faults)}); ${sum(r.proxy.actedThenFailed)} after moto acted (${list(r.proxy.actedThenFailed)}); ${r.proxy.transactionConflicts} transaction conflicts; requests ${list(r.proxy.requests)}`,
    `DANAConnect faults (sandbox): ${list(r.sandboxFaults.injected)}; ambiguous calls ${r.sandboxFaults.ambiguousCalls} carrying ${r.sandboxFaults.ambiguousRows} rows (${r.sandboxFaults.startedByAmbiguous} started)`,
    `moto under load: it answered a GetQueueAttributes in ${r.motoLatencyMs.p50} ms (p50), ${r.motoLatencyMs.p90} ms (p90), ${r.motoLatencyMs.max} ms (max)`,
    `Callers' retries: ${r.pipeline.ingestRetries} ingest, ${r.pipeline.submitRetries} submit; redrives ${r.pipeline.redrives} (${r.pipeline.redriven} chunks)`,
    `Duplicates: ${a.duplicates.sandboxKeys} contacts started more than once (${a.duplicates.extraStarts} extra starts), ${a.duplicates.amongNotUnknown} among rows not reported unknown`,
    '',
    ...r.criteria.map((c) => `${c.ok ? 'PASS' : 'FAIL'}  ${c.name}: ${c.value}`),
    ...a.accounted.jobProblems.slice(0, 10).map((p) => `      ${p}`),
  ];
  return lines.join('\n');
}

/** Writes the `soak` entry of bench/results.json, keeping everything else in the file. */
export function recordResult(file: string, r: SoakResult, command: string, machine: unknown): void {
  const results = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  results.soak = {
    date: new Date().toISOString(),
    command,
    machine,
    ok: r.ok,
    options: r.options,
    faultRates: { aws: AWS_FAULTS, dana: DANA_MIX, redelivery: SOAK_REDELIVERY },
    criteria: r.criteria,
    figures: r.analysis,
    wallSeconds: Number(r.wallSeconds.toFixed(1)),
    rowsPerSecond: Number(r.rowsPerSecond.toFixed(1)),
    waves: r.waves,
    proxy: r.proxy,
    motoLatencyMs: r.motoLatencyMs,
    sandboxFaults: r.sandboxFaults,
    kills: r.kills,
    pipeline: r.pipeline,
  };
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
}
