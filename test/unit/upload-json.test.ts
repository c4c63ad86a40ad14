/** JSON array and JSON Lines uploads: nested and garbage elements, bad lines, chunk splits, file-level problems. */
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../lambdas/core/errors';
import {
  parseJsonArrayUpload,
  parseJsonLinesUpload,
  parseUpload,
  type UploadRow,
} from '../../lambdas/core/upload/index';
import { MAX_ROW_CHARS } from '../../lambdas/core/upload/rows';

const encoder = new TextEncoder();

async function* chunked(input: string | Uint8Array, size = 64 * 1024) {
  const bytes = typeof input === 'string' ? encoder.encode(input) : input;
  for (let i = 0; i < bytes.length; i += size) yield bytes.slice(i, i + size);
}

type Parser = (bytes: AsyncIterable<Uint8Array>) => AsyncGenerator<UploadRow>;

async function rows(parse: Parser, input: string | Uint8Array, size?: number): Promise<UploadRow[]> {
  const out: UploadRow[] = [];
  for await (const row of parse(chunked(input, size))) out.push(row);
  return out;
}

async function fileError(parse: Parser, input: string): Promise<string> {
  try {
    await rows(parse, input);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as InvalidInputError).target).toBe('file');
    return (error as InvalidInputError).reason;
  }
  throw new Error('expected the file to be rejected');
}

const ARRAY = `\uFEFF [
  {"NAME": "Ana", "AGE": 31, "VIP": true, "NOTE": null},
  {"NAME": "brackets ] } [ { and \\"quotes\\", commas", "X": "\\u00e9\\\\"},
  [{"NAME": "nested array"}],
  {"NAME": {"first": "nested object"}},
  "just a string",
  42,
  {broken json, "a": [1, 2]},
  {"bad code!": "x"},
  {},
  {"NAME": "Zoë 👩‍💻"}
]
`;

const ARRAY_ROWS: UploadRow[] = [
  { row: 1, record: { NAME: 'Ana', AGE: '31', VIP: 'true', NOTE: '' } },
  { row: 2, record: { NAME: 'brackets ] } [ { and "quotes", commas', X: 'é\\' } },
  { row: 3, error: 'row 3: must be a JSON object of field code to value' },
  { row: 4, error: 'row 4.NAME: value must be a string, number, boolean or null' },
  { row: 5, error: 'row 5: must be a JSON object of field code to value' },
  { row: 6, error: 'row 6: must be a JSON object of field code to value' },
  { row: 7, error: 'row 7: not valid JSON' },
  {
    row: 8,
    error: expect.stringMatching(/^row 8: field code number 1 \(9 characters\) must be/) as unknown as string,
  },
  { row: 9, error: 'row 9: must have at least one field' },
  { row: 10, record: { NAME: 'Zoë 👩‍💻' } },
];

