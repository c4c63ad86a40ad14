/**
 * JSON Lines uploads: one JSON object per line. Blank lines are skipped and not counted, so row N is the N-th
 * non-blank line. A line that is not JSON, or not an object, rejects that row only.
 */
import {
  MAX_ROW_CHARS,
  REPLACEMENT_CHAR,
  decodeUtf8,
  fileProblem,
  invalidUtf8,
  rowProblem,
  tooLong,
  validateRow,
  type UploadRow,
} from './rows';

const BLANK = /^\s*$/;

/** The rows of a JSON Lines upload, a batch per decoded piece. */
export async function* parseJsonLinesUploadBatches(
  bytes: AsyncIterable<Uint8Array>,
): AsyncGenerator<UploadRow[]> {
  let row = 0;
  let pending = '';
  let pendingTooLong = false;

  function line(text: string, isTooLong: boolean): UploadRow | undefined {
    if (!isTooLong && BLANK.test(text)) return undefined;
    row++;
    if (isTooLong) return tooLong(row);
    if (text.includes(REPLACEMENT_CHAR)) return invalidUtf8(row);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      // JSON.parse's message quotes the text: never pass it on.
      return rowProblem(row, 'not valid JSON');
    }
    return validateRow(row, value);
  }

  for await (const text of decodeUtf8(bytes)) {
    const out: UploadRow[] = [];
    let start = 0;
    for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
      const isTooLong = pendingTooLong || pending.length + (nl - start) > MAX_ROW_CHARS;
      const result = line(isTooLong ? '' : pending + text.slice(start, nl), isTooLong);
      pending = '';
      pendingTooLong = false;
      start = nl + 1;
      if (result) out.push(result);
    }
    if (!pendingTooLong && start < text.length) {
      if (pending.length + (text.length - start) > MAX_ROW_CHARS) {
        pendingTooLong = true;
        pending = '';
      } else {
        pending += text.slice(start);
      }
    }
    if (out.length > 0) yield out;
  }
  const last = line(pending, pendingTooLong);
  if (last) yield [last];
  if (row === 0) throw fileProblem('file is empty');
}

export async function* parseJsonLinesUpload(bytes: AsyncIterable<Uint8Array>): AsyncGenerator<UploadRow> {
  for await (const batch of parseJsonLinesUploadBatches(bytes)) yield* batch;
}
