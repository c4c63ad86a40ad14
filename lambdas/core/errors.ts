/**
 * Every error the gateway can answer with, in one place: the typed errors the DANAConnect client throws,
 * the gateway's own input and configuration errors, and the table that maps each to an HTTP status and
 * a `wsError.idError` code. Handlers, the worker and the reports all read this table; nobody else invents codes.
 */

/** DANAConnect's error envelope: `{"wsError":{"idError":N,"errorDescription":"..."}}`. */
export interface WsError {
  idError: number;
  errorDescription: string;
}

export type DanaErrorKind =
  | 'illegal_argument'
  | 'unauthorized'
  | 'throttled'
  | 'upstream_internal'
  | 'timeout'
  | 'network'
  | 'unexpected_answer';

/**
 * Whether DANAConnect may have acted on the request.
 * - `no`: it provably did not (connection refused, 4xx answer).
 * - `unknown`: the request may have arrived and the answer was lost (timeout after sending, reset, a 5xx).
 */
export type Delivery = 'no' | 'unknown';

export interface DanaErrorInit {
  kind: DanaErrorKind;
  message: string;
  /** HTTP status DANAConnect answered with; absent when no answer came. */
  status?: number;
  /** DANAConnect's own error envelope when its answer carried one. */
  wsError?: WsError;
  /** The raw JSON body DANAConnect answered with, when it was JSON (passed through to callers). */
  body?: unknown;
  /** For `throttled`: how long DANAConnect asked us to wait (from `Retry-After`). */
  retryAfterMs?: number;
  delivery: Delivery;
  cause?: unknown;
}

/** An error talking to DANAConnect. Never carries credentials: messages are built from status and codes only. */
export class DanaError extends Error {
  readonly kind: DanaErrorKind;
  readonly status: number | undefined;
  readonly wsError: WsError | undefined;
  readonly body: unknown;
  readonly retryAfterMs: number | undefined;
  readonly delivery: Delivery;

  constructor(init: DanaErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'DanaError';
    this.kind = init.kind;
    this.status = init.status;
    this.wsError = init.wsError;
    this.body = init.body;
    this.retryAfterMs = init.retryAfterMs;
    this.delivery = init.delivery;
  }
}

/** Input that the gateway refuses before anything goes upstream. `target` names the parameter, field or record. */
export class InvalidInputError extends Error {
  readonly target: string;
  readonly reason: string;
  readonly code: GatewayErrorCode;
  constructor(target: string, reason: string, code: GatewayErrorCode = 'INVALID_INPUT') {
    super(`${target}: ${reason}`);
    this.name = 'InvalidInputError';
    this.target = target;
    this.reason = reason;
    this.code = code;
  }
}

/** The deployment is misconfigured (e.g. a malformed secret). Names the problem, never a secret value. */
export class ConfigurationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigurationError';
  }
}

/**
 * The gateway's own error codes. `idError` values are in the 9000s so they never collide with DANAConnect's
 * own codes, which pass through unchanged.
 */
export const GATEWAY_ERRORS = {
  INVALID_INPUT: { idError: 9400, status: 400, description: 'Invalid input' },
  UNAUTHENTICATED: { idError: 9401, status: 401, description: 'Missing or invalid credentials' },
  FORBIDDEN: { idError: 9403, status: 403, description: 'Not allowed' },
  NOT_FOUND: { idError: 9404, status: 404, description: 'No such resource' },
  METHOD_NOT_ALLOWED: { idError: 9405, status: 405, description: 'Method not allowed' },
  /** Creating what already exists (POST /schedules with a taken name). */
  CONFLICT: { idError: 9409, status: 409, description: 'Already exists' },
  PAYLOAD_TOO_LARGE: { idError: 9413, status: 413, description: 'Body too large' },
  UNSUPPORTED_MEDIA_TYPE: {
    idError: 9415,
    status: 415,
    description: 'Content-Type must be application/json',
  },
  /**
   * An `Idempotency-Key` this caller already used on this method and path with another body (the IETF
   * Idempotency-Key draft's 422): the request is refused and nothing is started.
   */
  IDEMPOTENCY_KEY_REUSED: {
    idError: 9422,
    status: 422,
    description: 'Idempotency-Key already used for another request',
  },
  THROTTLED: { idError: 9429, status: 429, description: 'Too many requests' },
  INTERNAL: { idError: 9500, status: 500, description: 'Internal gateway error' },
  /** `Prefer: respond-async` on a deployment without a job store and queue (JOBS_TABLE_NAME, QUEUE_URL). */
  NOT_IMPLEMENTED: { idError: 9501, status: 501, description: 'Not implemented' },
  UPSTREAM_UNAVAILABLE: {
    idError: 9502,
    status: 502,
    description: 'DANAConnect unreachable or answered malformed',
  },
  UPSTREAM_TIMEOUT: { idError: 9504, status: 504, description: 'DANAConnect did not answer in time' },
} as const satisfies Record<string, { idError: number; status: number; description: string }>;

