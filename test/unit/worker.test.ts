import { describe, expect, it } from 'vitest';
import {
  ConfigurationError,
  DanaError,
  InvalidInputError,
  type DanaErrorInit,
} from '../../lambdas/core/errors';
import {
  DEFAULT_REDELIVERY,
  outcomesOfAnswer,
  parseChunkMessage,
  redeliveryDelay,
  verdictOn,
} from '../../lambdas/core/worker';

const dana = (init: Partial<DanaErrorInit> & Pick<DanaErrorInit, 'kind' | 'delivery'>) =>
  new DanaError({ message: `${init.kind} test`, ...init });

describe('verdictOn: which error becomes which outcome', () => {
  it.each([
    ['throttled', 'no', 429],
    ['upstream_internal', 'unknown', 503],
    ['unauthorized', 'no', 401],
    ['network', 'no', undefined],
    ['timeout', 'no', undefined],
  ] as const)('%s (delivery %s) comes back later', (kind, delivery, status) => {
    const verdict = verdictOn(dana({ kind, delivery, status }));
    expect(verdict).toMatchObject({ kind: 'retry', errorClass: kind });
  });

  // Defect 1: a 5xx after DANAConnect acted must never start the rows again. Only statuses that prove nothing
  // was acted on (429, and 503 by default) send a chunk again.
  it.each([500, 502, 504, 599])('defect 1: a %s is an unknown outcome, never sent again', (status) => {
    for (const body of [{ wsError: { idError: 1, errorDescription: 'x' } }, undefined]) {
      const verdict = verdictOn(dana({ kind: 'upstream_internal', delivery: 'unknown', status, body }));
      expect(verdict.kind).toBe('final');
      expect(verdict.kind === 'final' && verdict.error).toMatch(/^outcome unknown: /);
    }
  });

  it('batch.resendOn5xx: an operator who knows their DANAConnect may add 500, and only that', () => {
    const error500 = dana({ kind: 'upstream_internal', delivery: 'unknown', status: 500 });
    expect(verdictOn(error500, [503, 500])).toMatchObject({ kind: 'retry' });
    expect(
      verdictOn(dana({ kind: 'upstream_internal', delivery: 'unknown', status: 502 }), [503, 500]).kind,
    ).toBe('final');
    expect(verdictOn(dana({ kind: 'upstream_internal', delivery: 'unknown', status: 503 }), []).kind).toBe(
      'final',
    );
  });

  it('keeps Retry-After for the redelivery delay', () => {
    expect(
      verdictOn(dana({ kind: 'throttled', delivery: 'no', status: 429, retryAfterMs: 7_000 })),
    ).toMatchObject({
      kind: 'retry',
      retryAfterMs: 7_000,
    });
  });

  it.each([
    ['timeout', 'unknown'],
    ['network', 'unknown'],
    ['unexpected_answer', 'unknown'],
  ] as const)('%s after sending (delivery %s) is an unknown outcome, never resent', (kind, delivery) => {
    const verdict = verdictOn(dana({ kind, delivery }));
    expect(verdict.kind).toBe('final');
    expect(verdict.kind === 'final' && verdict.error).toMatch(/^outcome unknown: /);
  });

  it('a 400 fails the rows for good, with DANAConnect’s reason', () => {
    const verdict = verdictOn(
      dana({
        kind: 'illegal_argument',
        delivery: 'no',
        status: 400,
        message: 'illegal argument (400): Unknown conversation',
      }),
    );
    expect(verdict).toEqual({
      kind: 'final',
      error: 'refused by DANAConnect: illegal argument (400): Unknown conversation',
    });
  });

  it('an invalid id in the message fails the rows; unreadable credentials retry', () => {
    expect(verdictOn(new InvalidInputError('conversationId', 'must be an integer'))).toEqual({
      kind: 'final',
      error: 'invalid chunk: conversationId: must be an integer',
    });
    expect(verdictOn(new ConfigurationError('secret x: value is not valid JSON'))).toMatchObject({
      kind: 'retry',
      errorClass: 'configuration',
    });
  });
});

describe('redeliveryDelay', () => {
  const policy = { baseDelayMs: 1_000, maxDelayMs: 60_000 };

  it('grows with every receive, between half and all of base * 2^(n-1)', () => {
    for (let n = 1; n <= 6; n++) {
      const ceiling = Math.min(60_000, 1_000 * 2 ** (n - 1));
      expect(redeliveryDelay(n, undefined, policy, () => 0)).toBe(ceiling / 2);
      expect(redeliveryDelay(n, undefined, policy, () => 0.999999)).toBeLessThanOrEqual(ceiling);
      expect(redeliveryDelay(n, undefined, policy, () => 0.999999)).toBeGreaterThan(ceiling * 0.99);
    }
    expect(redeliveryDelay(30, undefined, policy, () => 0.999999)).toBeLessThanOrEqual(60_000);
  });

  it('never comes back before Retry-After', () => {
    expect(redeliveryDelay(1, 9_000, policy, () => 0.5)).toBe(9_000);
    expect(redeliveryDelay(6, 9_000, policy, () => 0)).toBe(16_000);
  });

  it('defaults to 10 s doubling up to 15 min, within SQS’s 12 h visibility limit', () => {
    expect(redeliveryDelay(1, undefined, DEFAULT_REDELIVERY, () => 0)).toBe(5_000);
    expect(redeliveryDelay(99, undefined, DEFAULT_REDELIVERY, () => 0.999999)).toBeLessThanOrEqual(
      15 * 60_000,
    );
    expect(redeliveryDelay(1, 48 * 3600_000, DEFAULT_REDELIVERY)).toBe(12 * 3600_000);
  });
});

