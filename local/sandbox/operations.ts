/**
 * The six Conversation API operations (see shared/reference/danaconnect-api.md), performed against the
 * sandbox's state. Choices where the vendor is silent:
 * - `start/list` logs one StartedContact per call (recordId 0, fields {}) under the key `list:<conversationId>`,
 *   so starting the same list twice shows up in `duplicates()`.
 * - Records are auto-numbered; `idResult` of a created record is its id (its recordUID), and every new record
 *   gets the link code `lc-<recordId>` for `conversation/data/{danaparam}`.
 * - Field values must be strings; a requested field the record lacks comes back as "" (blank).
 */
import { randomUUID } from 'node:crypto';
import type { Credentials } from './auth';
import { isStringRecord, json, unauthorized, WS_ERRORS, wsError, wsResult, type Answer } from './envelopes';
import { decodeSegments, matchRoute, parseIdSegment, splitApiPath, type RouteName } from './routes';
import { canonical, type SandboxState } from './state';

/** One API call as it arrived. */
export interface ApiCall {
  method: string;
  rawPath: string;
  query: URLSearchParams;
  authorization?: string;
  contentType?: string;
  rawBody: string;
}

export interface OperationContext {
  state: SandboxState;
  credentials: Credentials;
}

/** Given a batch's length, how many of its first records to process (a batch failing midway). */
export type BatchLimit = (length: number) => number;

export const MAX_BATCH = 10;

/** Performs one API call (authentication and validation included) and returns the vendor's answer. */
export function performCall(ctx: OperationContext, call: ApiCall, batchLimit?: BatchLimit): Answer {
  const api = splitApiPath(call.rawPath);
  if (!api) return wsError(404, WS_ERRORS.notFound, 'Not found');
  if (!ctx.credentials.authorize(api.version, call.authorization)) return unauthorized();
  let segments: string[];
  try {
    segments = decodeSegments(api.rest);
  } catch {
    return wsError(400, WS_ERRORS.badId, 'Malformed path');
  }
  const route = matchRoute(segments);
  if (!route) return wsError(404, WS_ERRORS.notFound, 'Not found');
  if (route.method !== call.method) {
    return wsError(405, WS_ERRORS.methodNotAllowed, 'Method not allowed', { Allow: route.method });
  }
  if (route.name === 'data') return contactData(ctx.state, segments[2]!, call.query);
  const body = parseJsonBody(call.rawBody, call.contentType);
  if ('error' in body) return body.error;
  return startCall(ctx.state, route.name, segments, body.value, batchLimit);
}

/** How many records a start call carries: a batch's array length (0 if unreadable); 1 for the other starts. */
export function rowsOf(route: RouteName, rawBody: string): number {
  if (route !== 'batch') return route === 'data' ? 0 : 1;
  try {
    const body: unknown = JSON.parse(rawBody);
    return Array.isArray(body) ? body.length : 0;
  } catch {
    return 0;
  }
}

function parseJsonBody(
  rawBody: string,
  contentType: string | undefined,
): { value: unknown } | { error: Answer } {
  if (rawBody.trim().length === 0) return { value: undefined };
  if (!(contentType ?? '').startsWith('application/json')) {
    return { error: wsError(400, WS_ERRORS.badBody, 'Content-Type must be application/json') };
  }
  try {
    return { value: JSON.parse(rawBody) };
  } catch {
    return { error: wsError(400, WS_ERRORS.badBody, 'Body is not valid JSON') };
  }
}

function startCall(
  state: SandboxState,
  name: Exclude<RouteName, 'data'>,
  segments: string[],
  body: unknown,
  batchLimit?: BatchLimit,
): Answer {
  if (name === 'project') return startByProject(state, segments[2]!, body);
  const conversationId = parseIdSegment(segments[1]!);
  if (conversationId === undefined) return wsError(400, WS_ERRORS.badId, 'conversationId must be an integer');
  if (!state.conversations.has(conversationId)) {
    return wsError(400, WS_ERRORS.unknownConversation, 'Unknown conversation');
  }
  switch (name) {
    case 'list':
      state.logStart({ via: 'list', conversationId, recordId: 0, fields: {} }, `list:${conversationId}`);
      return json(200, wsResult(0));
    case 'one':
      return startOne(state, 'data', conversationId, body);
    case 'record':
      return startRecord(state, conversationId, segments[4]!, body);
    case 'batch':
      return startBatch(state, conversationId, body, batchLimit);
  }
}

