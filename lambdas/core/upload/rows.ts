/**
 * What every upload parser yields, and the pieces they share: UTF-8 decoding and turning one parsed row into a
 * record with the one validator (validation.ts), so a row in a file gets the same reasons as an HTTP body.
 */
import { InvalidInputError } from '../errors';
import { parseRecord, type DanaRecord } from '../validation';

/** One data row of an upload: its validated record, or why it was rejected (a reason that never quotes values). */
export type UploadRow = { row: number; record: DanaRecord } | { row: number; error: string };

/**
 * No row may hold more characters than this while it is being read (200 fields of 4000 characters, with room for
 * quoting and JSON escapes). Longer rows are rejected without being kept, so memory stays bounded whatever the file.
 */
export const MAX_ROW_CHARS = 4 * 1024 * 1024;

/** Invalid UTF-8 bytes decode to this character; a row that contains it is rejected. */
export const REPLACEMENT_CHAR = '\uFFFD';
export const REPLACEMENT_CODE = 0xfffd;

/**
 * A file the ingest cannot read at all (empty, not a JSON array, an unusable header and no data rows). Parsers
 * throw it before they yield any row; the ingest turns it into a report for the file.
 */
export function fileProblem(reason: string): InvalidInputError {
  return new InvalidInputError('file', reason);
}

export function rowProblem(row: number, reason: string): UploadRow {
  return { row, error: `row ${row}: ${reason}` };
}

export const tooLong = (row: number): UploadRow => rowProblem(row, `longer than ${MAX_ROW_CHARS} characters`);
export const invalidUtf8 = (row: number): UploadRow => rowProblem(row, 'invalid UTF-8');

/** Validates one row's raw object with the one validator; its reasons name the row and field, never the value. */
export function validateRow(row: number, raw: unknown): UploadRow {
  try {
    return { row, record: parseRecord(`row ${row}`, raw) };
  } catch (error) {
    if (error instanceof InvalidInputError) return { row, error: error.message };
    throw error;
  }
}

/**
 * Streams text out of bytes. Non-fatal, so invalid bytes become U+FFFD (the rows holding them are rejected)
 * instead of failing the whole file; a leading BOM is dropped; a character split across chunks is kept whole.
 */
export async function* decodeUtf8(bytes: AsyncIterable<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: false });
  for await (const chunk of bytes) {
    const text = decoder.decode(chunk, { stream: true });
    if (text) yield text;
  }
  const rest = decoder.decode();
  if (rest) yield rest;
}
