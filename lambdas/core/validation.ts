/**
 * The one validator. HTTP handlers, the async route and the upload ingest all call these functions, so a row in
 * a CSV and a body on an HTTP request are checked by the same rules and get the same reasons.
 *
 * Rules (see docs/API.md#input-rules):
 * - ids (`conversationId`, `projectId`, `recordUID`): decimal integers 1..2147483647, digits only, no leading zero.
 * - `danaparam`: 1..512 characters of `A-Z a-z 0-9 - _ . ~ =`, not made of dots only.
 * - field codes: 1..64 characters of `A-Z a-z 0-9 _ -`, case kept.
 * - values: strings up to 4000 characters; finite numbers become their decimal string, booleans "true"/"false",
 *   null becomes "" (a blank field, as DANAConnect itself returns blanks). Objects, arrays, NaN are refused.
 * - a record: a JSON object with 1..200 fields (the existing-record route also accepts none).
 * - a batch: a JSON array of 1..10 records.
 * - `fields`: a comma-separated list of 1..100 field codes.
 * - `jobId`: 32 lowercase hex digits (what upload and API job ids are made of).
 * - `Idempotency-Key`: 1..255 visible ASCII characters (no spaces, no control characters).
 */
import { InvalidInputError } from './errors';

export type DanaRecord = Record<string, string>;

export const MAX_ID = 2_147_483_647;
export const MAX_BATCH = 10;
export const MAX_FIELDS_PER_RECORD = 200;
export const MAX_VALUE_LENGTH = 4000;
export const MAX_FIELD_CODE_LENGTH = 64;
export const MAX_DANAPARAM_LENGTH = 512;
export const MAX_FIELDS_LIST = 100;

const ID_PATTERN = /^[1-9][0-9]{0,9}$/;
export const FIELD_CODE_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
const DANAPARAM_PATTERN = /^[A-Za-z0-9._~=-]{1,512}$/;
export const JOB_ID_PATTERN = /^[0-9a-f]{32}$/;
export const MAX_IDEMPOTENCY_KEY_LENGTH = 255;
const IDEMPOTENCY_KEY_PATTERN = /^[\x21-\x7E]{1,255}$/;

/** An id as DANAConnect uses them: an int32 ≥ 1, written as plain digits. */
export function parseId(name: string, raw: unknown): number {
  if (typeof raw === 'number' && Number.isInteger(raw) && raw >= 1 && raw <= MAX_ID) return raw;
  if (typeof raw !== 'string' || !ID_PATTERN.test(raw) || Number(raw) > MAX_ID) {
    throw new InvalidInputError(name, `must be an integer from 1 to ${MAX_ID}`);
  }
  return Number(raw);
}

export function parseDanaparam(raw: unknown): string {
  if (typeof raw !== 'string' || !DANAPARAM_PATTERN.test(raw) || /^\.+$/.test(raw)) {
    throw new InvalidInputError(
      'danaparam',
      `must be 1 to ${MAX_DANAPARAM_LENGTH} characters of letters, digits and - _ . ~ =`,
    );
  }
  return raw;
}

/** A job id as the job store hands them out (see core/upload/key.ts uploadJobId and core/api-jobs.ts). */
export function parseJobId(raw: unknown): string {
  if (typeof raw !== 'string' || !JOB_ID_PATTERN.test(raw)) {
    throw new InvalidInputError('jobId', 'must be 32 lowercase hexadecimal digits');
  }
  return raw;
}

/** The `Idempotency-Key` of an async request; undefined when absent. Its value is never echoed (it may be anything). */
export function parseIdempotencyKey(raw: unknown): string | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string' || !IDEMPOTENCY_KEY_PATTERN.test(raw)) {
    throw new InvalidInputError(
      'Idempotency-Key',
      `must be 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} visible ASCII characters, without spaces`,
    );
  }
  return raw;
}

/**
 * Codes already found valid. An upload repeats the same few codes on every row (a million rows, a handful of
 * codes), and a set lookup is cheaper than the pattern; bounded, so hostile input cannot grow it.
 */
const knownFieldCodes = new Set<string>();
const MAX_KNOWN_FIELD_CODES = 1024;

export function isFieldCode(code: string): boolean {
  if (knownFieldCodes.has(code)) return true;
  if (!FIELD_CODE_PATTERN.test(code)) return false;
  if (knownFieldCodes.size < MAX_KNOWN_FIELD_CODES) knownFieldCodes.add(code);
  return true;
}

/**
 * An invalid field code is described by where it is and how long it is, never quoted: in a JSONL row or a
 * `fields` list the "code" can be a contact's email address, and reasons end up in reports and job answers.
 */
