/**
 * JSON uploads: one array of objects, read element by element. The scanner finds each element's end by tracking
 * strings, escapes and bracket depth, then JSON.parse reads that element alone, so only one element is ever held.
 * Row N is element N (index + 1). An element that is not valid JSON or not an object rejects that row only;
 * anything after the closing bracket is rejected as one more row, so no part of the file goes unreported.
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

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

const enum State {
  BeforeArray,
  BeforeElement,
  InElement,
  AfterArray,
  /** Text after the array was found and reported; the rest of the file is ignored. */
  Done,
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/** Incremental element scanner over the decoded text of a JSON array. */
export class JsonArrayScanner {
  private state = State.BeforeArray;
  private row = 0;
  private element = '';
  private elementTooLong = false;
  private depth = 0;
  private inString = false;
  private escaped = false;

  /** Scans one piece, appending the rows it completes to `out`. Throws fileProblem when the text is no array. */
  push(text: string, out: UploadRow[]): void {
    const n = text.length;
    let i = 0;
    let start = 0;
    while (i < n) {
      const c = text.charCodeAt(i);
      if (this.state !== State.InElement) {
        // Between elements: a few characters per row, so a call here costs little; the loop below is the hot path.
        const state = this.between(c, out);
        if (state === State.Done) return;
        // The first character of an element is scanned again, as part of it.
        if (state === State.InElement) start = i;
        else i++;
        continue;
      }
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === BACKSLASH) this.escaped = true;
        else if (c === QUOTE) this.inString = false;
      } else if (c === QUOTE) {
        this.inString = true;
      } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
        this.depth++;
      } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
        if (this.depth > 0) this.depth--;
        else if (c === CLOSE_BRACKET) {
          this.append(text, start, i);
          out.push(this.endElement());
          this.state = State.AfterArray;
        }
      } else if (c === COMMA && this.depth === 0) {
        this.append(text, start, i);
        out.push(this.endElement());
        this.state = State.BeforeElement;
      }
      i++;
    }
    if (this.state === State.InElement) this.append(text, start, n);
  }

  /**
   * One character outside any element: the brackets, the commas between elements, blanks, what follows.
   * Returns the state after it.
   */
  private between(c: number, out: UploadRow[]): State {
    switch (this.state) {
      case State.BeforeArray:
        if (c === OPEN_BRACKET) this.state = State.BeforeElement;
        else if (!isSpace(c)) throw fileProblem('not a JSON array of objects');
        break;
      case State.BeforeElement:
        if (c === CLOSE_BRACKET) {
          // `[]`, or a trailing comma before the end: tolerated, no row.
          this.state = State.AfterArray;
        } else if (c === COMMA) {
          out.push(rowProblem(++this.row, 'not valid JSON (empty element)'));
        } else if (!isSpace(c)) {
          this.state = State.InElement;
        }
        break;
      case State.AfterArray:
        if (!isSpace(c)) {
          out.push(rowProblem(++this.row, 'text after the end of the JSON array'));
          this.state = State.Done;
        }
        break;
      case State.Done:
      case State.InElement:
        break;
    }
    return this.state;
  }

  /** The end of the text. Throws fileProblem for a file with no array or an empty one. */
  end(out: UploadRow[]): void {
    if (this.state === State.BeforeArray) throw fileProblem('file is empty');
    // A file cut short: its last element is read as it stands (and rejected unless it is whole).
    if (this.state === State.InElement) out.push(this.endElement());
    if (this.row === 0) throw fileProblem('file has no data rows');
  }

  private append(text: string, from: number, to: number): void {
    if (to <= from || this.elementTooLong) return;
    if (this.element.length + (to - from) > MAX_ROW_CHARS) {
      this.elementTooLong = true;
      this.element = '';
    } else {
      this.element += text.slice(from, to);
    }
  }

  private endElement(): UploadRow {
    const row = ++this.row;
    const text = this.element;
    const isTooLong = this.elementTooLong;
    this.element = '';
    this.elementTooLong = false;
    this.depth = 0;
    this.inString = false;
    this.escaped = false;
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
}

/** The rows of a JSON array upload, a batch per decoded piece. */
export async function* parseJsonArrayUploadBatches(
  bytes: AsyncIterable<Uint8Array>,
): AsyncGenerator<UploadRow[]> {
  const scanner = new JsonArrayScanner();
  for await (const text of decodeUtf8(bytes)) {
    const out: UploadRow[] = [];
    scanner.push(text, out);
    if (out.length > 0) yield out;
  }
  const out: UploadRow[] = [];
  scanner.end(out);
  if (out.length > 0) yield out;
}

export async function* parseJsonArrayUpload(bytes: AsyncIterable<Uint8Array>): AsyncGenerator<UploadRow> {
  for await (const batch of parseJsonArrayUploadBatches(bytes)) yield* batch;
}
