/**
 * API Gateway REST proxy event → the plain request a route's core call reads, and answers → proxy results.
 * Pure functions (no Powertools, no client), so they are tested alone and shared by every HTTP handler.
 *
 * Body rules, checked in this order, each before anything goes upstream:
 * 1. size: at most MAX_BODY_BYTES after base64 decoding, else 413;
 * 2. a route that takes no body refuses one (400); an empty body counts as none;
 * 3. Content-Type: `application/json` (parameters such as `charset=utf-8` allowed) whenever a body is sent, else 415;
 * 4. UTF-8 and JSON syntax, else 400.
 * What the JSON must hold (object, array, field codes, values) is the validator's business (../core/validation.ts).
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { InvalidInputError, type ErrorAnswer } from '../core/errors';
import { parseIdempotencyKey } from '../core/validation';
import type { RouteSpec } from './routes';

/** 128 KiB: ten records of typical size fit many times over; API Gateway itself would take 10 MB. */
export const MAX_BODY_BYTES = 128 * 1024;

export interface HttpRequest {
  /** API Gateway's request id: the correlation id in logs and the `X-Request-Id` of the answer. */
  requestId: string;
  /** Path parameters as API Gateway decoded them; validated by the route. */
  path: Readonly<Record<string, string | undefined>>;
  /** Query string parameters the route declared; each given at most once. */
  query: Readonly<Record<string, string | undefined>>;
  /** The parsed JSON body, or undefined when the request had none. */
  body: unknown;
  /** `X-DEBUG: 0|1`, passed on to DANAConnect; undefined when absent. */
  debug: boolean | undefined;
  /** The caller asked for an asynchronous answer (`Prefer: respond-async`); routes with respondAsync honour it. */
  preferAsync: boolean;
  /**
   * `Idempotency-Key`, validated; read only when the route honours `Prefer: respond-async` and the caller asked
   * for it (a synchronous call ignores the header). It is scoped to `caller`, the method and `routePath`, and
   * bound to the body's fingerprint (../core/idempotency.ts).
   */
  idempotencyKey: string | undefined;
  /**
   * Who API Gateway authenticated (callerOf): what an `Idempotency-Key` belongs to. Undefined when the event
   * names nobody (never behind the stack's API, which requires IAM or an API key on every method).
   */
  caller: string | undefined;
  /**
   * The route's path with this request's path parameters in place (`/api/1.0/rest/conversation/1001/start/data`):
   * the same whatever stage, base path or custom domain the request came in on. Meaningful once the route's own
   * `parse` has validated the parameters.
   */
  routePath: string;
  /**
   * What precedes the route in the public URL path: API Gateway's stage (`/prod`) on the execute-api domain, a
   * base path mapping on a custom domain, `''` when none. Links the gateway hands out (Location) start with it.
   */
  basePath: string;
}

/** A header's value whatever its case; API Gateway keeps the case the caller sent. */
/** The request's headers by lower-case name, read once per request (names are case-insensitive). */
function headersOf(event: Pick<APIGatewayProxyEvent, 'headers'>): Map<string, string> {
  const headers = new Map<string, string>();
  for (const [key, value] of Object.entries(event.headers ?? {})) {
    if (value !== undefined) headers.set(key.toLowerCase(), value);
  }
  return headers;
}

export function headerValue(event: Pick<APIGatewayProxyEvent, 'headers'>, name: string): string | undefined {
  return headersOf(event).get(name.toLowerCase());
}

function parseDebug(raw: string | undefined): boolean | undefined {
  if (raw === undefined) return undefined;
  const trimmed = raw.trim();
  if (trimmed === '0') return false;
  if (trimmed === '1') return true;
  throw new InvalidInputError('X-DEBUG', 'must be 0 or 1');
}

function parseQuery(
  event: APIGatewayProxyEvent,
  names: readonly string[],
): Record<string, string | undefined> {
  const query: Record<string, string | undefined> = {};
  for (const name of names) {
    const many = event.multiValueQueryStringParameters?.[name];
    if (many && many.length > 1) throw new InvalidInputError(name, 'must be given at most once');
    query[name] = event.queryStringParameters?.[name] ?? many?.[0];
  }
  return query;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function parseBody(event: APIGatewayProxyEvent, route: RouteSpec, contentType: string | undefined): unknown {
  const raw = event.body;
  if (raw === null || raw === undefined || raw === '') return undefined;
  // A cheap bound first: base64 is 4/3 of the bytes, UTF-8 text at most 3 bytes per UTF-16 unit.
  if (raw.length > (event.isBase64Encoded ? Math.ceil((MAX_BODY_BYTES * 4) / 3) + 4 : MAX_BODY_BYTES * 3)) {
    throw tooLarge();
  }
  const bytes = event.isBase64Encoded ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8');
  if (bytes.length > MAX_BODY_BYTES) throw tooLarge();
  if (bytes.length === 0) return undefined;
  if (route.body === 'none') throw new InvalidInputError('body', 'this operation takes no body');
  const mediaType = contentType?.split(';')[0]?.trim().toLowerCase();
  if (mediaType !== 'application/json') {
    const sent = mediaType ? `${mediaType.slice(0, 80)} was sent` : 'none was sent';
    throw new InvalidInputError('Content-Type', sent, 'UNSUPPORTED_MEDIA_TYPE');
  }
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new InvalidInputError('body', 'is not valid UTF-8');
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new InvalidInputError('body', 'is not valid JSON');
  }
}

function tooLarge(): InvalidInputError {
  return new InvalidInputError('body', `must be at most ${MAX_BODY_BYTES} bytes`, 'PAYLOAD_TOO_LARGE');
}

