/**
 * CSV uploads: RFC 4180 (quoted fields may hold delimiters, doubled quotes and line breaks), a header row of field
 * codes, `,` or `;` as delimiter (whichever the header line uses more, outside quotes), CRLF, LF or CR line ends.
 *
 * The parser is a state machine fed one decoded piece at a time, so a row split anywhere across the object's
 * chunks parses the same, and nothing but the current row is ever held.
 *
 * Lenient where the RFC is silent and no data can be misread: blank lines (empty or spaces/tabs only, outside
 * quotes) are skipped and not counted; spaces around header codes are dropped; a quote inside an unquoted field is
 * kept as a character. Strict where a row could be misread: text after a closing quote, a quote never closed, or a
 * row whose field count differs from the header's rejects that row.
 */
import { checkHeader } from '../validation';
import {
  MAX_ROW_CHARS,
  REPLACEMENT_CODE,
  decodeUtf8,
  fileProblem,
  invalidUtf8,
  rowProblem,
  tooLong,
  validateRow,
  type UploadRow,
} from './rows';

/** One CSV record as read, before it is matched with the header. */
export interface CsvRecord {
  fields: string[];
  /** Blank line: one unquoted field of spaces or tabs at most. */
  blank: boolean;
  /** Longer than MAX_ROW_CHARS: its fields were dropped while reading. */
  tooLong: boolean;
  /** Holds U+FFFD, i.e. the file had invalid UTF-8 bytes here. */
  invalidUtf8: boolean;
  /** Why the record's quoting is broken, if it is. */
  malformed?: string;
}

const QUOTE = 0x22;
const LF = 0x0a;
const CR = 0x0d;
const COMMA = 0x2c;
const SEMICOLON = 0x3b;

const enum State {
  FieldStart,
  Unquoted,
  Quoted,
  /** A quote seen inside a quoted field: either the first of a doubled quote, or the closing one. */
  QuoteInQuoted,
}

const BLANK = /^[ \t]*$/;

/** Incremental RFC 4180 record parser for one delimiter. */
export class CsvRecordParser {
  private readonly delimiter: number;
  private state = State.FieldStart;
  private fields: string[] = [];
  private field = '';
  private chars = 0;
  private quoted = false;
  private tooLong = false;
  private invalidUtf8 = false;
  private malformed: string | undefined;
  /** The previous piece ended with CR: a LF starting the next one belongs to the same line end. */
  private afterCR = false;

  constructor(delimiter: ',' | ';') {
    this.delimiter = delimiter.charCodeAt(0);
  }

  /**
   * Parses one piece of text, appending every record it completes to `out`. Longer than the house's 60 lines on
   * purpose: it runs once per character of every upload, so the state machine stays in one loop with no call
   * per character.
   */
  push(text: string, out: CsvRecord[]): void {
    const n = text.length;
    const delimiter = this.delimiter;
    let i = 0;
    if (this.afterCR && n > 0) {
      this.afterCR = false;
      if (text.charCodeAt(0) === LF) i = 1;
    }
    let start = i;
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === REPLACEMENT_CODE) this.invalidUtf8 = true;
      switch (this.state) {
        case State.FieldStart:
          if (c === QUOTE) {
            this.state = State.Quoted;
            this.quoted = true;
            start = ++i;
            continue;
          }
          this.state = State.Unquoted;
          start = i;
          break; // the same character is handled as part of an unquoted field below
        case State.Quoted:
          if (c === QUOTE) {
            this.append(text, start, i);
            this.state = State.QuoteInQuoted;
            start = ++i;
          } else {
            i++;
          }
          continue;
        case State.QuoteInQuoted:
          if (c === QUOTE) {
            // A doubled quote: one literal quote, kept by starting the next slice at the second one.
            this.state = State.Quoted;
            start = i++;
            continue;
          }
          if (c !== delimiter && c !== LF && c !== CR) {
            this.malformed ??= 'a quoted field has text after its closing quote';
            this.state = State.Unquoted;
            start = i;
          }
          break;
        case State.Unquoted:
          break;
      }
      // Unquoted field, or just after a closing quote.
      if (c === delimiter) {
        if (this.state === State.Unquoted) this.append(text, start, i);
        this.endField();
        this.state = State.FieldStart;
        start = ++i;
      } else if (c === LF || c === CR) {
        if (this.state === State.Unquoted) this.append(text, start, i);
        this.endField();
        out.push(this.endRecord());
        i++;
        if (c === CR) {
          if (i < n) {
            if (text.charCodeAt(i) === LF) i++;
          } else {
            this.afterCR = true;
          }
        }
        start = i;
      } else {
        i++;
      }
    }
    if (this.state === State.Unquoted || this.state === State.Quoted) this.append(text, start, n);
  }

  /** The end of the text: completes a last record that has no line end. */
  end(out: CsvRecord[]): void {
    this.afterCR = false;
    if (this.state === State.FieldStart && this.fields.length === 0) return;
    if (this.state === State.Quoted)
      this.malformed ??= 'a quoted field is not closed before the end of the file';
    this.endField();
    out.push(this.endRecord());
  }

  private append(text: string, from: number, to: number): void {
    if (to <= from || this.tooLong) return;
    this.chars += to - from;
    if (this.chars > MAX_ROW_CHARS) {
      this.tooLong = true;
      this.field = '';
      this.fields = [];
      return;
    }
    this.field += text.slice(from, to);
  }

  private endField(): void {
    if (!this.tooLong) {
      this.fields.push(this.field);
      // Every field costs at least its delimiter, so a row of countless empty fields is capped too.
      if (++this.chars > MAX_ROW_CHARS) {
        this.tooLong = true;
        this.fields = [];
      }
    }
    this.field = '';
  }

  private endRecord(): CsvRecord {
    const fields = this.fields;
    const record: CsvRecord = {
      fields,
      blank: !this.quoted && !this.tooLong && fields.length === 1 && BLANK.test(fields[0]!),
      tooLong: this.tooLong,
      invalidUtf8: this.invalidUtf8,
    };
    if (this.malformed !== undefined) record.malformed = this.malformed;
    this.fields = [];
    this.field = '';
    this.chars = 0;
    this.quoted = false;
    this.tooLong = false;
    this.invalidUtf8 = false;
    this.malformed = undefined;
    this.state = State.FieldStart;
    return record;
  }
}

