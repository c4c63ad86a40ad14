/**
 * What a server of the console page needs at run time, without the build (so the AWS function's bundle carries no
 * esbuild): the page's settings filled into index.html, and the security headers of every console answer.
 */

/** How the page signs in: not at all (loopback), with LOCAL_API_KEY, or through Cognito's hosted sign-in. */
export type ConsoleAuth = 'none' | 'api-key' | 'cognito';

export interface ConsoleSettings {
  /** Where the API is, from the page's origin: `` locally, `/<stage>/console/api` in AWS. */
  apiBase: string;
  auth: ConsoleAuth;
  /** Cognito: the hosted sign-in's origin (`https://<prefix>.auth.<region>.amazoncognito.com`) and app client. */
  authDomain?: string;
  clientId?: string;
}

const escapeAttribute = (value: string) => value.replace(/[&"<>]/g, (c) => `&#${c.charCodeAt(0)};`);

/** index.html with the settings filled in (attribute-escaped; they come from config, never from a request body). */
export function consolePage(template: Buffer, settings: ConsoleSettings): Buffer {
  const values: Record<string, string> = {
    API_BASE: settings.apiBase,
    AUTH: settings.auth,
    AUTH_DOMAIN: settings.authDomain ?? '',
    CLIENT_ID: settings.clientId ?? '',
  };
  return Buffer.from(
    template
      .toString('utf8')
      .replace(/\{\{([A-Z_]+)\}\}/g, (whole, name: string) =>
        name in values ? escapeAttribute(values[name]!) : whole,
      ),
  );
}

/**
 * The headers every console answer carries: a strict CSP (scripts and styles from this origin only, no inline
 * script or style, no framing; API calls to this origin and, in AWS, to the origins the page must reach: the
 * bucket for presigned uploads and reports, Cognito's token endpoint), HSTS (ignored on http://127.0.0.1, in force
 * behind HTTPS), no MIME sniffing, no referrer, no caching.
 */
export function consoleSecurityHeaders(connectOrigins: readonly string[] = []): Record<string, string> {
  const connect = ["'self'", ...connectOrigins].join(' ');
  return {
    'Content-Security-Policy':
      `default-src 'none'; script-src 'self'; style-src 'self'; connect-src ${connect}; img-src 'self' data:; ` +
      "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    'Strict-Transport-Security': 'max-age=63072000; includeSubDomains',
    'X-Content-Type-Options': 'nosniff',
    'X-Frame-Options': 'DENY',
    'Referrer-Policy': 'no-referrer',
    'Cache-Control': 'no-store',
  };
}

/** The headers of the local console (everything it calls is on its own origin). */
export const CONSOLE_SECURITY_HEADERS: Readonly<Record<string, string>> = consoleSecurityHeaders();
