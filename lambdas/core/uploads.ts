/**
 * The upload API, pure: `POST /uploads` hands out a presigned form that uploads one file under a fresh key of
 * `uploads/{conversation}/`, and `GET /jobs/{jobId}/report` sends a reader to a short-lived link to a done
 * upload job's report. The signing is a port (UploadSigner): S3 presigned POST and GET in AWS
 * (../adapters/upload-signer.ts), the local gateway's own form endpoint locally (local/upload-endpoint.ts).
 *
 * Keys are `uploads/{conversationId or alias}/{UTC time}-{8 random hex}/{fileName}`: two uploads of the same file
 * name never share a key, so never a job or a report (reports are named after the key, ./reports.ts), and the
 * time sorts them.
 */
import { randomBytes } from 'node:crypto';
import { resolveConversation, type AliasStore } from './aliases';
import { InvalidInputError } from './errors';
import { readableJob, type Reader } from './job-access';
import type { JobStore } from './jobs';
import { reportKeys, reportSegment } from './reports';
import { UPLOAD_PREFIX } from './upload/key';

export const MAX_FILE_NAME_LENGTH = 200;
/** How long a presigned upload form is valid by default. */
export const DEFAULT_UPLOAD_EXPIRY_SECONDS = 15 * 60;
/** How long a report link is valid. */
export const REPORT_LINK_EXPIRY_SECONDS = 5 * 60;
/** The upload formats' extensions (./upload/key.ts), any case. */
const EXTENSION = /\.(csv|jsonl|json)$/i;

/** 1..200 characters, no path separator, no control character, a name before one of the extensions. */
function isFileName(name: unknown): name is string {
  if (typeof name !== 'string' || name.length > MAX_FILE_NAME_LENGTH) return false;
  if (/[/\\]|\p{Cc}/u.test(name) || !EXTENSION.test(name)) return false;
  return !/^\.*$/.test(name.replace(EXTENSION, ''));
}

/** The form a client posts (multipart/form-data): every field, then the file as the last part, named `file`. */
export interface PresignedForm {
  url: string;
  fields: Record<string, string>;
}

export interface UploadSigner {
  /** A form that stores exactly `key`, of 1..maxBytes bytes, until `expiresInSeconds` from now. */
  presignPost(key: string, maxBytes: number, expiresInSeconds: number): Promise<PresignedForm>;
  /** A link that reads `key` until `expiresInSeconds` from now. */
  presignGet(key: string, expiresInSeconds: number): Promise<string>;
}

export interface UploadRequest {
  conversation: string | number;
  fileName: string;
  contentLength: number;
}

/** `{conversation, fileName, contentLength}`; each checked here, the conversation again when it is resolved. */
export function parseUploadRequest(body: unknown, maxUploadBytes: number): UploadRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new InvalidInputError(
      'body',
      'must be a JSON object with conversation, fileName and contentLength',
    );
  }
  const { conversation, fileName, contentLength, ...rest } = body as Record<string, unknown>;
  const unknown = Object.keys(rest)[0];
  if (unknown !== undefined)
    throw new InvalidInputError('body', 'has a field other than conversation, fileName, contentLength');
  if (typeof conversation !== 'string' && typeof conversation !== 'number') {
    throw new InvalidInputError('conversation', 'must be a conversation id or an alias name');
  }
  if (!isFileName(fileName)) {
    throw new InvalidInputError(
      'fileName',
      `must be 1 to ${MAX_FILE_NAME_LENGTH} characters ending in .csv, .jsonl or .json, without / \\ or control characters`,
    );
  }
  if (typeof contentLength !== 'number' || !Number.isInteger(contentLength) || contentLength < 1) {
    throw new InvalidInputError('contentLength', 'must be the file size in bytes, an integer of at least 1');
  }
  if (contentLength > maxUploadBytes) {
    throw new InvalidInputError(
      'contentLength',
      `must be at most ${maxUploadBytes} bytes`,
      'PAYLOAD_TOO_LARGE',
    );
  }
  return { conversation, fileName, contentLength };
}

/** `uploads/1001/20261201T153000Z-3f9a1c7e/march.csv` (or `uploads/newsletter/…` for an alias). */
export function newUploadKey(conversation: number | string, fileName: string, now: Date): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `${UPLOAD_PREFIX}${conversation}/${stamp}-${randomBytes(4).toString('hex')}/${fileName}`;
}

export interface UploadDeps {
  aliases: Pick<AliasStore, 'get'>;
  signer: UploadSigner;
  expiresInSeconds?: number;
  now?: () => Date;
}

/** `POST /uploads` (its body read by parseUploadRequest): 201 `{key, upload: {url, fields}, expiresAt}`. */
export async function createUpload(deps: UploadDeps, request: UploadRequest) {
  // Resolved now, so an unknown alias is refused before anything is signed; the key keeps the reference as given
  // (an alias is resolved again when the file is ingested, like any upload under `uploads/<alias>/`).
  const { conversationId, alias } = await resolveConversation(
    request.conversation,
    deps.aliases,
    'conversation',
  );
  const now = (deps.now ?? (() => new Date()))();
  const expiresIn = deps.expiresInSeconds ?? DEFAULT_UPLOAD_EXPIRY_SECONDS;
  const key = newUploadKey(alias ?? conversationId, request.fileName, now);
  const upload = await deps.signer.presignPost(key, request.contentLength, expiresIn);
  return { key, upload, expiresAt: new Date(now.getTime() + expiresIn * 1000).toISOString() };
}

/**
 * `GET /jobs/{jobId}/report`: a link to the report of a done upload job this reader may read. 404 for anything
 * else, alike: a job it may not read, an API job (no report; its outcomes are in GET /jobs/{jobId}), a job not
 * done yet, or done but its report not written yet (a job is marked done before its report is written,
 * ./reports.ts settleJob; `reportedRev` says it is).
 */
export async function reportLink(
  jobs: Pick<JobStore, 'getJob'>,
  signer: Pick<UploadSigner, 'presignGet'>,
  jobId: string,
  reader: Reader,
): Promise<string> {
  const job = await readableJob(jobs, jobId, reader);
  const segment = reportSegment(job);
  if (segment === undefined) throw new InvalidInputError('jobId', 'this job has no report', 'NOT_FOUND');
  if (job.state !== 'done')
    throw new InvalidInputError('jobId', 'the report is not ready: the job is not done', 'NOT_FOUND');
  if (job.reportedRev === undefined)
    throw new InvalidInputError('jobId', 'the report is not ready: it is being written', 'NOT_FOUND');
  return signer.presignGet(reportKeys(segment, job.name).csv, REPORT_LINK_EXPIRY_SECONDS);
}
