/** Where a request goes: the API prefix `/api/{1.0|2.0}/rest`, and the six operations below it. */

export type RouteName = 'list' | 'one' | 'record' | 'batch' | 'project' | 'data';

export interface Route {
  name: RouteName;
  method: 'GET' | 'POST';
}

const MAX_ID = 2_147_483_647;

/** A positive int32 path segment, or undefined. */
export function parseIdSegment(segment: string): number | undefined {
  if (!/^[1-9][0-9]{0,9}$/.test(segment)) return undefined;
  const id = Number(segment);
  return id <= MAX_ID ? id : undefined;
}

/** The API version and the raw rest of the path, or undefined when the path is outside the API. */
export function splitApiPath(rawPath: string): { version: '1.0' | '2.0'; rest: string } | undefined {
  const prefix = /^\/api\/(1\.0|2\.0)\/rest(\/.*)?$/.exec(rawPath);
  if (!prefix) return undefined;
  return { version: prefix[1] as '1.0' | '2.0', rest: prefix[2] ?? '' };
}

/** The decoded segments of the rest of an API path; throws URIError on a malformed escape. */
export const decodeSegments = (rest: string): string[] => rest.split('/').slice(1).map(decodeURIComponent);

/** The six operations, by their decoded path segments below `/api/{version}/rest`. */
export function matchRoute(segments: string[]): Route | undefined {
  const [root, a, b, c, d] = segments;
  if (root !== 'conversation') return undefined;
  if (segments.length === 3 && a === 'data') return { name: 'data', method: 'GET' };
  if (segments.length === 5 && a === 'ProjectID' && c === 'start' && d === 'data') {
    return { name: 'project', method: 'POST' };
  }
  if (b !== 'start') return undefined;
  if (segments.length === 4 && c === 'list') return { name: 'list', method: 'POST' };
  if (segments.length === 4 && c === 'data') return { name: 'one', method: 'POST' };
  if (segments.length === 5 && c === 'list' && d === 'data') return { name: 'batch', method: 'POST' };
  if (segments.length === 5 && c === 'record') return { name: 'record', method: 'POST' };
  return undefined;
}

/** The operation a request would reach (ignoring authentication and body), or undefined. */
export function routeOf(method: string, rawPath: string): RouteName | undefined {
  const api = splitApiPath(rawPath);
  if (!api) return undefined;
  try {
    const route = matchRoute(decodeSegments(api.rest));
    return route?.method === method ? route.name : undefined;
  } catch {
    return undefined;
  }
}
