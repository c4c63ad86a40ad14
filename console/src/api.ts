/**
 * The page's calls to the gateway's API, same origin only. Where the API lives and how the page authenticates
 * are told by the server in two meta tags (no inline script): `dana-console-api` (the base path: empty locally,
 * `/console/api` in AWS) and `dana-console-auth` (`none` on loopback, `api-key` when LOCAL_API_KEY is set,
 * `cognito` in AWS: ./cognito.ts).
 *
 * Errors become one of three kinds the views show in words: ApiError (the API refused: status, idError and, when
 * the gateway's message names one, the field), ConnectionLost (no answer at all) and SessionExpired (the key or
 * session is missing or wrong). The API key is kept in sessionStorage (gone with the tab), never localStorage.
 */
import { idToken } from './cognito';

export type AuthMode = 'none' | 'api-key' | 'cognito';

function meta(name: string): string {
  return document.querySelector<HTMLMetaElement>(`meta[name="${name}"]`)?.content ?? '';
}

export const apiBase = (): string => meta('dana-console-api').replace(/\/$/, '');
export const authMode = (): AuthMode => {
  const mode = meta('dana-console-auth');
  return mode === 'api-key' || mode === 'cognito' ? mode : 'none';
};

const KEY_ITEM = 'dana-console-api-key';
export const apiKey = {
  get: (): string | undefined => sessionStorage.getItem(KEY_ITEM) ?? undefined,
  set: (key: string): void => sessionStorage.setItem(KEY_ITEM, key),
  clear: (): void => sessionStorage.removeItem(KEY_ITEM),
};

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly idError: number | undefined,
    /** The parameter or field the gateway named (`conversationId`, `cron`, `body[2].EMAIL`), when it named one. */
    readonly field: string | undefined,
    /** The reason alone, without the field ("must be an integer from 0 to 1440"). */
    readonly reason: string,
  ) {
    super(field ? `${field}: ${reason}` : reason);
    this.name = 'ApiError';
  }
}
export class ConnectionLost extends Error {
  constructor() {
    super('The gateway did not answer: the connection is lost or the server stopped.');
    this.name = 'ConnectionLost';
  }
}
export class SessionExpired extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SessionExpired';
  }
}

/**
 * The gateway's message `"<Description>: <field>: <reason>"` (lambdas/core/errors.ts gatewayError around an
 * InvalidInputError) split into field and reason; other messages stay whole.
 */
export function splitErrorDescription(description: string): { field?: string; reason: string } {
  const afterDescription = description.indexOf(': ');
  if (afterDescription < 0) return { reason: description };
  const detail = description.slice(afterDescription + 2);
  const named = /^([A-Za-z_][\w.[\]-]*): (.+)$/s.exec(detail);
  return named ? { field: named[1]!, reason: named[2]! } : { reason: detail };
}

/** The key (LOCAL_API_KEY) or the Cognito ID token, whichever this page signs in with. */
export function authHeaders(): Record<string, string> {
  const mode = authMode();
  const key = mode === 'api-key' ? apiKey.get() : undefined;
  const token = mode === 'cognito' ? idToken.get() : undefined;
  if (key) return { 'x-api-key': key };
  return token ? { Authorization: token } : {};
}

async function errorOf(response: Response): Promise<Error> {
  let description = `${response.status} ${response.statusText}`;
  let idError: number | undefined;
  try {
    const body = (await response.json()) as { wsError?: { idError?: number; errorDescription?: string } };
    if (body.wsError?.errorDescription) description = body.wsError.errorDescription;
    idError = body.wsError?.idError;
  } catch {
    // not JSON: the status line says what there is to say
  }
  if (response.status === 401 || (response.status === 403 && /x-api-key|session|token/i.test(description))) {
    return new SessionExpired(
      authMode() === 'api-key'
        ? 'The API key is missing or wrong. Enter it again.'
        : 'Your session has expired. Sign in again.',
    );
  }
  const { field, reason } = splitErrorDescription(description);
  return new ApiError(response.status, idError, field, reason);
}

/** Any API call: JSON in, JSON out (undefined for 204). Throws ApiError, ConnectionLost or SessionExpired. */
export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  let response: Response;
  try {
    response = await fetch(`${apiBase()}${path}`, {
      method,
      headers: {
        Accept: 'application/json',
        ...(body !== undefined && { 'Content-Type': 'application/json' }),
        ...authHeaders(),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
    });
  } catch {
    throw new ConnectionLost();
  }
  if (!response.ok) throw await errorOf(response);
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

/** A path with its query, leaving out empty values. */
export function withQuery(path: string, query: Record<string, string | number | undefined>): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== '') params.set(name, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

/**
 * Sends a file as the presigned POST the API handed out, reporting bytes sent. XHR, because fetch has no upload
 * progress. The form fields go first and the file last, as S3 requires.
 */
export function postFile(
  upload: { url: string; fields: Record<string, string> },
  file: File,
  onProgress: (sent: number, total: number) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    for (const [name, value] of Object.entries(upload.fields)) form.append(name, value);
    form.append('file', file);
    const xhr = new XMLHttpRequest();
    xhr.open('POST', upload.url);
    const sameOrigin = new URL(upload.url, location.href).origin === location.origin;
    // A header on a cross-origin POST (S3) would need a preflight and would hand the key to another host.
    if (sameOrigin)
      for (const [name, value] of Object.entries(authHeaders())) xhr.setRequestHeader(name, value);
    xhr.upload.addEventListener('progress', (e) =>
      onProgress(e.loaded, e.lengthComputable ? e.total : file.size),
    );
    xhr.addEventListener('load', () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(file.size, file.size);
        resolve();
        return;
      }
      const detail = /<Message>([^<]*)<\/Message>/.exec(xhr.responseText)?.[1];
      let description = detail ?? `the upload was refused (${xhr.status})`;
      try {
        const body = JSON.parse(xhr.responseText) as { wsError?: { errorDescription?: string } };
        description = body.wsError?.errorDescription ?? description;
      } catch {
        // S3 answers XML; handled above
      }
      const { field, reason } = splitErrorDescription(description);
      reject(new ApiError(xhr.status, undefined, field ?? 'file', reason));
    });
    xhr.addEventListener('error', () => reject(new ConnectionLost()));
    xhr.addEventListener('abort', () => reject(new ConnectionLost()));
    xhr.send(form);
  });
}

/**
 * Downloads a job's report.csv: GET /jobs/{id}/report answers 302 to a short-lived URL, which fetch follows. The
 * file is handed to the browser as a blob so the request can carry the key; the link's own href (the API URL)
 * works alone when no key is needed.
 */
export async function downloadReport(jobId: string, fileName: string): Promise<void> {
  let response: Response;
  try {
    response = await fetch(`${apiBase()}/jobs/${encodeURIComponent(jobId)}/report`, {
      headers: authHeaders(),
    });
  } catch {
    throw new ConnectionLost();
  }
  if (!response.ok) throw await errorOf(response);
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement('a');
  link.href = url;
  link.download = fileName;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
