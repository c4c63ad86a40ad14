import { describe, expect, it } from 'vitest';
import { printableOrigin } from '../../local/start';

describe('the npm start banner', () => {
  it('prints only the origin of DANA_BASE_URL, never credentials or a query in it', () => {
    expect(printableOrigin('https://user:s3cret@dana.example.com:8443/x?token=abc')).toBe(
      'https://dana.example.com:8443',
    );
    expect(printableOrigin('http://127.0.0.1:4010')).toBe('http://127.0.0.1:4010');
    expect(printableOrigin('not a url')).toBe('(invalid DANA_BASE_URL)');
  });
});
