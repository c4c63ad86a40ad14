/**
 * A job's reports: `reports/{segment}/{name}.report.csv` (one line per row, in row order) and
 * `reports/{segment}/{name}.summary.json`. For an upload the segment is its conversation id; a file the ingest
 * could not read at all gets the same two objects, with a header-only CSV and an `error` in the summary.
 *
 * CSV: RFC 4180 (CRLF line ends; a field holding a comma, quote, CR or LF is quoted, quotes doubled), columns
 * `row,status,idResult,error`. Streamed from the job store, so a million-row report never sits in memory.
 */
import { randomUUID } from 'node:crypto';
import { announceJobFinished, type JobEventDeps } from './job-events';
import type { JobStore, JobSummary, ObjectStore, RowOutcome } from './jobs';

export const REPORT_COLUMNS = ['row', 'status', 'idResult', 'error'] as const;
export const REPORT_HEADER = REPORT_COLUMNS.join(',');
const CRLF = '\r\n';
/** Lines are handed to the object store in pieces of about this many characters, not one by one. */
const PIECE_CHARS = 64 * 1024;

export interface ReportKeys {
  csv: string;
  summary: string;
}

export function reportKeys(segment: string, name: string): ReportKeys {
  const base = `reports/${segment}/${name}`;
  return { csv: `${base}.report.csv`, summary: `${base}.summary.json` };
}

/** The summary object, as written to `{name}.summary.json`. */
export interface ReportSummary {
  jobId?: string;
  /** The conversation the rows were started in (resolved from the alias when the key named one). */
  conversationId?: number;
  /** The alias the upload key named, when it named one (`uploads/newsletter/…`). */
  alias?: string;
  total: number;
  started: number;
  rejected: number;
  failed: number;
  startedAt: string;
  finishedAt: string;
  /** Why the file could not be read at all (rejected uploads only). */
  error?: string;
}

/** One CSV field, quoted only when RFC 4180 requires it. */
export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

export function reportLine(outcome: RowOutcome): string {
  return (
    [String(outcome.row), outcome.status, outcome.idResult === undefined ? '' : String(outcome.idResult)]
      .concat(csvField(outcome.error ?? ''))
      .join(',') + CRLF
  );
}

/** The report CSV, header first, as pieces of whole lines. */
export async function* reportCsv(outcomes: AsyncIterable<RowOutcome>): AsyncGenerator<string> {
  let piece = REPORT_HEADER + CRLF;
  for await (const outcome of outcomes) {
    piece += reportLine(outcome);
    if (piece.length >= PIECE_CHARS) {
      yield piece;
      piece = '';
    }
  }
  if (piece.length > 0) yield piece;
}

/** Where an upload job's reports go; undefined for jobs that came through the async API (read via GET /jobs). */
export function reportSegment(job: JobSummary): string | undefined {
  if (job.source !== 'upload') return undefined;
  // An upload under an alias reports beside it (`reports/newsletter/…`), whatever id the alias held.
  if (job.alias !== undefined) return job.alias;
  return job.operation.kind === 'project'
    ? `project-${job.operation.projectId}`
    : String(job.operation.conversationId);
}

/** What the report's `.summary.json` says about a job. */
export function reportSummary(job: JobSummary): ReportSummary {
  return {
    jobId: job.jobId,
    ...(job.operation.kind !== 'project' && { conversationId: job.operation.conversationId }),
    ...(job.alias !== undefined && { alias: job.alias }),
    total: job.total,
    started: job.started,
    rejected: job.rejected,
    failed: job.failed,
    startedAt: job.startedAt,
    finishedAt: job.finishedAt ?? job.startedAt,
  };
}

const summaryText = (summary: ReportSummary) => JSON.stringify(summary, null, 2) + '\n';

/** Every row of the job has its final outcome and the ingest is over. */
export function hasAllOutcomes(job: JobSummary): boolean {
  return job.state !== 'ingesting' && job.started + job.rejected + job.failed === job.total;
}

/**
 * Writes (or rewrites) both report objects of an upload job as it stands: the CSV first, the summary last,
 * so a summary's presence means the report beside it is complete. Nothing for API jobs.
 */