/**
 * Which delimiter a header line uses: `;` when it holds more semicolons than commas outside quotes, else `,`.
 * `line` is the text up to (not including) the header's line end.
 */
export function detectDelimiter(line: string): ',' | ';' {
  let commas = 0;
  let semicolons = 0;
  let inQuotes = false;
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c === QUOTE) inQuotes = !inQuotes;
    else if (!inQuotes && c === COMMA) commas++;
    else if (!inQuotes && c === SEMICOLON) semicolons++;
  }
  return semicolons > commas ? ';' : ',';
}

/**
 * Finds the first non-blank line (the header) as text arrives, scanning each character once, so that the
 * delimiter can be chosen before any record is parsed.
 */
class HeaderLineFinder {
  text = '';
  private scanned = 0;
  private lineStart = 0;
  private inQuotes = false;

  /** Adds text; returns the first non-blank line once it is complete (its line end seen). */
  push(piece: string): string | undefined {
    this.text += piece;
    const text = this.text;
    for (let i = this.scanned; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === QUOTE) this.inQuotes = !this.inQuotes;
      else if (!this.inQuotes && (c === LF || c === CR)) {
        const line = text.slice(this.lineStart, i);
        if (!BLANK.test(line)) return line;
        this.lineStart = i + 1;
      }
    }
    this.scanned = text.length;
    return undefined;
  }
}

/**
 * The records of a CSV text, a batch per decoded piece (batches amortise the cost of async iteration). The
 * delimiter is detected from the first non-blank line, which is buffered until it is complete (bounded by
 * MAX_ROW_CHARS: past that, `,` is assumed and the header is rejected as too long).
 */
export async function* csvRecordBatches(text: AsyncIterable<string>): AsyncGenerator<CsvRecord[]> {
  let parser: CsvRecordParser | undefined;
  const finder = new HeaderLineFinder();
  for await (const piece of text) {
    const out: CsvRecord[] = [];
    if (parser) {
      parser.push(piece, out);
    } else {
      const line = finder.push(piece);
      if (line === undefined && finder.text.length <= MAX_ROW_CHARS) continue;
      parser = new CsvRecordParser(line === undefined ? ',' : detectDelimiter(line));
      parser.push(finder.text, out);
      finder.text = '';
    }
    if (out.length > 0) yield out;
  }
  const out: CsvRecord[] = [];
  if (!parser) {
    // The whole file is one line with no line end.
    parser = new CsvRecordParser(detectDelimiter(finder.text));
    parser.push(finder.text, out);
  }
  parser.end(out);
  if (out.length > 0) yield out;
}

/**
 * The rows of a CSV upload, a batch per decoded piece. Row numbers count data rows from 1 (the header and blank
 * lines are not counted). An unusable header rejects every data row with the header's reason; with no data rows
 * at all, the file is rejected (see fileProblem).
 */
export async function* parseCsvUploadBatches(bytes: AsyncIterable<Uint8Array>): AsyncGenerator<UploadRow[]> {
  let header: string[] | undefined;
  let headerProblem: string | undefined;
  /** Where `__proto__` is in the header: that field must be defined, not assigned (assigning drops it). */
  let protoIndex = -1;
  let row = 0;
  for await (const records of csvRecordBatches(decodeUtf8(bytes))) {
    const out: UploadRow[] = [];
    for (const record of records) {
      if (record.blank) continue;
      if (!header) {
        header = record.fields.map((code) => code.trim());
        if (record.tooLong) headerProblem = `header row is longer than ${MAX_ROW_CHARS} characters`;
        else if (record.malformed) headerProblem = `header: ${record.malformed}`;
        else headerProblem = checkHeader(header);
        protoIndex = header.indexOf('__proto__');
        continue;
      }
      row++;
      if (headerProblem !== undefined) out.push(rowProblem(row, headerProblem));
      else if (record.tooLong) out.push(tooLong(row));
      else if (record.invalidUtf8) out.push(invalidUtf8(row));
      else if (record.malformed !== undefined) out.push(rowProblem(row, record.malformed));
      else if (record.fields.length !== header.length) {
        out.push(rowProblem(row, `has ${record.fields.length} fields, header has ${header.length}`));
      } else {
        const raw: Record<string, string> = {};
        for (let k = 0; k < header.length; k++) {
          if (k === protoIndex)
            Object.defineProperty(raw, '__proto__', { value: record.fields[k], enumerable: true });
          else raw[header[k]!] = record.fields[k]!;
        }
        out.push(validateRow(row, raw));
      }
    }
    if (out.length > 0) yield out;
  }
  if (!header) throw fileProblem('file is empty');
  if (row === 0) throw fileProblem(headerProblem ?? 'file has no data rows');
}

/** The rows of a CSV upload, one by one (see parseCsvUploadBatches). */
export async function* parseCsvUpload(bytes: AsyncIterable<Uint8Array>): AsyncGenerator<UploadRow> {
  for await (const batch of parseCsvUploadBatches(bytes)) yield* batch;
}
