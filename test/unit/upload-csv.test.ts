/**
 * The CSV upload parser with hostile files: BOM, `;`, quoted delimiters/quotes/line breaks, ragged rows, blank
 * lines, unusable headers, invalid UTF-8, empty files; and the same rows whatever the stream's chunk sizes.
 */
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../lambdas/core/errors';
import {
  csvRecordBatches,
  detectDelimiter,
  parseCsvUpload,
  type UploadRow,
} from '../../lambdas/core/upload/index';
import { MAX_ROW_CHARS } from '../../lambdas/core/upload/rows';

const encoder = new TextEncoder();
const bytesOf = (input: string | Uint8Array) => (typeof input === 'string' ? encoder.encode(input) : input);

/** The input as a stream of `size`-byte chunks (or of the given sizes, cycled). */
async function* chunked(input: string | Uint8Array, sizes: number | number[] = 64 * 1024) {
  const bytes = bytesOf(input);
  const list = Array.isArray(sizes) ? sizes : [sizes];
  for (let i = 0, k = 0; i < bytes.length; k++) {
    const size = list[k % list.length]!;
    yield bytes.slice(i, i + size);
    i += size;
  }
}

async function rows(input: string | Uint8Array, sizes?: number | number[]): Promise<UploadRow[]> {
  const out: UploadRow[] = [];
  for await (const row of parseCsvUpload(chunked(input, sizes))) out.push(row);
  return out;
}

async function fileError(input: string | Uint8Array): Promise<string> {
  try {
    await rows(input);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as InvalidInputError).target).toBe('file');
    return (error as InvalidInputError).reason;
  }
  throw new Error('expected the file to be rejected');
}

