/**
 * The limits of one upload (`batch.maxUploadBytes`, `batch.maxRowsPerUpload`): a file beyond either is rejected
 * whole, before any of its rows is queued, so one oversized object can neither start part of its rows nor keep
 * the ingest busy for its whole timeout, attempt after attempt.
 *
 * The size is checked before reading when it is known (S3 events carry it). The row count can only be known by
 * reading: a file that could hold more rows than the limit (more bytes than the limit, since every data row takes
 * at least one byte) is counted first, with the same parser the ingest uses, stopping as soon as it passes the
 * limit. A file whose size is unknown is counted too, bytes and rows.
 */
import { InvalidInputError } from '../errors';
import type { UploadFormat } from './key';
import { parseUploadBatches } from './index';

export interface UploadLimits {
  /** The largest object, in bytes. */
  maxBytes: number;
  /** The most data rows. */
  maxRows: number;
}

/** The defaults of infra/config.ts (2 GiB, 5,000,000 rows), for runs without a configuration (`npm start`). */
export const DEFAULT_UPLOAD_LIMITS: UploadLimits = { maxBytes: 2 * 1024 ** 3, maxRows: 5_000_000 };

export const tooManyBytesReason = (limits: UploadLimits) =>
  `file is larger than ${limits.maxBytes} bytes, the limit (batch.maxUploadBytes): nothing in it was started`;
export const tooManyRowsReason = (limits: UploadLimits) =>
  `file has more than ${limits.maxRows} rows, the limit (batch.maxRowsPerUpload): nothing in it was started`;

class TooManyBytes extends Error {}

/** The bytes as they stream, throwing TooManyBytes once more than `max` went by. */
async function* capped(bytes: AsyncIterable<Uint8Array>, max: number): AsyncGenerator<Uint8Array> {
  let seen = 0;
  for await (const chunk of bytes) {
    seen += chunk.byteLength;
    if (seen > max) throw new TooManyBytes();
    yield chunk;
  }
}

/** Reads the file once, counting; stops at the first row (or byte) past a limit. */
async function countPass(
  format: UploadFormat,
  bytes: AsyncIterable<Uint8Array>,
  limits: UploadLimits,
): Promise<string | undefined> {
  let rows = 0;
  try {
    for await (const batch of parseUploadBatches(format, capped(bytes, limits.maxBytes))) {
      rows += batch.length;
      if (rows > limits.maxRows) return tooManyRowsReason(limits);
    }
  } catch (error) {
    if (error instanceof TooManyBytes) return tooManyBytesReason(limits);
    // A file that cannot be read at all is the ingest's to report, as it always has.
    if (error instanceof InvalidInputError && error.target === 'file') return undefined;
    throw error;
  }
  return undefined;
}

/**
 * Why the upload is beyond a limit, or undefined when it is within both. `size` is the object's size when known;
 * `read` opens the object (called only when the rows must be counted).
 */
export async function uploadLimitProblem(
  format: UploadFormat,
  size: number | undefined,
  limits: UploadLimits,
  read: () => Promise<AsyncIterable<Uint8Array>>,
): Promise<string | undefined> {
  if (size !== undefined && size > limits.maxBytes) return tooManyBytesReason(limits);
  if (size !== undefined && size <= limits.maxRows) return undefined;
  return countPass(format, await read(), limits);
}
