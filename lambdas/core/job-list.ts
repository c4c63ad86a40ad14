/**
 * `GET /jobs`: the jobs a caller may read (./job-access.ts), newest first, a page at a time, pure over the
 * JobStore port and a cursor key.
 *
 * The cursor is opaque and tamper-safe: AES-256-GCM over the last position the page examined, with the caller and
 * the state filter as additional authenticated data. A cursor someone edited, made up, cut short, or took from
 * another caller or another `state` fails authentication and is refused with 400; nothing in it is readable.
 * The key is the stack's (../adapters/cursor-key.ts): a Secrets Manager secret in AWS, a per-process key locally.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { InvalidInputError } from './errors';
import { listOwners, type Reader } from './job-access';
import type { JobState, JobStore, JobSummary } from './jobs';

export const JOB_LIST_DEFAULT_LIMIT = 25;
export const JOB_LIST_MAX_LIMIT = 100;
const STATES: readonly JobState[] = ['ingesting', 'running', 'done'];
const CURSOR_VERSION = 1;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** A position is `<ISO instant>#<32 hex>`; anything else inside a cursor means it was not ours. */
const POSITION = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z#[0-9a-f]{32}$/;

export interface JobListParams {
  limit: number;
  state?: JobState;
  cursor?: string;
}

/** `limit` 1..100 (default 25), `state` one of ingesting|running|done, `cursor` as handed out. */
export function parseJobListQuery(query: Readonly<Record<string, string | undefined>>): JobListParams {
  const { limit: rawLimit, state, cursor } = query;
  let limit = JOB_LIST_DEFAULT_LIMIT;
  if (rawLimit !== undefined) {
    if (!/^[1-9][0-9]{0,2}$/.test(rawLimit) || Number(rawLimit) > JOB_LIST_MAX_LIMIT) {
      throw new InvalidInputError('limit', `must be an integer from 1 to ${JOB_LIST_MAX_LIMIT}`);
    }
    limit = Number(rawLimit);
  }
  if (state !== undefined && !STATES.includes(state as JobState)) {
    throw new InvalidInputError('state', `must be one of ${STATES.join(', ')}`);
  }
  if (cursor !== undefined && !/^[A-Za-z0-9_-]{1,512}$/.test(cursor)) throw badCursor();
  return {
    limit,
    ...(state !== undefined && { state: state as JobState }),
    ...(cursor !== undefined && { cursor }),
  };
}

const badCursor = () => new InvalidInputError('cursor', 'is not a cursor this API handed out');

/** What the cursor is bound to: who lists, and with which filter. */
const boundTo = (caller: string, state: JobState | undefined) =>
  Buffer.from(`jobs-list\n${caller}\n${state ?? '*'}`, 'utf8');

export function encodeJobCursor(
  key: Buffer,
  position: string,
  caller: string,
  state: JobState | undefined,
): string {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(boundTo(caller, state));
  const sealed = Buffer.concat([cipher.update(`${CURSOR_VERSION}:${position}`, 'utf8'), cipher.final()]);
  return Buffer.concat([nonce, sealed, cipher.getAuthTag()]).toString('base64url');
}

/** The position inside a cursor this caller was handed for this filter; 400 for anything else. */
export function decodeJobCursor(
  key: Buffer,
  cursor: string,
  caller: string,
  state: JobState | undefined,
): string {
  const bytes = Buffer.from(cursor, 'base64url');
  if (bytes.length <= NONCE_BYTES + TAG_BYTES) throw badCursor();
  let text: string;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, NONCE_BYTES));
    decipher.setAAD(boundTo(caller, state));
    decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
    const body = bytes.subarray(NONCE_BYTES, bytes.length - TAG_BYTES);
    text = Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');
  } catch {
    throw badCursor();
  }
  const prefix = `${CURSOR_VERSION}:`;
  const position = text.startsWith(prefix) ? text.slice(prefix.length) : '';
  if (!POSITION.test(position)) throw badCursor();
  return position;
}

/** Where a job came from, as the list shows it. */
export type JobSourceView = { kind: 'upload'; key: string } | { kind: 'api'; route: string };

/** One job in `GET /jobs`. */
export interface JobListItem {
  jobId: string;
  source: JobSourceView;
  conversationId?: number;
  projectId?: number;
  alias?: string;
  state: JobState;
  total: number;
  started: number;
  rejected: number;
  failed: number;
  createdAt: string;
  finishedAt?: string;
}

export function jobListItem(job: JobSummary): JobListItem {
  const { operation } = job;
  const source: JobSourceView =
    job.source === 'upload' ? { kind: 'upload', key: job.uploadKey ?? '' } : { kind: 'api', route: job.name };
  return {
    jobId: job.jobId,
    source,
    ...(operation.kind === 'project'
      ? { projectId: operation.projectId }
      : { conversationId: operation.conversationId }),
    ...(job.alias !== undefined && { alias: job.alias }),
    state: job.state,
    total: job.total,
    started: job.started,
    rejected: job.rejected,
    failed: job.failed,
    createdAt: job.startedAt,
    ...(job.finishedAt !== undefined && { finishedAt: job.finishedAt }),
  };
}

/** One page of `GET /jobs` for this reader: `{jobs, nextCursor?}`. */
export async function listJobsFor(
  jobs: Pick<JobStore, 'listJobs'>,
  reader: Reader,
  params: JobListParams,
  cursorKey: Buffer,
): Promise<{ jobs: JobListItem[]; nextCursor?: string }> {
  const { caller } = reader;
  // Behind the stack's API every method names its caller; one that names nobody owns nothing.
  if (caller === undefined) return { jobs: [] };
  const before =
    params.cursor === undefined ? undefined : decodeJobCursor(cursorKey, params.cursor, caller, params.state);
  const page = await jobs.listJobs({
    owners: listOwners(reader),
    limit: params.limit,
    ...(params.state !== undefined && { state: params.state }),
    ...(before !== undefined && { before }),
  });
  const next = page.lastPosition;
  return {
    jobs: page.jobs.map(jobListItem),
    ...(next !== undefined && { nextCursor: encodeJobCursor(cursorKey, next, caller, params.state) }),
  };
}
