import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../lambdas/core/errors';
import {
  checkHeader,
  isFieldCode,
  MAX_ID,
  normalizeValue,
  parseBatch,
  parseDanaparam,
  parseFieldList,
  parseId,
  parseRecord,
} from '../../lambdas/core/validation';

/** The InvalidInputError `fn` throws. */
function invalid(fn: () => unknown): InvalidInputError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidInputError);
    return error as InvalidInputError;
  }
  throw new Error('expected an InvalidInputError');
}

const label = (value: unknown) =>
  typeof value === 'string' || typeof value === 'object' ? JSON.stringify(value) : String(value);

describe('parseId', () => {
  it.each([
    [1, 1],
    ['1', 1],
    [1001, 1001],
    ['77', 77],
    [MAX_ID, MAX_ID],
    ['2147483647', MAX_ID],
  ])('accepts %j as %i', (raw, expected) => {
    expect(parseId('conversationId', raw)).toBe(expected);
  });

  it.each(
    [
      0,
      -1,
      -0,
      1.5,
      MAX_ID + 1,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      '0',
      '-1',
      '01',
      '1.0',
      '1e3',
      ' 1',
      '1 ',
      '+1',
      '0x10',
      '2147483648',
      '99999999999',
      '1/../2',
      '1%2F2',
      '١',
      '',
      null,
      undefined,
      true,
      [1],
      { id: 1 },
      10n,
    ].map((raw) => [label(raw), raw]),
  )('refuses %s, naming the parameter', (_label, raw) => {
    const error = invalid(() => parseId('recordUID', raw));
    expect(error.target).toBe('recordUID');
    expect(error.code).toBe('INVALID_INPUT');
  });
});

describe('parseDanaparam', () => {
  it.each(['abc', 'lc-3663', 'Zm9v_YmFy~baz==', 'a.b', '.a', 'a..b', '...a', 'x'.repeat(512)])(
    'accepts %j',
    (raw) => {
      expect(parseDanaparam(raw)).toBe(raw);
    },
  );

  it.each(
    [
      '',
      '.',
      '..',
      '....',
      '../x',
      'a/b',
      'a?b',
      'a#b',
      'a&b',
      'a b',
      'a%2Fb',
      '%2e%2e',
      'a\\b',
      'a\nb',
      'é',
      'x'.repeat(513),
      undefined,
      42,
    ].map((raw) => [label(raw).slice(0, 30), raw]),
  )('refuses %s', (_label, raw) => {
    expect(invalid(() => parseDanaparam(raw)).target).toBe('danaparam');
  });
});

describe('isFieldCode', () => {
  it.each([
    ['NAME', true],
    ['PHONE_NUMBER', true],
    ['URL_Factura', true],
    ['TESTREST_NAME', true],
    ['UNIF-RECU-PASS_NOMBRES', true],
    ['_X', true],
    ['A'.repeat(64), true],
    ['A'.repeat(65), false],
    ['', false],
    ['FIRST NAME', false],
    ['E.MAIL', false],
    ['NOMBRE_Ñ', false],
    ['A,B', false],
  ])('%j → %s', (code, expected) => {
    expect(isFieldCode(code)).toBe(expected);
  });
});

describe('normalizeValue', () => {
  it.each([
    ['text', 'text'],
    ['', ''],
    ['x'.repeat(4000), 'x'.repeat(4000)],
    [42, '42'],
    [-1.5, '-1.5'],
    [0, '0'],
    [true, 'true'],
    [false, 'false'],
    [null, ''],
  ])('%j → %j', (value, expected) => {
    expect(normalizeValue(value)).toBe(expected);
  });

  it.each([
    ['too long', 'x'.repeat(4001)],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['an object', { a: 1 }],
    ['an array', ['a']],
    ['undefined', undefined],
  ])('refuses %s with a reason that does not echo it', (_name, value) => {
    const result = normalizeValue(value);
    expect(result).toEqual({ reason: expect.any(String) });
    expect((result as { reason: string }).reason).not.toContain('xxxx');
  });
});