describe('outcomesOfAnswer', () => {
  const rows = [
    { row: 4, record: { EMAIL: 'a@example.com' } },
    { row: 7, record: { EMAIL: 'b@example.com' } },
  ];
  const batch = { kind: 'batch', conversationId: 1001 } as const;

  it('maps each slot of a batch answer to its row', () => {
    expect(
      outcomesOfAnswer(rows, batch, [
        { wsResult: { idResult: 90, resultDescription: 'OK' } },
        { wsError: { idError: 1008, errorDescription: 'Invalid record' } },
      ]),
    ).toEqual([
      { row: 4, status: 'started', idResult: 90 },
      { row: 7, status: 'failed', error: 'DANAConnect error 1008: Invalid record' },
    ]);
  });

  it('an answer that does not line up with the rows is an unknown outcome for all of them', () => {
    for (const body of [[{ wsResult: { idResult: 1 } }], { wsResult: { idResult: 1 } }, 'OK']) {
      const outcomes = outcomesOfAnswer(rows, batch, body);
      expect(outcomes.map((o) => o.status)).toEqual(['failed', 'failed']);
      for (const o of outcomes) expect(o.error).toMatch(/^outcome unknown: /);
    }
    expect(outcomesOfAnswer(rows, batch, [{ wsResult: { idResult: 'x' } }, {}])[0]!.error).toMatch(
      /^outcome unknown: /,
    );
  });

  it('reads a single start answer for data and project chunks', () => {
    expect(
      outcomesOfAnswer(
        [rows[0]!],
        { kind: 'project', projectId: 77 },
        { wsResult: { idResult: 5, resultDescription: 'OK' } },
      ),
    ).toEqual([{ row: 4, status: 'started', idResult: 5 }]);
  });
});

describe('parseChunkMessage', () => {
  const valid = {
    jobId: '0123456789abcdef0123456789abcdef',
    chunkId: '0123456789abcdef0123456789abcdef#000000000',
    operation: { kind: 'batch', conversationId: 1001 },
    rows: [{ row: 1, record: { EMAIL: 'x@example.com', AGE: 33 } }],
  };

  it('accepts a chunk message and normalizes values with the one validator', () => {
    expect(parseChunkMessage(JSON.stringify(valid))).toEqual({
      ...valid,
      rows: [{ row: 1, record: { EMAIL: 'x@example.com', AGE: '33' } }],
    });
  });

  it.each([
    ['not JSON', '{', 'message'],
    ['no job id', JSON.stringify({ ...valid, jobId: '' }), 'jobId'],
    ['a job id of another shape', JSON.stringify({ ...valid, jobId: 'job1' }), 'jobId'],
    ['an upper-case job id', JSON.stringify({ ...valid, jobId: valid.jobId.toUpperCase() }), 'jobId'],
    [
      'a chunk id of another job',
      JSON.stringify({ ...valid, chunkId: `${'f'.repeat(32)}#000000000` }),
      'chunkId',
    ],
    ['a chunk id without an index', JSON.stringify({ ...valid, chunkId: `${valid.jobId}#` }), 'chunkId'],
    ['a chunk id with a short index', JSON.stringify({ ...valid, chunkId: `${valid.jobId}#12` }), 'chunkId'],
    [
      'a chunk id with more after it',
      JSON.stringify({ ...valid, chunkId: `${valid.jobId}#000000000x` }),
      'chunkId',
    ],
    [
      'a bad conversation id',
      JSON.stringify({ ...valid, operation: { kind: 'batch', conversationId: 0 } }),
      'operation.conversationId',
    ],
    [
      'an unknown operation',
      JSON.stringify({ ...valid, operation: { kind: 'list', conversationId: 1 } }),
      'operation.kind',
    ],
    [
      'eleven rows',
      JSON.stringify({ ...valid, rows: Array.from({ length: 11 }, () => valid.rows[0]) }),
      'rows',
    ],
    [
      'two rows for a data start',
      JSON.stringify({
        ...valid,
        operation: { kind: 'data', conversationId: 1 },
        rows: [valid.rows[0], valid.rows[0]],
      }),
      'rows',
    ],
    [
      'a row number of 0',
      JSON.stringify({ ...valid, rows: [{ row: 0, record: { A: '1' } }] }),
      'rows[0].row',
    ],
    [
      'an invalid field code',
      JSON.stringify({ ...valid, rows: [{ row: 9, record: { 'A B': 'secret@example.com' } }] }),
      'row 9',
    ],
  ])('refuses %s, naming the field and never the value', (_, body, target) => {
    let caught: unknown;
    try {
      parseChunkMessage(body);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(InvalidInputError);
    expect((caught as InvalidInputError).target).toBe(target);
    expect((caught as Error).message).not.toContain('secret@example.com');
  });
});