/** A small deterministic PRNG, so a failing split can be reproduced. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
}

const HOSTILE = [
  '\uFEFFNAME;EMAIL;NOTE',
  'Ana;ana@example.com;"line one\r\nline two"',
  '',
  '   ',
  'José;"jose@example.com";"he said ""hola""; then left"',
  'short;row',
  '"Zoë 👩‍💻";z@example.com;""',
  'bad;"quoted"tail;x',
  'too;many;fields;here',
  'Ünï;u@example.com;"multi\nline\n\nwith blank inside"',
  '',
].join('\r\n');

const HOSTILE_ROWS: UploadRow[] = [
  { row: 1, record: { NAME: 'Ana', EMAIL: 'ana@example.com', NOTE: 'line one\r\nline two' } },
  { row: 2, record: { NAME: 'José', EMAIL: 'jose@example.com', NOTE: 'he said "hola"; then left' } },
  { row: 3, error: 'row 3: has 2 fields, header has 3' },
  { row: 4, record: { NAME: 'Zoë 👩‍💻', EMAIL: 'z@example.com', NOTE: '' } },
  { row: 5, error: 'row 5: a quoted field has text after its closing quote' },
  { row: 6, error: 'row 6: has 4 fields, header has 3' },
  { row: 7, record: { NAME: 'Ünï', EMAIL: 'u@example.com', NOTE: 'multi\nline\n\nwith blank inside' } },
];

describe('parseCsvUpload', () => {
  it('reads a hostile file: BOM, ";" detected, quoted delimiters, quotes and line breaks, blank lines skipped', async () => {
    expect(await rows(HOSTILE)).toEqual(HOSTILE_ROWS);
  });

  it('gives the same rows for 1-byte chunks and for random chunk sizes (splitting characters and CRLF)', async () => {
    expect(await rows(HOSTILE, 1)).toEqual(HOSTILE_ROWS);
    const random = prng(42);
    for (let run = 0; run < 50; run++) {
      const sizes = Array.from({ length: 20 }, () => 1 + Math.floor(random() * 17));
      expect(await rows(HOSTILE, sizes), `sizes ${sizes.join(',')}`).toEqual(HOSTILE_ROWS);
    }
  });

  it('reads a comma file without BOM, LF or CR line ends, and a last line without line end', async () => {
    const lf = 'A,B\n1,2\n3,4';
    const cr = 'A,B\r1,2\r3,4\r';
    const expected = [
      { row: 1, record: { A: '1', B: '2' } },
      { row: 2, record: { A: '3', B: '4' } },
    ];
    expect(await rows(lf)).toEqual(expected);
    expect(await rows(cr)).toEqual(expected);
    expect(await rows(cr, 1)).toEqual(expected);
  });

  it('keeps a BOM-less UTF-8 file intact and a BOM split over chunks is still dropped', async () => {
    const text = '\uFEFFCODE\nñandú\n';
    expect(await rows(text, 1)).toEqual([{ row: 1, record: { CODE: 'ñandú' } }]);
    expect(await rows(text.slice(1), 1)).toEqual([{ row: 1, record: { CODE: 'ñandú' } }]);
  });

  it('skips blank lines before the header and between rows, and does not count them', async () => {
    expect(await rows('\n\n  \nA;B\n\n1;2\n\t\n3;4\n\n')).toEqual([
      { row: 1, record: { A: '1', B: '2' } },
      { row: 2, record: { A: '3', B: '4' } },
    ]);
  });

  it('trims spaces around header codes, not around values', async () => {
    expect(await rows(' A , B \n 1 ,2\n')).toEqual([{ row: 1, record: { A: ' 1 ', B: '2' } }]);
  });

  it('keeps a quote inside an unquoted field as a character, and a quoted empty field as a value', async () => {
    expect(await rows('H,W\n5\'11",""\n')).toEqual([{ row: 1, record: { H: '5\'11"', W: '' } }]);
  });

  it('rejects every data row of a file whose header has a duplicate code, with the header reason', async () => {
    expect(await rows('EMAIL,NAME,EMAIL\na,b,c\nd,e,f\n')).toEqual([
      { row: 1, error: 'row 1: header columns 1 and 3: the same field code twice' },
      { row: 2, error: 'row 2: header columns 1 and 3: the same field code twice' },
    ]);
  });

  it('rejects every data row of a file whose header has an invalid or empty code', async () => {
    const result = await rows('NAME,e mail\na,b\n');
    expect(result).toHaveLength(1);
    expect(result[0]).toMatchObject({
      row: 1,
      error: expect.stringMatching(/^row 1: header column 2: field code must be/),
    });
    expect(await rows('A,,B\n1,2,3\n')).toEqual([
      { row: 1, error: expect.stringMatching(/^row 1: header column 2: field code must be/) },
    ]);
  });

  it('rejects a file with an unusable header and no data rows as a whole, with the header reason', async () => {
    expect(await fileError('A,A\n')).toBe('header columns 1 and 2: the same field code twice');
  });

  it('rejects an empty file, a BOM-only file, a blank-lines-only file and a header-only file', async () => {
    expect(await fileError('')).toBe('file is empty');
    expect(await fileError('\uFEFF')).toBe('file is empty');
    expect(await fileError('\r\n  \n\n')).toBe('file is empty');
    expect(await fileError('A;B\r\n\r\n')).toBe('file has no data rows');
  });

  it('rejects the rows holding invalid UTF-8 bytes, and only those, wherever the chunks split', async () => {
    const head = encoder.encode('NAME,CITY\nok,Lima\nbad,');
    const tail = encoder.encode('\nalso ok,Quito\n');
    const file = new Uint8Array([...head, 0xc3, 0x28, 0xff, ...tail]);
    const expected = [
      { row: 1, record: { NAME: 'ok', CITY: 'Lima' } },
      { row: 2, error: 'row 2: invalid UTF-8' },
      { row: 3, record: { NAME: 'also ok', CITY: 'Quito' } },
    ];
    expect(await rows(file)).toEqual(expected);
    expect(await rows(file, 1)).toEqual(expected);
  });

  it('validates each row with the one validator: value too long, named by row and field, no value quoted', async () => {
    const long = 'x'.repeat(4001);
    const result = await rows(`A,B\n1,${long}\n`);
    expect(result).toEqual([{ row: 1, error: 'row 1.B: value is longer than 4000 characters' }]);
  });

  it('rejects a quoted field never closed (it swallows the rest of the file, as RFC 4180 reads it)', async () => {
    expect(await rows('A,B\n1,2\n3,"open\n4,5\n')).toEqual([
      { row: 1, record: { A: '1', B: '2' } },
      { row: 2, error: 'row 2: a quoted field is not closed before the end of the file' },
    ]);
  });

  it('rejects a row longer than the row cap without keeping it, and goes on with the next', async () => {
    const huge = 'y'.repeat(MAX_ROW_CHARS + 10);
    expect(await rows(`A,B\n"${huge}",1\n2,3\n`, 1024 * 1024)).toEqual([
      { row: 1, error: `row 1: longer than ${MAX_ROW_CHARS} characters` },
      { row: 2, record: { A: '2', B: '3' } },
    ]);
  });

  it('keeps a column named __proto__ as a field (assigning it would drop it)', async () => {
    const result = await rows('__proto__,NAME\nx,y\n');
    expect(result).toHaveLength(1);
    const record = (result[0] as { record: Record<string, string> }).record;
    expect(Object.keys(record)).toEqual(['__proto__', 'NAME']);
    expect(JSON.stringify(record)).toBe('{"__proto__":"x","NAME":"y"}');
  });

  it('never puts a value into a reason', async () => {
    const secret = 'secret.person@example.com';
    const result = await rows(`A,B\n${secret}\n${secret},"${secret}"x\n`);
    expect(result).toHaveLength(2);
    for (const row of result) expect(JSON.stringify(row)).not.toContain('secret.person');
  });
});

describe('delimiter detection and raw records', () => {
  it('counts delimiters outside quotes only', () => {
    expect(detectDelimiter('A;B;C')).toBe(';');
    expect(detectDelimiter('A,B')).toBe(',');
    expect(detectDelimiter('"A;B;C",D')).toBe(',');
    expect(detectDelimiter('"A,B,C";D')).toBe(';');
    expect(detectDelimiter('SINGLE')).toBe(',');
  });

  it('detects from the header even when it is split into many pieces', async () => {
    async function* pieces() {
      for (const c of 'A;B\n1;2\n') yield c;
    }
    const fields: string[][] = [];
    for await (const batch of csvRecordBatches(pieces()))
      for (const record of batch) fields.push(record.fields);
    expect(fields).toEqual([
      ['A', 'B'],
      ['1', '2'],
    ]);
  });
});
