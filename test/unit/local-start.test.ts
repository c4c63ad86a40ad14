import { describe, expect, it } from 'vitest';
import { localApiKey, printableOrigin } from '../../local/start';

describe('the npm start banner', () => {
  it('prints only the origin of DANA_BASE_URL, never credentials or a query in it', () => {
    expect(printableOrigin('https://user:s3cret@dana.example.com:8443/x?token=abc')).toBe(
      'https://dana.example.com:8443',
    );
    expect(printableOrigin('http://127.0.0.1:4010')).toBe('http://127.0.0.1:4010');
    expect(printableOrigin('not a url')).toBe('(invalid DANA_BASE_URL)');
  });
});

describe('the local gateway key (localApiKey)', () => {
  it('is LOCAL_API_KEY when set, whatever the upstream', () => {
    expect(localApiKey({ LOCAL_API_KEY: 'mine' }, true)).toEqual({ apiKey: 'mine', generated: false });
    expect(localApiKey({ LOCAL_API_KEY: 'mine' }, false)).toEqual({ apiKey: 'mine', generated: false });
  });

  it('is none in front of the embedded sandbox without LOCAL_API_KEY', () => {
    expect(localApiKey({}, false)).toEqual({ generated: false });
  });

  it('is generated, random and long, in front of a real DANAConnect without LOCAL_API_KEY', () => {
    const a = localApiKey({ LOCAL_API_KEY: '' }, true);
    const b = localApiKey({}, true);
    expect(a.generated).toBe(true);
    expect(a.apiKey).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(b.apiKey).not.toBe(a.apiKey);
  });
});
