/**
 * Sign-in in AWS: Amazon Cognito's hosted sign-in, authorization code with PKCE (RFC 7636, S256), no client
 * secret. The verifier and state live in sessionStorage only for the round trip; the ID token (what the API's
 * Cognito authorizer checks) is kept in sessionStorage for this tab, never localStorage, and dropped when the API
 * refuses it or it expires.
 */
const TOKEN_ITEM = 'dana-console-id-token';
const FLOW_ITEM = 'dana-console-pkce';

function meta(name: string): string {
  return document.querySelector<HTMLMetaElement>(`meta[name="${name}"]`)?.content ?? '';
}

const base64url = (bytes: Uint8Array): string =>
  btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');

const redirectUri = (): string => `${location.origin}${location.pathname}`;

export const idToken = {
  get(): string | undefined {
    const stored = sessionStorage.getItem(TOKEN_ITEM);
    if (!stored) return undefined;
    const { token, expiresAt } = JSON.parse(stored) as { token: string; expiresAt: number };
    return Date.now() < expiresAt ? token : undefined;
  },
  clear: (): void => sessionStorage.removeItem(TOKEN_ITEM),
};

/** Sends the browser to the hosted sign-in page with a fresh PKCE verifier and state. */
export async function signIn(): Promise<void> {
  const verifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
  const state = base64url(crypto.getRandomValues(new Uint8Array(16)));
  const challenge = base64url(
    new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))),
  );
  sessionStorage.setItem(FLOW_ITEM, JSON.stringify({ verifier, state, hash: location.hash }));
  const query = new URLSearchParams({
    response_type: 'code',
    client_id: meta('dana-console-client-id'),
    redirect_uri: redirectUri(),
    scope: 'openid email',
    code_challenge_method: 'S256',
    code_challenge: challenge,
    state,
  });
  location.assign(`${meta('dana-console-auth-domain')}/oauth2/authorize?${query}`);
}

/**
 * On the way back from the sign-in page (`?code=…&state=…`): checks the state, trades the code and verifier for
 * tokens at the token endpoint, keeps the ID token and cleans the URL. False when this is not such a return.
 */
export async function finishSignIn(): Promise<boolean> {
  const params = new URLSearchParams(location.search);
  const code = params.get('code');
  const flow = sessionStorage.getItem(FLOW_ITEM);
  if (!code || !flow) return false;
  sessionStorage.removeItem(FLOW_ITEM);
  const { verifier, state, hash } = JSON.parse(flow) as { verifier: string; state: string; hash: string };
  history.replaceState(null, '', `${location.pathname}${hash}`);
  if (params.get('state') !== state)
    throw new Error('The sign-in answer did not match this tab. Sign in again.');
  const response = await fetch(`${meta('dana-console-auth-domain')}/oauth2/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      client_id: meta('dana-console-client-id'),
      code,
      redirect_uri: redirectUri(),
      code_verifier: verifier,
    }),
  });
  if (!response.ok) throw new Error(`Sign-in failed (${response.status}). Sign in again.`);
  const tokens = (await response.json()) as { id_token: string; expires_in: number };
  const expiresAt = Date.now() + (tokens.expires_in - 60) * 1000;
  sessionStorage.setItem(TOKEN_ITEM, JSON.stringify({ token: tokens.id_token, expiresAt }));
  return true;
}