export async function writeReport(
  deps: { jobs: JobStore; bucket: ObjectStore },
  job: JobSummary,
): Promise<void> {
  const segment = reportSegment(job);
  if (segment === undefined) return;
  const keys = reportKeys(segment, job.name);
  await deps.bucket.write(keys.csv, reportCsv(deps.jobs.outcomes(job.jobId)), 'text/csv; charset=utf-8');
  await deps.bucket.write(keys.summary, summaryText(reportSummary(job)), 'application/json');
}

/** How long a report writer may hold the job's report lease by default (writing a million rows takes a while). */
export const DEFAULT_REPORT_LEASE_MS = 5 * 60_000;
/** Rewrites in one call while redriven chunks keep changing the outcomes; the next writer picks up the rest. */
const MAX_REPORT_ROUNDS = 5;

/**
 * Writes a done upload job's reports unless they already reflect its outcomes (`reportedRev = rev`): a duplicate
 * delivery rewrites nothing. One writer at a time (a lease on the job item), and the writer checks after letting
 * go whether a redriven chunk changed the outcomes while it wrote, and writes again if so. So a report that was
 * read before a change can never land after the report of that change: the newer one is written after it.
 * Returns true when this call wrote them.
 */
export async function publishReport(
  deps: { jobs: JobStore; bucket: ObjectStore },
  jobId: string,
  leaseMs: number = DEFAULT_REPORT_LEASE_MS,
): Promise<boolean> {
  const owner = randomUUID();
  let wrote = false;
  for (let round = 0; round < MAX_REPORT_ROUNDS; round++) {
    // Undefined: not done, or another writer holds the lease (it re-checks before it lets go).
    const job = await deps.jobs.takeReportLease(jobId, owner, leaseMs);
    if (!job) return wrote;
    const rev = job.rev ?? 0;
    const stale = job.reportedRev === undefined || job.reportedRev < rev;
    if (!stale) {
      await deps.jobs.releaseReportLease(jobId, owner);
      return wrote;
    }
    try {
      await writeReport(deps, job);
    } catch (error) {
      // Let the next delivery (which this failure brings) write it, without waiting for the lease to run out.
      await deps.jobs.releaseReportLease(jobId, owner).catch(() => undefined);
      throw error;
    }
    await deps.jobs.releaseReportLease(jobId, owner, rev);
    wrote = true;
    const after = await deps.jobs.getJob(jobId);
    if ((after?.rev ?? 0) === rev) return wrote;
  }
  return wrote;
}

/**
 * Called after anything that may have given a job its last outcome (a completed chunk, the end of the ingest, a
 * duplicate delivery): moves a job with every outcome to `done` (once, whoever else races for it), and writes an
 * upload job's reports if they do not reflect its outcomes yet, then publishes its Job Finished event unless that
 * is recorded as done (./job-events.ts). Safe to repeat: a crash anywhere in here is mended by the next delivery.
 * Returns the job as it now stands.
 */
export async function settleJob(
  deps: { jobs: JobStore; bucket: ObjectStore; events?: JobEventDeps },
  job: JobSummary,
  leaseMs: number = DEFAULT_REPORT_LEASE_MS,
): Promise<JobSummary> {
  let current = job;
  if (current.state === 'running' && hasAllOutcomes(current)) {
    await deps.jobs.markDone(current.jobId);
    current = (await deps.jobs.getJob(current.jobId)) ?? current;
  }
  if (current.state === 'done' && reportSegment(current) !== undefined) {
    if (await publishReport(deps, current.jobId, leaseMs)) {
      current = (await deps.jobs.getJob(current.jobId)) ?? current;
    }
  }
  // After the report: an upload's event names report objects that must exist when a consumer reads them.
  if (await announceJobFinished(deps, current)) current = { ...current, eventPublished: true };
  return current;
}

/**
 * The reports of an upload the ingest could not read at all (no valid conversation id, unknown extension, empty
 * file): a header-only CSV and a summary with total 0 and the reason. `at` is both startedAt and finishedAt.
 */
export async function writeRejectedUpload(
  bucket: ObjectStore,
  p: { segment: string; name: string; reason: string; at: string },
): Promise<void> {
  const keys = reportKeys(p.segment, p.name);
  const summary: ReportSummary = {
    total: 0,
    started: 0,
    rejected: 0,
    failed: 0,
    startedAt: p.at,
    finishedAt: p.at,
    error: p.reason,
  };
  await bucket.write(keys.csv, REPORT_HEADER + CRLF, 'text/csv; charset=utf-8');
  await bucket.write(keys.summary, summaryText(summary), 'application/json');
}