describe('parseRecord', () => {
  it('normalizes every value to a string and keeps field codes as they are', () => {
    expect(
      parseRecord('body', { NAME: 'Dana', AGE: 30, VIP: false, NOTE: null, URL_Factura: 's3://WS/x' }),
    ).toEqual({ NAME: 'Dana', AGE: '30', VIP: 'false', NOTE: '', URL_Factura: 's3://WS/x' });
  });

  it.each([
    ['null', null, 'body', /JSON object/],
    ['an array', [{ NAME: 'x' }], 'body', /JSON object/],
    ['a string', 'NAME=x', 'body', /JSON object/],
    ['empty', {}, 'body', /at least one field/],
    [
      'a bad field code',
      { NAME: 'x', 'E MAIL': 'x' },
      'body',
      /^field code number 2 \(6 characters\) must be/,
    ],
    ['an object value', { NAME: { first: 'x' } }, 'body.NAME', /string, number, boolean or null/],
    ['a long value', { NAME: 'y'.repeat(4001) }, 'body.NAME', /longer than 4000/],
    [
      'too many fields',
      Object.fromEntries(Array.from({ length: 201 }, (_, i) => [`F${i}`, 'v'])),
      'body',
      /at most 200 fields/,
    ],
  ])('refuses %s, naming where', (_name, raw, target, reason) => {
    const error = invalid(() => parseRecord('body', raw));
    expect(error.target).toBe(target);
    expect(error.reason).toMatch(reason);
    expect(error.message).not.toContain('yyyy');
  });

  it('accepts exactly 200 fields', () => {
    const raw = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`F${i}`, 'v']));
    expect(Object.keys(parseRecord('body', raw))).toHaveLength(200);
  });

  it('accepts no fields only when allowed (the existing-record route)', () => {
    expect(parseRecord('body', {}, { allowEmpty: true })).toEqual({});
  });

  it('keeps a field named __proto__ as a field instead of dropping it', () => {
    const record = parseRecord('body', JSON.parse('{"__proto__":"x","NAME":"y"}'));
    expect(Object.keys(record)).toEqual(['__proto__', 'NAME']);
    expect(JSON.parse(JSON.stringify(record))).toEqual(JSON.parse('{"__proto__":"x","NAME":"y"}'));
    expect(Object.getPrototypeOf(record)).toBe(Object.prototype);
  });
});

describe('parseBatch', () => {
  const one = { NAME: 'x' };

  it.each([1, 10])('accepts %i records', (n) => {
    expect(
      parseBatch(
        'body',
        Array.from({ length: n }, () => one),
      ),
    ).toHaveLength(n);
  });

  it.each([
    ['an object', one, 'body', /JSON array/],
    ['empty', [], 'body', /1 to 10 records, not 0/],
    ['eleven records', Array.from({ length: 11 }, () => one), 'body', /1 to 10 records, not 11/],
    ['a bad third record', [one, one, { 'A B': 'x' }], 'body[2]', /field code/],
    ['a bad value in the second', [one, { N: [] }], 'body[1].N', /string, number/],
  ])('refuses %s, naming where', (_name, raw, target, reason) => {
    const error = invalid(() => parseBatch('body', raw));
    expect(error.target).toBe(target);
    expect(error.reason).toMatch(reason);
  });
});

describe('parseFieldList', () => {
  it.each([
    [undefined, undefined],
    [null, undefined],
    ['', undefined],
    ['EMAIL', ['EMAIL']],
    ['EMAIL,NAME,PHONE_NUMBER', ['EMAIL', 'NAME', 'PHONE_NUMBER']],
    [
      Array.from({ length: 100 }, (_, i) => `F${i}`).join(','),
      Array.from({ length: 100 }, (_, i) => `F${i}`),
    ],
  ])('%j → %j', (raw, expected) => {
    expect(parseFieldList(raw)).toEqual(expected);
  });

  it.each([
    ['EMAIL,,NAME'],
    ['EMAIL,'],
    [' EMAIL'],
    ['EMAIL;NAME'],
    [['EMAIL']],
    [Array.from({ length: 101 }, (_, i) => `F${i}`).join(',')],
  ])('refuses %j', (raw) => {
    expect(invalid(() => parseFieldList(raw)).target).toBe('fields');
  });

  it('names an invalid code by its position and length, never quoting it', () => {
    const error = invalid(() => parseFieldList('NAME,ada@example.com'));
    expect(error.message).toBe(
      'fields: field code number 2 (15 characters) must be 1 to 64 letters, digits, _ or -',
    );
  });
});

describe('reasons for an invalid field code', () => {
  it('never quote the code: in a JSONL row or a body, a key can be an email address or a phone number', () => {
    for (const code of ['ada@example.com', '+15550100123', 'Ada Lovelace', '']) {
      const error = invalid(() => parseRecord('row 4', { NAME: 'x', [code]: 'y' }));
      expect(error.message).toBe(
        `row 4: field code number 2 (${code.length} characters) must be 1 to 64 letters, digits, _ or -`,
      );
    }
  });
});

describe('checkHeader', () => {
  it.each([
    [['NAME', 'EMAIL'], undefined],
    [[], /empty/],
    [['NAME', 'NAME'], /^header columns 1 and 2: the same field code twice$/],
    [['NAME', 'E MAIL'], /^header column 2: field code must be/],
    [Array.from({ length: 201 }, (_, i) => `F${i}`), /more than 200/],
  ])('%j → %s', (codes, expected) => {
    const result = checkHeader(codes);
    if (expected === undefined) expect(result).toBeUndefined();
    else expect(result).toMatch(expected);
  });

  it('never quotes the header text (in a file without a header row it is a contact’s data)', () => {
    expect(checkHeader(['ada@example.com', 'x'])).not.toContain('ada@example.com');
    expect(checkHeader(['+15550001111', '+15550001111'])).not.toContain('+1555');
  });
});
