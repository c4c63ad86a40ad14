/**
 * The worker's reasons (what goes into reports and job answers) when DANAConnect's texts echo a contact's data:
 * emails and phone numbers are masked before the reason is cut to length.
 */
import { describe, expect, it } from 'vitest';
import { DanaError } from '../../lambdas/core/errors';
import { outcomesOfAnswer, verdictOn } from '../../lambdas/core/worker';

const ROWS = [
  { row: 1, record: { NAME: 'A' } },
  { row: 2, record: { NAME: 'B' } },
];
const BATCH = { kind: 'batch', conversationId: 1001 } as const;

describe('worker reasons', () => {
  it('mask what a batch answer’s errorDescription echoes', () => {
    const outcomes = outcomesOfAnswer(ROWS, BATCH, [
      { wsError: { idError: 1001, errorDescription: 'EMAIL bo.echo@example.com is invalid' } },
      { wsError: { idError: 1001, errorDescription: 'PHONE +15550100321 is invalid' } },
    ]);
    expect(outcomes).toEqual([
      { row: 1, status: 'failed', error: 'DANAConnect error 1001: EMAIL b***@e***.com is invalid' },
      { row: 2, status: 'failed', error: 'DANAConnect error 1001: PHONE +***21 is invalid' },
    ]);
  });

  it('mask a refusal and an unknown outcome quoting DANAConnect', () => {
    const refused = verdictOn(
      new DanaError({
        kind: 'illegal_argument',
        status: 400,
        delivery: 'no',
        message: 'illegal argument (400): contact cy.echo@example.org exists',
      }),
    );
    expect(refused).toEqual({
      kind: 'final',
      error: 'refused by DANAConnect: illegal argument (400): contact c***@e***.org exists',
    });
    const unknown = verdictOn(
      new DanaError({
        kind: 'upstream_internal',
        status: 500,
        delivery: 'unknown',
        message: 'upstream internal error (500): failed on +1 555 010 0456',
      }),
    );
    expect(unknown).toEqual({
      kind: 'final',
      error: 'outcome unknown: upstream internal error (500): failed on +***56',
    });
  });

  it('mask before cutting, so an address at the cut is never left half shown', () => {
    const description = `${'x'.repeat(460)} dee.echo-long-address@example.com`;
    const [outcome] = outcomesOfAnswer([ROWS[0]!], BATCH, [
      { wsError: { idError: 7, errorDescription: description } },
    ]);
    expect(outcome!.error!.length).toBeLessThanOrEqual(500);
    expect(outcome!.error).not.toContain('dee.echo');
    expect(outcome!.error).toMatch(/d\*\*\*@e\*\*\*\.com$/);
  });
});
