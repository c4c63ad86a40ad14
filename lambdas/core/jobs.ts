/**
 * Batch jobs: the shapes that travel between the ingest (S3 upload or async HTTP request), the queue, the worker
 * and the report, and the ports the core needs for them. AWS adapters (SQS, S3, DynamoDB) and embedded twins
 * (in-process queue, folder, memory) implement the ports; the core never sees an SDK.
 */
import type { DanaRecord } from './validation';

/** Where a job's rows came from. */
export type JobSource = 'upload' | 'api';

/** Which DANAConnect operation starts a job's rows. Uploads always use `batch` (start/list/data). */
export type JobOperation =
  | { kind: 'batch'; conversationId: number }
  | { kind: 'data'; conversationId: number }
  | { kind: 'project'; projectId: number };

/** One row to start, with its 1-based data row number in the upload (or index + 1 in an API request). */
export interface JobRow {
  row: number;
  record: DanaRecord;
}

/** The SQS message body: up to 10 rows of one job, started with one DANAConnect call. */
export interface ChunkMessage {
  jobId: string;
  /** Deterministic (`<jobId>#<chunkIndex>`), so a re-ingest of the same object produces the same ids. */
  chunkId: string;
  operation: JobOperation;
  rows: JobRow[];
}

export type RowStatus = 'started' | 'rejected' | 'failed';

/** A row's final outcome, as it appears in the report. */
export interface RowOutcome {
  row: number;
  status: RowStatus;
  /** DANAConnect's idResult for a started row. */
  idResult?: number;
  /** Why a row was rejected or failed; never contains field values. */
  error?: string;
}

export type JobState = 'ingesting' | 'running' | 'done';

export interface JobSummary {
  jobId: string;
  source: JobSource;
  operation: JobOperation;
  /** For uploads: the report name (the upload's file name) and its conversation. */
  name: string;
  state: JobState;
  total: number;
  started: number;
  rejected: number;
  failed: number;
  startedAt: string;
  finishedAt?: string;
}

/** The queue of chunks. `sendChunks` must not drop anything: entries the queue refuses are retried or thrown. */
export interface ChunkQueue {
  sendChunks(chunks: ChunkMessage[]): Promise<void>;
}
