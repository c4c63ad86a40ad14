/** maskPersonalData (lambdas/core/redaction.ts): emails and phone numbers in vendor texts, masked. */
import { describe, expect, it } from 'vitest';
import { MAX_MASKED_INPUT_CHARS, maskPersonalData } from '../../lambdas/core/redaction';

describe('maskPersonalData', () => {
  it('masks an email address to its first characters and top-level domain', () => {
    expect(maskPersonalData('jane.doe@example.com')).toBe('j***@e***.com');
    expect(maskPersonalData("Invalid EMAIL 'ada+news@mail.example.co.uk' for record")).toBe(
      "Invalid EMAIL 'a***@m***.uk' for record",
    );
    expect(maskPersonalData('a@b.io, c_d@e-f.org')).toBe('a***@b***.io, c***@e***.org');
  });

  it('masks phone numbers, written in any of the usual ways, to their + and last two digits', () => {
    expect(maskPersonalData('PHONE +15550100123 is invalid')).toBe('PHONE +***23 is invalid');
    expect(maskPersonalData('call +1 (555) 010-0123.')).toBe('call +***23.');
    expect(maskPersonalData('mobile 0412 345 678;')).toBe('mobile ***78;');
    expect(maskPersonalData('"EMAIL":"954222233"')).toBe('"EMAIL":"***33"');
    expect(maskPersonalData('55.5010.0123')).toBe('***23');
  });

  it('leaves codes, counts, ids and words alone', () => {
    for (const text of [
      'DANAConnect error 1001: Invalid record',
      'illegal argument (400): conversation 1002 is not active',
      'row 17: field EMAIL: value is longer than 4000 characters',
      'dead-lettered: throttled (429) (after 3 attempts)',
      'job 3f2a9c04d1e84b7f9a0c55ad01512345 is done',
      'id 12345678901234567890 is too long', // more digits than any phone number
      'ABC1234567',
    ]) {
      expect(maskPersonalData(text), text).toBe(text);
    }
  });

  it('is idempotent: a masked text stays as it is', () => {
    const once = maskPersonalData('jane.doe@example.com or +1 555 010 0123');
    expect(once).toBe('j***@e***.com or +***23');
    expect(maskPersonalData(once)).toBe(once);
  });

  it('leaves nothing that the log audit would call an email or a phone number', () => {
    const text = maskPersonalData('x ada.lovelace@example.org y +447700900123 z 0034 600 123 456');
    expect(text).not.toMatch(/[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/);
    expect(text).not.toMatch(/\+\d{7,15}\b/);
    expect(text).not.toMatch(/\d{5,}/);
  });

  it('cuts a huge text before scanning it, and still masks what it keeps', () => {
    const huge = `${'a@b.com '.repeat(1000)}`;
    const masked = maskPersonalData(huge);
    expect(masked.length).toBeLessThanOrEqual(MAX_MASKED_INPUT_CHARS + 1000 * 6);
    expect(masked).not.toContain('a@b.com');
    const slow = `${'a'.repeat(100_000)}@`;
    const started = performance.now();
    maskPersonalData(slow);
    expect(performance.now() - started).toBeLessThan(1000);
  });
});