describe('parseJsonArrayUpload', () => {
  it('reads each element on its own: nested, garbage and non-object elements reject their row only', async () => {
    expect(await rows(parseJsonArrayUpload, ARRAY)).toEqual(ARRAY_ROWS);
  });

  it('gives the same rows for 1-byte chunks and odd chunk sizes', async () => {
    expect(await rows(parseJsonArrayUpload, ARRAY, 1)).toEqual(ARRAY_ROWS);
    for (const size of [2, 3, 5, 7, 13, 31])
      expect(await rows(parseJsonArrayUpload, ARRAY, size)).toEqual(ARRAY_ROWS);
  });

  it('rejects text after the closing bracket as one more row, so nothing in the file goes unreported', async () => {
    expect(await rows(parseJsonArrayUpload, '[{"A":"1"}] {"A":"2"} trailing')).toEqual([
      { row: 1, record: { A: '1' } },
      { row: 2, error: 'row 2: text after the end of the JSON array' },
    ]);
  });

  it('reads a file cut short: the whole elements count, the cut one is rejected', async () => {
    expect(await rows(parseJsonArrayUpload, '[{"A":"1"},{"A":"2"},{"A":"3')).toEqual([
      { row: 1, record: { A: '1' } },
      { row: 2, record: { A: '2' } },
      { row: 3, error: 'row 3: not valid JSON' },
    ]);
  });

  it('counts an empty element as a row, tolerates a trailing comma', async () => {
    expect(await rows(parseJsonArrayUpload, '[{"A":"1"},,{"A":"2"},]')).toEqual([
      { row: 1, record: { A: '1' } },
      { row: 2, error: 'row 2: not valid JSON (empty element)' },
      { row: 3, record: { A: '2' } },
    ]);
  });

  it('rejects files that are empty, no array, or an empty array', async () => {
    expect(await fileError(parseJsonArrayUpload, '')).toBe('file is empty');
    expect(await fileError(parseJsonArrayUpload, ' \n ')).toBe('file is empty');
    expect(await fileError(parseJsonArrayUpload, '{"A":"1"}')).toBe('not a JSON array of objects');
    expect(await fileError(parseJsonArrayUpload, '[ ]')).toBe('file has no data rows');
  });

  it('rejects an element holding invalid UTF-8, and an element over the row cap, without holding it', async () => {
    const bytes = new Uint8Array([...encoder.encode('[{"A":"'), 0xff, ...encoder.encode('"},{"A":"ok"}]')]);
    expect(await rows(parseJsonArrayUpload, bytes, 1)).toEqual([
      { row: 1, error: 'row 1: invalid UTF-8' },
      { row: 2, record: { A: 'ok' } },
    ]);
    const huge = `[{"A":"${'z'.repeat(MAX_ROW_CHARS)}"},{"A":"next"}]`;
    expect(await rows(parseJsonArrayUpload, huge, 1024 * 1024)).toEqual([
      { row: 1, error: `row 1: longer than ${MAX_ROW_CHARS} characters` },
      { row: 2, record: { A: 'next' } },
    ]);
  });

  it('never quotes the element in a reason (JSON.parse would)', async () => {
    const result = await rows(parseJsonArrayUpload, '[{"EMAIL": "who@example.com" oops}]');
    expect(result).toEqual([{ row: 1, error: 'row 1: not valid JSON' }]);
  });
});

const LINES = '{"A":"1","B":2}\r\n\n   \n{"A": "2"\nnot json at all\n[{"A":"3"}]\n{"A":"é"}';

const LINES_ROWS: UploadRow[] = [
  { row: 1, record: { A: '1', B: '2' } },
  { row: 2, error: 'row 2: not valid JSON' },
  { row: 3, error: 'row 3: not valid JSON' },
  { row: 4, error: 'row 4: must be a JSON object of field code to value' },
  { row: 5, record: { A: 'é' } },
];

describe('parseJsonLinesUpload', () => {
  it('reads one object per non-blank line; a bad line rejects that row only', async () => {
    expect(await rows(parseJsonLinesUpload, LINES)).toEqual(LINES_ROWS);
  });

  it('gives the same rows for 1-byte chunks and odd chunk sizes', async () => {
    for (const size of [1, 2, 3, 7, 64])
      expect(await rows(parseJsonLinesUpload, LINES, size)).toEqual(LINES_ROWS);
  });

  it('rejects a line with invalid UTF-8, and a line over the row cap, and goes on', async () => {
    const bytes = new Uint8Array([...encoder.encode('{"A":"'), 0xfe, ...encoder.encode('"}\n{"A":"ok"}\n')]);
    expect(await rows(parseJsonLinesUpload, bytes, 1)).toEqual([
      { row: 1, error: 'row 1: invalid UTF-8' },
      { row: 2, record: { A: 'ok' } },
    ]);
    const huge = `{"A":"${'z'.repeat(MAX_ROW_CHARS)}"}\n{"A":"next"}\n`;
    expect(await rows(parseJsonLinesUpload, huge, 1024 * 1024)).toEqual([
      { row: 1, error: `row 1: longer than ${MAX_ROW_CHARS} characters` },
      { row: 2, record: { A: 'next' } },
    ]);
  });

  it('rejects a file with no non-blank line', async () => {
    expect(await fileError(parseJsonLinesUpload, '')).toBe('file is empty');
    expect(await fileError(parseJsonLinesUpload, '\uFEFF\n \r\n')).toBe('file is empty');
  });
});

describe('parseUpload', () => {
  it('picks the parser by format', async () => {
    const read = async (format: 'csv' | 'json' | 'jsonl', text: string) => {
      const out: UploadRow[] = [];
      for await (const row of parseUpload(format, chunked(text))) out.push(row);
      return out;
    };
    expect(await read('csv', 'A\n1\n')).toEqual([{ row: 1, record: { A: '1' } }]);
    expect(await read('json', '[{"A":1}]')).toEqual([{ row: 1, record: { A: '1' } }]);
    expect(await read('jsonl', '{"A":1}')).toEqual([{ row: 1, record: { A: '1' } }]);
  });
});