function startByProject(state: SandboxState, segment: string, body: unknown): Answer {
  const projectId = parseIdSegment(segment);
  if (projectId === undefined) return wsError(400, WS_ERRORS.badId, 'projectId must be an integer');
  const conversationId = state.projects.get(projectId);
  if (conversationId === undefined) return wsError(400, WS_ERRORS.unknownProject, 'Unknown project');
  return startOne(state, 'project', conversationId, body);
}

/** `start/data` and `ProjectID/{id}/start/data`: creates the record from the body and starts it. */
function startOne(
  state: SandboxState,
  via: 'data' | 'project',
  conversationId: number,
  body: unknown,
): Answer {
  if (!isStringRecord(body) || Object.keys(body).length === 0) {
    return wsError(400, WS_ERRORS.badRecord, 'Body must be a non-empty JSON object of string values');
  }
  const recordId = state.createRecord(body);
  state.logStart({ via, conversationId, recordId, fields: { ...body } }, canonical(body));
  return json(200, wsResult(recordId));
}

/** `start/record/{recordUID}`: updates an existing record with the (optional) body and starts it. */
function startRecord(state: SandboxState, conversationId: number, segment: string, body: unknown): Answer {
  const recordId = parseIdSegment(segment);
  if (recordId === undefined) return wsError(400, WS_ERRORS.badId, 'recordUID must be an integer');
  const record = state.record(recordId);
  if (!record) return wsError(400, WS_ERRORS.unknownRecord, 'Unknown record');
  const update = body ?? {};
  if (!isStringRecord(update)) {
    return wsError(400, WS_ERRORS.badRecord, 'Body must be a JSON object of string values');
  }
  Object.assign(record, update);
  state.logStart({ via: 'record', conversationId, recordId, fields: { ...update } }, `record:${recordId}`);
  return json(200, wsResult(0));
}

/**
 * `start/list/data`: 1 to 10 new records; one envelope per record, a wsError in the slot of a bad one.
 * With `batchLimit`, only the first records are processed (the answer then holds only their slots).
 */
function startBatch(state: SandboxState, conversationId: number, body: unknown, batchLimit?: BatchLimit) {
  if (!Array.isArray(body)) return wsError(400, WS_ERRORS.badBody, 'Body must be a JSON array');
  if (body.length < 1 || body.length > MAX_BATCH) {
    return wsError(400, WS_ERRORS.batchSize, 'A batch holds 1 to 10 records');
  }
  const items: unknown[] = batchLimit ? body.slice(0, Math.max(0, batchLimit(body.length))) : body;
  return json(
    200,
    items.map((item) => {
      if (!isStringRecord(item) || Object.keys(item).length === 0) {
        return { wsError: { idError: WS_ERRORS.badRecord, errorDescription: 'Invalid record' } };
      }
      const recordId = state.createRecord(item);
      state.logStart({ via: 'batch', conversationId, recordId, fields: { ...item } }, canonical(item));
      return wsResult(recordId);
    }),
  );
}

/** `GET conversation/data/{danaparam}?fields=A,B`: the record behind a link code, only the requested fields. */
function contactData(state: SandboxState, danaparam: string, query: URLSearchParams): Answer {
  const record = state.recordByLinkCode(danaparam);
  if (!record) return wsError(400, WS_ERRORS.unknownLinkCode, 'Unknown or expired link code');
  // API 2.0 clients also use `fieldList`.
  const list = query.get('fields') ?? query.get('fieldList') ?? '';
  const fields = list.split(',').filter((f) => f.length > 0);
  const out =
    fields.length === 0 ? { ...record } : Object.fromEntries(fields.map((f) => [f, record[f] ?? '']));
  return json(200, { record: out, requestID: randomUUID() });
}
