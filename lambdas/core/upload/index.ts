/** Upload parsing: one entry point per format, each yielding validated rows or rejections in file order. */
import type { UploadFormat } from './key';
import { parseCsvUploadBatches } from './csv';
import { parseJsonArrayUploadBatches } from './json-array';
import { parseJsonLinesUploadBatches } from './json-lines';
import type { UploadRow } from './rows';

export {
  parseCsvUpload,
  parseCsvUploadBatches,
  csvRecordBatches,
  CsvRecordParser,
  detectDelimiter,
  type CsvRecord,
} from './csv';
export { parseJsonArrayUpload, parseJsonArrayUploadBatches, JsonArrayScanner } from './json-array';
export { parseJsonLinesUpload, parseJsonLinesUploadBatches } from './json-lines';
export { MAX_ROW_CHARS, decodeUtf8, type UploadRow } from './rows';
export { Chunker, MAX_CHUNK_BYTES, chunkId } from './chunker';
export {
  parseUploadKey,
  decodeS3Key,
  uploadJobId,
  UPLOAD_PREFIX,
  INVALID_SEGMENT,
  type UploadFormat,
  type UploadKey,
} from './key';

/**
 * The rows of an upload, in file order, in batches (one per decoded piece of the object: fewer async steps than
 * one per row). Throws InvalidInputError with target `file` (see rows.ts fileProblem) before yielding anything
 * when the file cannot be read at all.
 */
export function parseUploadBatches(
  format: UploadFormat,
  bytes: AsyncIterable<Uint8Array>,
): AsyncGenerator<UploadRow[]> {
  switch (format) {
    case 'csv':
      return parseCsvUploadBatches(bytes);
    case 'jsonl':
      return parseJsonLinesUploadBatches(bytes);
    case 'json':
      return parseJsonArrayUploadBatches(bytes);
  }
}

/** The rows of an upload one by one (see parseUploadBatches). */
export async function* parseUpload(
  format: UploadFormat,
  bytes: AsyncIterable<Uint8Array>,
): AsyncGenerator<UploadRow> {
  for await (const batch of parseUploadBatches(format, bytes)) yield* batch;
}
