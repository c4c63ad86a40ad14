/** The vendor's answer envelopes (`wsResult`, `wsError`) and the sandbox's own `wsError.idError` codes. */

/** One HTTP answer, before it is written. */
export interface Answer {
  status: number;
  body: string;
  headers?: Record<string, string>;
}

/** The sandbox's own `wsError.idError` codes (DANAConnect does not publish its own). */
export const WS_ERRORS = {
  unknownConversation: 1001,
  unknownProject: 1002,
  unknownRecord: 1003,
  unknownLinkCode: 1004,
  badId: 1005,
  badBody: 1006,
  batchSize: 1007,
  badRecord: 1008,
  notFound: 1404,
  methodNotAllowed: 1405,
  tooLarge: 1413,
  throttled: 1429,
  internal: 1500,
} as const;

export const json = (status: number, value: unknown, headers?: Record<string, string>): Answer => ({
  status,
  body: JSON.stringify(value),
  headers: { 'Content-Type': 'application/json', ...headers },
});

export const wsError = (
  status: number,
  idError: number,
  errorDescription: string,
  headers?: Record<string, string>,
) => json(status, { wsError: { idError, errorDescription } }, headers);

export const wsResult = (idResult: number) => ({ wsResult: { idResult, resultDescription: 'OK' } });

/** An empty 401, as DANAConnect may send it: clients must not expect JSON on errors. */
export const unauthorized = (): Answer => ({ status: 401, body: '' });

/** A bodiless answer, as a load balancer sends it (no Content-Type). */
export const bodiless = (status: number): Answer => ({ status, body: '', headers: {} });

/** What a vendor behind a proxy may answer 200 with: an HTML page. */
export const htmlPage = (): Answer => ({
  status: 200,
  body: '<html><body><h1>Service temporarily unavailable</h1></body></html>',
  headers: { 'Content-Type': 'text/html' },
});

/**
 * An injected error answer: `body` verbatim if given ('' = empty, otherwise sent as JSON), else a wsError
 * whose idError follows the status (429 throttled, 5xx internal, otherwise the status itself).
 */
export function injectedError(status: number, body?: string, retryAfterSeconds?: number): Answer {
  const headers: Record<string, string> = {};
  if (retryAfterSeconds !== undefined) headers['Retry-After'] = String(retryAfterSeconds);
  if (body !== undefined) {
    if (body !== '') headers['Content-Type'] = 'application/json';
    return { status, body, headers };
  }
  const id = status === 429 ? WS_ERRORS.throttled : status >= 500 ? WS_ERRORS.internal : status;
  return wsError(status, id, `Injected error ${status}`, headers);
}

export function isStringRecord(value: unknown): value is Record<string, string> {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    Object.values(value).every((v) => typeof v === 'string')
  );
}
