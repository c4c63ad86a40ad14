/** Upload keys: decoding S3 event keys, what a key means, and the deterministic job id. */
import { describe, expect, it } from 'vitest';
import { decodeS3Key, parseUploadKey, uploadJobId } from '../../lambdas/core/ingest';

describe('decodeS3Key', () => {
  it('decodes "+" as a space and percent-escapes as UTF-8', () => {
    expect(decodeS3Key('uploads/1001/lista+de+marzo+%C3%A9%C3%B1.csv')).toBe(
      'uploads/1001/lista de marzo éñ.csv',
    );
    expect(decodeS3Key('uploads/1001/a%2Bb.csv')).toBe('uploads/1001/a+b.csv');
    expect(decodeS3Key('uploads/1001/plain.csv')).toBe('uploads/1001/plain.csv');
  });

  it('takes a malformed escape literally instead of failing', () => {
    expect(decodeS3Key('uploads/1001/100%+off.csv')).toBe('uploads/1001/100% off.csv');
  });
});

describe('parseUploadKey', () => {
  it('reads conversation id, report name (the full file name, folders kept) and format', () => {
    expect(parseUploadKey('uploads/1001/march/contacts.csv')).toEqual({
      kind: 'upload',
      conversationId: 1001,
      segment: '1001',
      name: 'march/contacts.csv',
      format: 'csv',
    });
    expect(parseUploadKey('uploads/7/lista de marzo é.JSONL')).toMatchObject({
      kind: 'upload',
      name: 'lista de marzo é.JSONL',
      format: 'jsonl',
    });
    expect(parseUploadKey('uploads/7/a.b.json')).toMatchObject({
      kind: 'upload',
      name: 'a.b.json',
      format: 'json',
    });
  });

  it('rejects a key without a valid conversation id into the _invalid segment', () => {
    // `abc` would be an alias (docs/ALIASES.md): these are neither ids nor alias names.
    for (const key of [
      'uploads/Abc/x.csv',
      'uploads/0/x.csv',
      'uploads/01/x.csv',
      'uploads/99999999999/x.csv',
    ]) {
      const parsed = parseUploadKey(key);
      expect(parsed, key).toMatchObject({
        kind: 'rejected',
        segment: '_invalid',
        reason: expect.stringContaining('conversationId: must be an integer from 1 to 2147483647'),
      });
    }
    expect(parseUploadKey('uploads/Abc/x.csv')).toMatchObject({ name: 'Abc/x.csv' });
    expect(parseUploadKey('uploads/x.csv')).toMatchObject({
      kind: 'rejected',
      segment: '_invalid',
      name: 'x.csv',
    });
  });

  it('rejects an unknown extension, keeping the full file name as report name', () => {
    expect(parseUploadKey('uploads/1001/notes.txt')).toEqual({
      kind: 'rejected',
      segment: '1001',
      name: 'notes.txt',
      reason: 'file extension must be .csv, .jsonl or .json',
    });
    expect(parseUploadKey('uploads/1001/noext')).toMatchObject({ kind: 'rejected', name: 'noext' });
    expect(parseUploadKey('uploads/1001/.csv')).toMatchObject({ kind: 'rejected', name: '.csv' });
  });

  it('rejects names with empty, "." or ".." segments, with a report name that stays in its folder', () => {
    expect(parseUploadKey('uploads/1001/../../etc/x.csv')).toMatchObject({
      kind: 'rejected',
      segment: '1001',
      name: '_/_/etc/x.csv',
    });
    expect(parseUploadKey('uploads/1001/a//b.csv')).toMatchObject({ kind: 'rejected', name: 'a/_/b.csv' });
  });

  it('ignores keys outside uploads/ (reports among them) and folder markers', () => {
    expect(parseUploadKey('reports/1001/x.report.csv').kind).toBe('ignored');
    expect(parseUploadKey('uploads/1001/').kind).toBe('ignored');
    expect(parseUploadKey('Uploads/1001/x.csv').kind).toBe('ignored');
  });
});

describe('uploadJobId', () => {
  const base = { bucket: 'b', key: 'uploads/1/x.csv', versionId: 'v1', etag: 'e1' };

  it('is 32 hex characters, the same for the same object version (quoted ETag or not)', () => {
    expect(uploadJobId(base)).toMatch(/^[0-9a-f]{32}$/);
    expect(uploadJobId({ ...base })).toBe(uploadJobId(base));
    expect(uploadJobId({ ...base, etag: '"e1"' })).toBe(uploadJobId(base));
  });

  it('differs for another bucket, key, version or content', () => {
    const id = uploadJobId(base);
    expect(uploadJobId({ ...base, bucket: 'c' })).not.toBe(id);
    expect(uploadJobId({ ...base, key: 'uploads/1/y.csv' })).not.toBe(id);
    expect(uploadJobId({ ...base, versionId: 'v2' })).not.toBe(id);
    expect(uploadJobId({ ...base, etag: 'e2' })).not.toBe(id);
    expect(uploadJobId({ bucket: 'b', key: 'uploads/1/x.csv' })).not.toBe(id);
  });
});