export type GatewayErrorCode = keyof typeof GATEWAY_ERRORS;

export interface ErrorAnswer {
  status: number;
  body: unknown;
  /** Seconds, for a `Retry-After` header. */
  retryAfterSeconds?: number;
}

export function gatewayError(code: GatewayErrorCode, detail?: string): ErrorAnswer {
  const entry = GATEWAY_ERRORS[code];
  return {
    status: entry.status,
    body: {
      wsError: {
        idError: entry.idError,
        errorDescription: detail ? `${entry.description}: ${detail}` : entry.description,
      },
    },
  };
}

function hasWsError(body: unknown): body is { wsError: WsError } {
  return (
    typeof body === 'object' &&
    body !== null &&
    'wsError' in body &&
    typeof (body as { wsError: unknown }).wsError === 'object' &&
    (body as { wsError: unknown }).wsError !== null
  );
}

/**
 * The answer a caller gets for any error. DANAConnect's own status and `wsError` body pass through unchanged;
 * where DANAConnect gave no usable body, or did not answer at all, the gateway's envelope stands in.
 * Unknown errors become a 500 without detail (the detail goes to the log, not to the caller).
 */
export function errorAnswer(error: unknown): ErrorAnswer {
  if (error instanceof InvalidInputError) return gatewayError(error.code, error.message);
  if (error instanceof DanaError) {
    const retryAfterSeconds =
      error.retryAfterMs === undefined ? undefined : Math.max(1, Math.ceil(error.retryAfterMs / 1000));
    if (error.status !== undefined && error.status >= 400 && hasWsError(error.body)) {
      return { status: error.status, body: error.body, retryAfterSeconds };
    }
    switch (error.kind) {
      case 'illegal_argument':
        return gatewayError('INVALID_INPUT', 'DANAConnect refused the request');
      case 'unauthorized':
        return gatewayError('UNAUTHENTICATED', 'DANAConnect refused the gateway credentials');
      case 'throttled':
        return { ...gatewayError('THROTTLED', 'DANAConnect is throttling'), retryAfterSeconds };
      case 'timeout':
        return gatewayError('UPSTREAM_TIMEOUT');
      case 'upstream_internal':
        return {
          ...gatewayError('UPSTREAM_UNAVAILABLE', `DANAConnect answered ${error.status ?? 'with an error'}`),
        };
      case 'network':
      case 'unexpected_answer':
        return gatewayError('UPSTREAM_UNAVAILABLE');
    }
  }
  return gatewayError('INTERNAL');
}

/** A short, log-safe class name for metrics and reports: never includes values. */
export function errorClass(error: unknown): string {
  if (error instanceof DanaError) return error.kind;
  if (error instanceof InvalidInputError) return 'invalid_input';
  if (error instanceof ConfigurationError) return 'configuration';
  return 'internal';
}

/** Log fields that describe an error without any value from the request or the answer. */
export function describeError(error: unknown): Record<string, unknown> {
  const fields: Record<string, unknown> = { errorClass: errorClass(error) };
  if (error instanceof InvalidInputError) fields.invalid = error.target;
  else if (error instanceof DanaError) {
    Object.assign(fields, {
      upstreamStatus: error.status,
      upstreamIdError: error.wsError?.idError,
      delivery: error.delivery,
    });
  } else if (error instanceof ConfigurationError) {
    fields.problem = error.message; // names a variable or key, never its value
  } else if (error instanceof Error) {
    // The stack's frames say where; its first line (the message) could quote data, so it is left out.
    fields.errorName = error.name;
    fields.at = error.stack?.split('\n').slice(1, 6).join('\n');
  }
  return fields;
}