function fieldCodeReason(position: number, code: string): string {
  return (
    `field code number ${position} (${code.length} characters) must be 1 to ${MAX_FIELD_CODE_LENGTH} letters, ` +
    'digits, _ or -'
  );
}

/** One field value as DANAConnect takes it: a string. Returns the reason when the value cannot be one. */
export function normalizeValue(value: unknown): string | { reason: string } {
  if (typeof value === 'string') {
    return value.length <= MAX_VALUE_LENGTH
      ? value
      : { reason: `value is longer than ${MAX_VALUE_LENGTH} characters` };
  }
  if (typeof value === 'number')
    return Number.isFinite(value) ? String(value) : { reason: 'value is not finite' };
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (value === null) return '';
  return { reason: 'value must be a string, number, boolean or null' };
}

export interface RecordRules {
  /** The existing-record route may send no fields at all. */
  allowEmpty?: boolean;
}

/**
 * A record (field code → value). `target` names it in reasons: `body`, `body[3]`, `row 17`.
 * Returns the record with every value as a string.
 */
export function parseRecord(target: string, raw: unknown, rules: RecordRules = {}): DanaRecord {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new InvalidInputError(target, 'must be a JSON object of field code to value');
  }
  const out: DanaRecord = {};
  let count = 0;
  // Object.keys, not Object.entries: the same fields, without an array per field.
  for (const code of Object.keys(raw)) {
    if (!isFieldCode(code)) throw new InvalidInputError(target, fieldCodeReason(count + 1, code));
    const normalized = normalizeValue((raw as Record<string, unknown>)[code]);
    if (typeof normalized !== 'string') throw new InvalidInputError(`${target}.${code}`, normalized.reason);
    // Assigning a field named __proto__ would drop it silently, so that one is defined; defining every field
    // instead costs about 1 µs a record, which a million-row upload feels.
    if (code === '__proto__') {
      Object.defineProperty(out, code, {
        value: normalized,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    } else {
      out[code] = normalized;
    }
    count++;
  }
  if (count === 0 && !rules.allowEmpty) throw new InvalidInputError(target, 'must have at least one field');
  if (count > MAX_FIELDS_PER_RECORD) {
    throw new InvalidInputError(target, `must have at most ${MAX_FIELDS_PER_RECORD} fields`);
  }
  return out;
}

/** A batch for start/list/data: a JSON array of 1..10 records. */
export function parseBatch(target: string, raw: unknown): DanaRecord[] {
  if (!Array.isArray(raw)) throw new InvalidInputError(target, 'must be a JSON array of 1 to 10 records');
  if (raw.length < 1 || raw.length > MAX_BATCH) {
    throw new InvalidInputError(target, `must hold 1 to ${MAX_BATCH} records, not ${raw.length}`);
  }
  return raw.map((item, index) => parseRecord(`${target}[${index}]`, item));
}

/** `fields=A,B,C` for data retrieval. An absent or empty parameter means all fields. */
export function parseFieldList(raw: unknown): string[] | undefined {
  if (raw === undefined || raw === null || raw === '') return undefined;
  if (typeof raw !== 'string')
    throw new InvalidInputError('fields', 'must be a comma-separated list of field codes');
  const codes = raw.split(',');
  if (codes.length > MAX_FIELDS_LIST) {
    throw new InvalidInputError('fields', `must list at most ${MAX_FIELDS_LIST} field codes`);
  }
  for (const [index, code] of codes.entries()) {
    if (!isFieldCode(code)) throw new InvalidInputError('fields', fieldCodeReason(index + 1, code));
  }
  return codes;
}

/**
 * A header row of an upload: field codes, no duplicates. Returns the reason when the header is unusable,
 * so the ingest can reject the whole file with it.
 */
export function checkHeader(codes: readonly string[]): string | undefined {
  if (codes.length === 0) return 'header row is empty';
  // Columns are named by position, not quoted: in a file without a header row, the "codes" are a contact's data.
  const seen = new Map<string, number>();
  for (const [index, code] of codes.entries()) {
    const column = index + 1;
    if (!isFieldCode(code)) {
      return `header column ${column}: field code must be 1 to ${MAX_FIELD_CODE_LENGTH} letters, digits, _ or -`;
    }
    const first = seen.get(code);
    if (first !== undefined) return `header columns ${first} and ${column}: the same field code twice`;
    seen.set(code, column);
  }
  if (codes.length > MAX_FIELDS_PER_RECORD) return `header: more than ${MAX_FIELDS_PER_RECORD} field codes`;
  return undefined;
}
