/**
 * The soak's verdict: the ledger (what the pipeline recorded for every row) against what DANAConnect saw (the
 * sandbox's logs: every request received, every contact started), what the worker processes saw on the wire
 * (how each call ended) and what each killed process left behind (the rows whose calls were cut).
 */
import type { FaultStats, ReceivedRequest, StartedContact } from '../../local/sandbox/server';
import { emailsOf, type KillRecord, type WireEntry } from './instrument';
import type { JobCheck, LedgerRow } from './verify';

export interface Criterion {
  name: string;
  ok: boolean;
  value: string;
}

export interface SandboxView {
  received: ReceivedRequest[];
  started: StartedContact[];
  duplicateKeys: number;
  faults: FaultStats;
}

export interface Analysis {
  rows: { total: number; invalid: number; upload: number; api: number };
  accounted: { rows: number; percent: number; jobProblems: string[] };
  outcomes: { started: number; rejected: number; failed: number; unknown: number; deadLettered: number };
  duplicates: { amongNotUnknown: number; sandboxKeys: number; extraStarts: number };
  wrong: {
    startedNeverStarted: number;
    idResultMismatch: number;
    startedReportedFailed: number;
    invalidSent: number;
    validRejected: number;
  };
  unknown: {
    rows: number;
    budget: number;
    ambiguousRowsSandbox: number;
    droppedBeforeActingRows: number;
    killedRows: number;
    outsideAmbiguousOrKilled: number;
    neverSent: number;
    /** Of those, rows whose claim was open when a worker died at its function timeout (see instrument.ts). */
    neverSentClaimedAtTimeout: number;
  };
  calls: {
    total: number;
    answered2xx: number;
    /** 2xx answers per second, from the first to the last. */
    acceptedPerSecond: number;
    peakPerSecond: number;
    acceptedPeakPerSecond: number;
    vendorLimit429: number;
  };
}

const isUnknown = (row: LedgerRow) =>
  row.outcome?.status === 'failed' && (row.outcome.error ?? '').startsWith('outcome unknown');

/** Most events in any window of `windowMs` (sorted times). */
export function peakIn(times: number[], windowMs = 1000): number {
  let peak = 0;
  for (let lo = 0, hi = 0; hi < times.length; hi++) {
    while (times[hi]! - times[lo]! >= windowMs) lo++;
    peak = Math.max(peak, hi - lo + 1);
  }
  return peak;
}

function startsByEmail(started: StartedContact[]): Map<string, number[]> {
  const starts = new Map<string, number[]>();
  for (const contact of started) {
    const email = contact.fields.EMAIL;
    if (email !== undefined) starts.set(email, [...(starts.get(email) ?? []), contact.recordId]);
  }
  return starts;
}

const isApiCall = (r: ReceivedRequest) => r.path.includes('/rest/conversation/');

/** Rows whose call ended in a way the caller cannot read (5xx other than 503, no answer after sending). */
function ambiguousOnWire(wire: WireEntry[]): Set<string> {
  const rows = new Set<string>();
  for (const call of wire) {
    const status = call.status;
    const ambiguous = status === undefined ? call.written : status >= 500 && status !== 503;
    if (ambiguous) for (const row of call.rows) rows.add(row);
  }
  return rows;
}

function unknownFigures(
  ledger: LedgerRow[],
  sandbox: SandboxView,
  wire: WireEntry[],
  kills: KillRecord[],
  starts: Map<string, number[]>,
): Analysis['unknown'] {
  const unknown = ledger.filter(isUnknown).map((r) => r.email ?? '');
  const killed = new Set(kills.flatMap((k) => k.rows));
  const claimedAtTimeout = new Set(kills.flatMap((k) => (k.reason === 'timeout' ? k.openClaimRows : [])));
  const ambiguous = ambiguousOnWire(wire);
  const received = new Set(sandbox.received.filter(isApiCall).flatMap((r) => emailsOf(r.rawBody)));
  // The sandbox counts calls it acted on before failing; a call dropped before acting is as ambiguous to the
  // caller (the connection died after the request left) but not counted there: add its rows from the wire.
  const droppedBefore = new Set(
    wire
      .filter((c) => c.status === undefined && c.written)
      .flatMap((c) => c.rows)
      .filter((row) => !starts.has(row)),
  );
  return {
    rows: unknown.length,
    budget: sandbox.faults.ambiguousRows + droppedBefore.size + killed.size,
    ambiguousRowsSandbox: sandbox.faults.ambiguousRows,
    droppedBeforeActingRows: droppedBefore.size,
    killedRows: killed.size,
    outsideAmbiguousOrKilled: unknown.filter((e) => !ambiguous.has(e) && !killed.has(e)).length,
    neverSent: unknown.filter((e) => !received.has(e)).length,
    neverSentClaimedAtTimeout: unknown.filter((e) => !received.has(e) && claimedAtTimeout.has(e)).length,
  };
}

