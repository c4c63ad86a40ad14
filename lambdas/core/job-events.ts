/**
 * The "Job Finished" event: what it says, and the outbox step that makes sure every job that reaches `done` is
 * announced at least once. Pure: the event bus is a port (EventBridge in AWS, the local webhook sender in
 * `npm start`), the job store holds the outbox flag (`eventPublished`, set only after the bus accepted the event).
 *
 * Guarantee: `announceJobFinished` runs wherever a job is settled (./reports.ts settleJob: the worker after every
 * chunk and on every redelivery, the ingest and its retries). A crash after `done` but before the flag is set
 * leaves the flag unset, and the next delivery of the same chunk or S3 event publishes again. A repeat (crash
 * after the put, before the flag; two settlers racing) carries the same `eventId` (= the job id): consumers drop
 * duplicates by it. The detail holds counts, ids and object keys only, never row contents.
 */
import type { JobStore, JobSummary } from './jobs';
import { reportKeys, reportSegment } from './reports';

export const JOB_EVENT_SOURCE = 'dana.gateway';
export const JOB_FINISHED_DETAIL_TYPE = 'Job Finished';
/** The Standard Webhooks event type of the same event. */
export const JOB_FINISHED_TYPE = 'job.finished';

export interface ObjectRef {
  bucket: string;
  key: string;
}

export type JobFinishedSource = { kind: 'upload'; key: string } | { kind: 'api'; route: string };

/** The event's `detail` (and the webhook's `data`). */
export interface JobFinishedDetail {
  /** Deterministic (the job id): a repeated event has the same one, so consumers can drop it. */
  eventId: string;
  jobId: string;
  source: JobFinishedSource;
  /** Absent for jobs started by project (`projectId` instead). */
  conversationId?: number;
  projectId?: number;
  alias?: string;
  total: number;
  started: number;
  rejected: number;
  failed: number;
  startedAt: string;
  finishedAt: string;
  /** Upload jobs only: API jobs have no report objects (read them with GET /jobs/{jobId}). */
  report?: ObjectRef;
  summary?: ObjectRef;
}

/** The bus. `publishJobFinished` throws unless the event was accepted. */
export interface JobEventPublisher {
  publishJobFinished(detail: JobFinishedDetail): Promise<void>;
}

/** What announcing needs: the bus, and the bucket the reports are in (named in the event). */
export interface JobEventDeps {
  publisher: JobEventPublisher;
  reportBucket: string;
}

/** Where the job came from, as `GET /jobs` shows it. */
export function eventSourceOf(job: JobSummary): JobFinishedSource {
  if (job.source === 'api') return { kind: 'api', route: job.name };
  // Jobs written before the store kept the key: rebuilt from the report name (the file name under the segment).
  return { kind: 'upload', key: job.uploadKey ?? `uploads/${reportSegment(job) ?? ''}/${job.name}` };
}

/** The detail of a done job's event: counts, ids and keys. */
export function jobFinishedDetail(job: JobSummary, reportBucket: string): JobFinishedDetail {
  const { operation } = job;
  const { alias } = job;
  const segment = reportSegment(job);
  const keys = segment === undefined ? undefined : reportKeys(segment, job.name);
  return {
    eventId: job.jobId,
    jobId: job.jobId,
    source: eventSourceOf(job),
    ...(operation.kind === 'project'
      ? { projectId: operation.projectId }
      : { conversationId: operation.conversationId }),
    ...(alias !== undefined && { alias }),
    total: job.total,
    started: job.started,
    rejected: job.rejected,
    failed: job.failed,
    startedAt: job.startedAt,
    finishedAt: job.finishedAt ?? job.startedAt,
    ...(keys && {
      report: { bucket: reportBucket, key: keys.csv },
      summary: { bucket: reportBucket, key: keys.summary },
    }),
  };
}

/** Whether the job is due its event: done, not yet recorded as announced, and (uploads) its report written. */
export function needsAnnouncement(job: JobSummary): boolean {
  if (job.state !== 'done' || job.eventPublished === true) return false;
  return reportSegment(job) === undefined || job.reportedRev !== undefined;
}

/**
 * Publishes the job's event unless it is recorded as published, then records it. Safe to repeat; throws when the
 * bus refused, so the caller's delivery fails and comes back (that is what makes the event impossible to lose).
 * Returns true when this call published.
 */
export async function announceJobFinished(
  deps: { jobs: JobStore; events?: JobEventDeps },
  job: JobSummary,
): Promise<boolean> {
  if (!deps.events || !needsAnnouncement(job)) return false;
  await deps.events.publisher.publishJobFinished(jobFinishedDetail(job, deps.events.reportBucket));
  await deps.jobs.markEventPublished(job.jobId);
  return true;
}
