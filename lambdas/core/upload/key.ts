/**
 * Upload keys: `uploads/{conversationId}/{name}.{csv|jsonl|json}` (the name may hold folders; the conversation may
 * be an alias, `uploads/newsletter/march.csv`, whose reports then go to `reports/newsletter/…`). What a key
 * means, how S3 event keys are decoded, and the job id of one object version. A job and its reports are named
 * after the full file name, extension included (`a.csv` -> `reports/1001/a.csv.report.csv`), so two uploads that
 * differ only in their extension (`a.csv`, `a.json`, `a.CSV`) never share, and overwrite, a report.
 */
import { createHash } from 'node:crypto';
import { looksLikeAlias, parseAliasName } from '../aliases';
import { InvalidInputError } from '../errors';
import { parseId } from '../validation';

export type UploadFormat = 'csv' | 'jsonl' | 'json';

export const UPLOAD_PREFIX = 'uploads/';
/** Report segment of an upload whose key has no valid conversation id. */
export const INVALID_SEGMENT = '_invalid';

const FORMATS: Readonly<Record<string, UploadFormat>> = { csv: 'csv', jsonl: 'jsonl', json: 'json' };

export type UploadKey =
  /**
   * A file to ingest. `segment` is the conversation as written, `name` the file name (folders kept). Exactly one
   * of `conversationId` (the segment is an id) and `alias` (the segment is an alias name, ../aliases.ts, which the
   * ingest resolves when it reads the file).
   */
  | {
      kind: 'upload';
      conversationId?: number;
      alias?: string;
      segment: string;
      name: string;
      format: UploadFormat;
    }
  /** A file that cannot be ingested: it gets a report under `reports/{segment}/{name}` saying why. */
  | { kind: 'rejected'; segment: string; name: string; reason: string }
  /** Not an upload at all (outside `uploads/`, or a folder marker): no job, no report. */
  | { kind: 'ignored'; reason: string };

/** Report names never hold empty, `.` or `..` segments, so a report cannot land outside its folder. */
function safeName(path: string): string {
  return path
    .split('/')
    .map((segment) => (segment === '' || segment === '.' || segment === '..' ? '_' : segment))
    .join('/');
}

/** `march/contacts.CSV` -> `csv`; no known extension (or a dotfile's name alone) -> undefined. */
function formatOf(path: string): UploadFormat | undefined {
  const base = path.slice(path.lastIndexOf('/') + 1);
  const dot = base.lastIndexOf('.');
  return dot <= 0 ? undefined : FORMATS[base.slice(dot + 1).toLowerCase()];
}

export function parseUploadKey(key: string): UploadKey {
  if (!key.startsWith(UPLOAD_PREFIX)) return { kind: 'ignored', reason: `key is not under ${UPLOAD_PREFIX}` };
  if (key.endsWith('/')) return { kind: 'ignored', reason: 'key is a folder' };
  const rest = key.slice(UPLOAD_PREFIX.length);
  const slash = rest.indexOf('/');
  const segment = slash === -1 ? '' : rest.slice(0, slash);
  let conversation: { conversationId: number } | { alias: string };
  try {
    conversation = looksLikeAlias(segment)
      ? { alias: parseAliasName(segment, 'conversationId') }
      : { conversationId: parseId('conversationId', segment) };
  } catch (error) {
    if (!(error instanceof InvalidInputError)) throw error;
    return {
      kind: 'rejected',
      segment: INVALID_SEGMENT,
      name: safeName(rest),
      reason: `key must be ${UPLOAD_PREFIX}{conversationId or alias}/{name}: ${error.message}`,
    };
  }
  const file = rest.slice(slash + 1);
  const format = formatOf(file);
  if (safeName(file) !== file) {
    return {
      kind: 'rejected',
      segment,
      name: safeName(file),
      reason: 'file name has an empty, "." or ".." path segment',
    };
  }
  if (!format)
    return { kind: 'rejected', segment, name: file, reason: 'file extension must be .csv, .jsonl or .json' };
  return { kind: 'upload', ...conversation, segment, name: file, format };
}

/** S3 event keys are URL-encoded with `+` for a space (`my+file%C3%A9.csv` -> `my fileé.csv`). */
export function decodeS3Key(rawKey: string): string {
  const spaced = rawKey.replace(/\+/g, ' ');
  try {
    return decodeURIComponent(spaced);
  } catch {
    return spaced; // not valid percent-encoding: S3 never sends that, so take it literally
  }
}

/**
 * The job of one object version: the same bucket, key, version and ETag always give the same id, so a duplicate
 * S3 event or a retried delivery continues (or finds) the same job, while a new upload to the same key is a new job.
 */
export function uploadJobId(upload: {
  bucket: string;
  key: string;
  versionId?: string;
  etag?: string;
}): string {
  const etag = upload.etag?.replace(/"/g, '') ?? '';
  return createHash('sha256')
    .update(JSON.stringify([upload.bucket, upload.key, upload.versionId ?? '', etag]))
    .digest('hex')
    .slice(0, 32);
}