function wrongOutcomes(ledger: LedgerRow[], sandbox: SandboxView, starts: Map<string, number[]>) {
  const received = new Set(sandbox.received.filter(isApiCall).flatMap((r) => emailsOf(r.rawBody)));
  const wrong = {
    startedNeverStarted: 0,
    idResultMismatch: 0,
    startedReportedFailed: 0,
    invalidSent: 0,
    validRejected: 0,
  };
  for (const row of ledger) {
    const o = row.outcome;
    if (row.email === undefined) {
      if (o?.status !== 'rejected') wrong.validRejected++; // an invalid row must be rejected
      continue;
    }
    const ids = starts.get(row.email) ?? [];
    if (o?.status === 'rejected') wrong.validRejected++;
    if (o?.status === 'started' && ids.length === 0) wrong.startedNeverStarted++;
    else if (o?.status === 'started' && !ids.includes(o.idResult ?? -1)) wrong.idResultMismatch++;
    if (o?.status === 'failed' && !isUnknown(row) && ids.length > 0) wrong.startedReportedFailed++;
  }
  // Invalid rows have no EMAIL; any EMAIL the sandbox received that is no row of the work would be one.
  const known = new Set(ledger.flatMap((r) => (r.email ? [r.email] : [])));
  wrong.invalidSent = [...received].filter((email) => !known.has(email)).length;
  return wrong;
}

function callFigures(sandbox: SandboxView, wire: WireEntry[]): Analysis['calls'] {
  const arrivals = sandbox.received
    .filter(isApiCall)
    .map((r) => r.at)
    .sort((a, b) => a - b);
  const accepted = wire.filter((c) => c.status !== undefined && c.status < 300).map((c) => c.at);
  const throttled = wire.filter((c) => c.status === 429).length;
  accepted.sort((a, b) => a - b);
  const spanSeconds = accepted.length > 1 ? (accepted.at(-1)! - accepted[0]!) / 1000 : 0;
  return {
    total: arrivals.length,
    answered2xx: accepted.length,
    acceptedPerSecond: spanSeconds > 0 ? accepted.length / spanSeconds : 0,
    peakPerSecond: peakIn(arrivals),
    acceptedPeakPerSecond: peakIn(accepted),
    vendorLimit429: Math.max(0, throttled - (sandbox.faults.injected.status429 ?? 0)),
  };
}

export function analyse(
  ledger: LedgerRow[],
  jobs: JobCheck[],
  sandbox: SandboxView,
  wire: WireEntry[],
  kills: KillRecord[],
): Analysis {
  const starts = startsByEmail(sandbox.started);
  const count = (status: string) => ledger.filter((r) => r.outcome?.status === status).length;
  const accounted = ledger.filter((r) => r.stored === 1 && r.reported).length;
  const notUnknown = ledger.filter((r) => r.email !== undefined && !isUnknown(r));
  return {
    rows: {
      total: ledger.length,
      invalid: ledger.filter((r) => r.email === undefined).length,
      upload: ledger.filter((r) => r.source === 'upload').length,
      api: ledger.filter((r) => r.source === 'api').length,
    },
    accounted: {
      rows: accounted,
      percent: ledger.length === 0 ? 0 : (100 * accounted) / ledger.length,
      jobProblems: jobs.flatMap((j) => j.problems.map((p) => `${j.source} job ${j.jobId}: ${p}`)),
    },
    outcomes: {
      started: count('started'),
      rejected: count('rejected'),
      failed: count('failed'),
      unknown: ledger.filter(isUnknown).length,
      deadLettered: ledger.filter((r) => (r.outcome?.error ?? '').startsWith('dead-lettered')).length,
    },
    duplicates: {
      amongNotUnknown: notUnknown.filter((r) => (starts.get(r.email!)?.length ?? 0) > 1).length,
      sandboxKeys: sandbox.duplicateKeys,
      extraStarts: [...starts.values()].reduce((n, ids) => n + Math.max(0, ids.length - 1), 0),
    },
    wrong: wrongOutcomes(ledger, sandbox, starts),
    unknown: unknownFigures(ledger, sandbox, wire, kills, starts),
    calls: callFigures(sandbox, wire),
  };
}

/** The pass/fail criteria of the soak. */
export function criteria(a: Analysis): Criterion[] {
  const c = (name: string, ok: boolean, value: string): Criterion => ({ name, ok, value });
  const u = a.unknown;
  const w = a.wrong;
  return [
    c(
      'rows accounted (one outcome each, in the store and the report)',
      a.accounted.rows === a.rows.total && a.accounted.jobProblems.length === 0,
      `${a.accounted.rows} / ${a.rows.total} (${a.accounted.percent.toFixed(3)} %), ${a.accounted.jobProblems.length} job problems`,
    ),
    c(
      'duplicate starts among rows not reported unknown',
      a.duplicates.amongNotUnknown === 0,
      String(a.duplicates.amongNotUnknown),
    ),
    c(
      'rows reported unknown ≤ ambiguous rows + killed mid-call rows',
      u.rows <= u.budget,
      `${u.rows} ≤ ${u.budget} (${u.ambiguousRowsSandbox} acted-then-failed + ${u.droppedBeforeActingRows} dropped before acting + ${u.killedRows} killed mid-call)`,
    ),
    c(
      'unknown rows outside ambiguous calls and kills',
      u.outsideAmbiguousOrKilled === 0,
      String(u.outsideAmbiguousOrKilled),
    ),
    c(
      'rows never sent but reported unknown',
      u.neverSent === 0,
      u.neverSentClaimedAtTimeout > 0
        ? `${u.neverSent} (${u.neverSentClaimedAtTimeout} claimed by a worker that hit its function timeout)`
        : String(u.neverSent),
    ),
    c(
      'rows with a wrong definite outcome',
      w.startedNeverStarted +
        w.idResultMismatch +
        w.startedReportedFailed +
        w.invalidSent +
        w.validRejected ===
        0,
      JSON.stringify(w),
    ),
  ];
}