const BASE_PATH_PATTERN = /^(\/[A-Za-z0-9._~-]+)+$/;

/**
 * `requestContext.path` is the path as the caller sent it (with the stage on the execute-api domain), `path` the
 * one the route matched: the difference is the base path. Anything unexpected gives `''`, never caller text.
 */
export function basePathOf(event: Pick<APIGatewayProxyEvent, 'path' | 'requestContext'>): string {
  const full = event.requestContext?.path;
  const path = event.path;
  if (typeof full !== 'string' || typeof path !== 'string' || full === path) return '';
  let base = '';
  if (path.length > 0 && full.endsWith(path)) base = full.slice(0, full.length - path.length);
  else if (event.requestContext.stage && full.startsWith(`/${event.requestContext.stage}/`)) {
    base = `/${event.requestContext.stage}`;
  }
  return BASE_PATH_PATTERN.test(base) ? base : '';
}

/**
 * The authenticated caller: an operator (`operator:<sub>`, Cognito; see operatorOf), else the IAM principal
 * (`requestContext.identity.userArn`) with SigV4, else the API key's id (`apiKeyId`) in api-key mode. An assumed role's ARN loses its session name
 * (`arn:aws:sts::1:assumed-role/Role/i-0abc` → `…/Role`): the role is the principal its policies name, while
 * session names change with every credential refresh (EKS, ECS, EC2), and a retry after a refresh must remain the
 * same caller's retry.
 */
export function callerOf(event: Pick<APIGatewayProxyEvent, 'requestContext'>): string | undefined {
  const operator = operatorOf(event.requestContext?.authorizer);
  if (operator !== undefined) return operator;
  const identity = event.requestContext?.identity;
  const arn = identity?.userArn;
  if (typeof arn === 'string' && arn.length > 0) {
    const role = /^(arn:[^:]+:sts::\d+:assumed-role\/[^/]+)\/.+$/.exec(arn)?.[1];
    return `iam:${role ?? arn}`;
  }
  const apiKeyId = identity?.apiKeyId;
  return typeof apiKeyId === 'string' && apiKeyId.length > 0 ? `api-key:${apiKeyId}` : undefined;
}

const COGNITO_ISSUER = /^https:\/\/cognito-idp\.[a-z0-9-]+\.amazonaws\.com\/[\w-]+$/;

/**
 * An operator (a user of the console, signed in through a Cognito user pool authorizer): `operator:<sub>`. Only
 * API Gateway fills in `requestContext.authorizer`, from a token it verified; its `claims` name the user pool
 * (`iss`) and the user (`sub`, stable for the user's life, unlike the user name). Anything else is not an operator.
 */
function operatorOf(authorizer: APIGatewayProxyEvent['requestContext']['authorizer']): string | undefined {
  const claims = (authorizer as { claims?: Record<string, unknown> } | null | undefined)?.claims;
  const sub = claims?.sub;
  const iss = claims?.iss;
  if (typeof sub !== 'string' || !/^[\w-]{1,128}$/.test(sub)) return undefined;
  return typeof iss === 'string' && COGNITO_ISSUER.test(iss) ? `operator:${sub}` : undefined;
}

/** The route's template with the request's parameters in place, each percent-encoded so none can add a segment. */
export function routePathOf(route: RouteSpec, params: Readonly<Record<string, string | undefined>>): string {
  return route.path.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(params[name] ?? ''));
}

/** The request id API Gateway gave this request; `fallback` (the Lambda request id) when invoked directly. */
export function requestIdOf(event: Partial<APIGatewayProxyEvent>, fallback: string): string {
  const id = event.requestContext?.requestId;
  return typeof id === 'string' && id.length > 0 ? id : fallback;
}

/** Reads everything a route needs from the event. Throws InvalidInputError naming the offending part. */
export function parseHttpRequest(
  event: APIGatewayProxyEvent,
  route: RouteSpec,
  requestId: string,
): HttpRequest {
  const headers = headersOf(event);
  const prefer = headers.get('prefer') ?? '';
  const preferAsync = /(^|[,;\s])respond-async($|[,;\s])/i.test(prefer);
  return {
    requestId,
    path: { ...event.pathParameters },
    query: parseQuery(event, route.query),
    debug: parseDebug(headers.get('x-debug')),
    preferAsync,
    idempotencyKey:
      route.respondAsync && preferAsync ? parseIdempotencyKey(headers.get('idempotency-key')) : undefined,
    caller: callerOf(event),
    routePath: routePathOf(route, event.pathParameters ?? {}),
    basePath: basePathOf(event),
    body: parseBody(event, route, headers.get('content-type')),
  };
}

/** A JSON answer with the request id. Bodies from DANAConnect pass through as parsed, re-serialized unchanged. */
export function jsonAnswer(
  status: number,
  body: unknown,
  requestId: string,
  extraHeaders: Record<string, string> = {},
): APIGatewayProxyResult {
  return {
    statusCode: status,
    headers: { 'Content-Type': 'application/json', 'X-Request-Id': requestId, ...extraHeaders },
    body: JSON.stringify(body),
  };
}

/** An error answer from the error table; every 429 says when to come back. */
export function errorResult(answer: ErrorAnswer, requestId: string): APIGatewayProxyResult {
  const headers: Record<string, string> = {};
  if (answer.status === 429) headers['Retry-After'] = String(answer.retryAfterSeconds ?? 1);
  else if (answer.retryAfterSeconds !== undefined) headers['Retry-After'] = String(answer.retryAfterSeconds);
  return jsonAnswer(answer.status, answer.body, requestId, headers);
}
