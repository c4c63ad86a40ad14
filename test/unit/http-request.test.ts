/** Reading API Gateway events (lambdas/http/request.ts) with real-shaped fixtures: pure, no network. */
import { describe, expect, it } from 'vitest';
import { gatewayError, InvalidInputError } from '../../lambdas/core/errors';
import {
  basePathOf,
  errorResult,
  headerValue,
  jsonAnswer,
  MAX_BODY_BYTES,
  parseHttpRequest,
  requestIdOf,
} from '../../lambdas/http/request';
import { ROUTES, type OperationName } from '../../lambdas/http/routes';
import { apiGatewayEvent, withBody, withHeader } from '../fixtures/events';

const route = (name: OperationName) => ROUTES.find((r) => r.name === name)!;

function refusal(fn: () => unknown): InvalidInputError {
  try {
    fn();
  } catch (error) {
    if (error instanceof InvalidInputError) return error;
    throw error;
  }
  throw new Error('expected an InvalidInputError');
}

describe('parseHttpRequest', () => {
  it('reads path parameters, query, debug and the JSON body of a real-shaped event', () => {
    const event = apiGatewayEvent('start-data');
    const request = parseHttpRequest(event, route('start-data'), 'req-1');
    expect(request).toEqual({
      requestId: 'req-1',
      path: { conversationId: '1001' },
      query: {},
      debug: undefined,
      preferAsync: false,
      idempotencyKey: undefined,
      caller: 'iam:arn:aws:iam::123456789012:user/dana-caller',
      routePath: '/api/1.0/rest/conversation/1001/start/data',
      basePath: '/prod',
      body: { NAME: 'Dana', EMAIL: 'support@danaconnect.com' },
    });
  });

  it('reads the fields query parameter of get-contact-data and X-DEBUG: 1', () => {
    const event = withHeader(apiGatewayEvent('get-contact-data'), 'x-debug', '1');
    const request = parseHttpRequest(event, route('get-contact-data'), 'r');
    expect(request.query).toEqual({ fields: 'NAME,EMAIL,PHONE_NUMBER' });
    expect(request.path).toEqual({ danaparam: 'lc-3663' });
    expect(request.debug).toBe(true);
  });

  it('takes X-DEBUG 0 as false and refuses anything but 0 or 1', () => {
    const zero = withHeader(apiGatewayEvent('start-list'), 'X-DEBUG', '0');
    expect(parseHttpRequest(zero, route('start-list'), 'r').debug).toBe(false);
    const bad = withHeader(apiGatewayEvent('start-list'), 'X-DEBUG', 'yes');
    expect(refusal(() => parseHttpRequest(bad, route('start-list'), 'r')).target).toBe('X-DEBUG');
  });

  it('refuses a query parameter given twice', () => {
    const event = apiGatewayEvent('get-contact-data');
    event.multiValueQueryStringParameters = { fields: ['NAME', 'EMAIL'] };
    event.queryStringParameters = { fields: 'EMAIL' };
    expect(refusal(() => parseHttpRequest(event, route('get-contact-data'), 'r')).target).toBe('fields');
  });

  it('decodes a base64 body', () => {
    const event = withBody(apiGatewayEvent('start-data'), '{"NAME":"Ada"}', { base64: true });
    expect(parseHttpRequest(event, route('start-data'), 'r').body).toEqual({ NAME: 'Ada' });
  });

  it('treats an empty or absent body as none', () => {
    for (const body of [null, '']) {
      const event = withBody(apiGatewayEvent('start-record'), body);
      expect(parseHttpRequest(event, route('start-record'), 'r').body).toBeUndefined();
    }
  });

  it('accepts application/json with parameters, in any case', () => {
    const event = withHeader(
      apiGatewayEvent('start-data'),
      'Content-Type',
      'Application/JSON; charset=UTF-8',
    );
    expect(parseHttpRequest(event, route('start-data'), 'r').body).toEqual({
      NAME: 'Dana',
      EMAIL: 'support@danaconnect.com',
    });
  });

  it.each([
    ['text/plain', 'text/plain was sent'],
    ['application/jsonp', 'application/jsonp was sent'],
    [undefined, 'none was sent'],
  ])('refuses a body sent as %s with 415', (contentType, reason) => {
    const event = apiGatewayEvent('start-data');
    delete event.headers['Content-Type'];
    delete event.multiValueHeaders['Content-Type'];
    if (contentType) withHeader(event, 'content-type', contentType);
    const error = refusal(() => parseHttpRequest(event, route('start-data'), 'r'));
    expect(error).toMatchObject({ target: 'Content-Type', code: 'UNSUPPORTED_MEDIA_TYPE', reason });
  });

  it('refuses a body over the cap with 413, plain or base64', () => {
    const big = JSON.stringify({ NOTE: 'x'.repeat(MAX_BODY_BYTES) });
    for (const base64 of [false, true]) {
      const event = withBody(apiGatewayEvent('start-data'), big, { base64 });
      const error = refusal(() => parseHttpRequest(event, route('start-data'), 'r'));
      expect(error).toMatchObject({ target: 'body', code: 'PAYLOAD_TOO_LARGE' });
    }
  });

  it('takes a body of exactly the cap', () => {
    const padding = MAX_BODY_BYTES - JSON.stringify({ NOTE: '' }).length;
    const event = withBody(apiGatewayEvent('start-data'), JSON.stringify({ NOTE: 'x'.repeat(padding) }));
    expect(parseHttpRequest(event, route('start-data'), 'r').body).toEqual({ NOTE: 'x'.repeat(padding) });
  });

  it('counts bytes, not characters, against the cap', () => {
    const chars = Math.ceil(MAX_BODY_BYTES / 3); // each "€" is 3 bytes in UTF-8
    const event = withBody(apiGatewayEvent('start-data'), JSON.stringify({ NOTE: '€'.repeat(chars) }));
    expect(refusal(() => parseHttpRequest(event, route('start-data'), 'r')).code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('refuses invalid JSON and invalid UTF-8 naming the body', () => {
    const notJson = withBody(apiGatewayEvent('start-data'), '{"NAME":');
    expect(refusal(() => parseHttpRequest(notJson, route('start-data'), 'r'))).toMatchObject({
      target: 'body',
      reason: 'is not valid JSON',
    });
    const latin1 = apiGatewayEvent('start-data');
    latin1.body = Buffer.from([0x7b, 0x22, 0x4e, 0x22, 0x3a, 0x22, 0xf1, 0x22, 0x7d]).toString('base64');
    latin1.isBase64Encoded = true;
    expect(refusal(() => parseHttpRequest(latin1, route('start-data'), 'r')).reason).toBe(
      'is not valid UTF-8',
    );
  });

  it('refuses a body on a route that takes none', () => {
    const event = withHeader(
      withBody(apiGatewayEvent('start-list'), '{}'),
      'Content-Type',
      'application/json',
    );
    expect(refusal(() => parseHttpRequest(event, route('start-list'), 'r'))).toMatchObject({
      target: 'body',
      reason: 'this operation takes no body',
    });
  });

  it('notes Prefer: respond-async among other preferences', () => {
    const event = withHeader(apiGatewayEvent('start-batch'), 'Prefer', 'respond-async, wait=10');
    expect(parseHttpRequest(event, route('start-batch'), 'r').preferAsync).toBe(true);
    const other = withHeader(apiGatewayEvent('start-batch'), 'Prefer', 'return=minimal');
    expect(parseHttpRequest(other, route('start-batch'), 'r').preferAsync).toBe(false);
  });

  it('reads Idempotency-Key only with Prefer: respond-async on a route that honours it', () => {
    const keyed = (name: OperationName, key: string, prefer = true) => {
      const event = withHeader(apiGatewayEvent(name), 'Idempotency-Key', key);
      return prefer ? withHeader(event, 'Prefer', 'respond-async') : event;
    };
    expect(parseHttpRequest(keyed('start-data', 'order-42'), route('start-data'), 'r').idempotencyKey).toBe(
      'order-42',
    );
    // Ignored (not even validated) where it means nothing.
    expect(
      parseHttpRequest(keyed('start-data', 'a b', false), route('start-data'), 'r').idempotencyKey,
    ).toBeUndefined();
    expect(
      parseHttpRequest(keyed('start-record', 'a b'), route('start-record'), 'r').idempotencyKey,
    ).toBeUndefined();
    for (const bad of ['', 'a b', 'ключ', 'x'.repeat(256), 'a\tb']) {
      const error = refusal(() => parseHttpRequest(keyed('start-batch', bad), route('start-batch'), 'r'));
      expect(error.target).toBe('Idempotency-Key');
      expect(error.message).not.toContain(bad || '""');
    }
    expect(
      parseHttpRequest(keyed('start-batch', 'x'.repeat(255)), route('start-batch'), 'r').idempotencyKey,
    ).toHaveLength(255);
  });
});

describe('base path (what precedes the route in the public URL)', () => {
  const at = (path: string, contextPath: string, stage = 'prod') => {
    const event = apiGatewayEvent('get-job');
    event.path = path;
    event.requestContext.path = contextPath;
    event.requestContext.stage = stage;
    return basePathOf(event);
  };

  it('is the stage on the execute-api domain', () => {
    expect(basePathOf(apiGatewayEvent('start-data'))).toBe('/prod');
    expect(at('/jobs/x', '/prod/jobs/x')).toBe('/prod');
  });

  it('is a base path mapping on a custom domain, and nothing when the path is the same', () => {
    expect(at('/jobs/x', '/v1/dana/jobs/x')).toBe('/v1/dana');
    expect(at('/jobs/x', '/jobs/x')).toBe('');
  });

  it('falls back to the stage, and never takes odd text', () => {
    expect(at('/jobs/a b', '/prod/jobs/a%20b')).toBe('/prod');
    expect(at('/jobs/x', '/a"b/jobs/x')).toBe('');
    expect(at('/jobs/x', '//evil.example/jobs/x')).toBe('');
    expect(at('/jobs/x', 'https://evil.example/jobs/x', '')).toBe('');
  });
});

describe('headers and answers', () => {
  it('finds headers whatever their case', () => {
    const event = apiGatewayEvent('start-data');
    expect(headerValue(event, 'content-type')).toBe('application/json');
    expect(headerValue(event, 'X-AMZ-DATE')).toBe('20251125T091100Z');
    expect(headerValue(event, 'x-missing')).toBeUndefined();
  });

  it('takes the request id from the request context, else the fallback', () => {
    const event = apiGatewayEvent('start-list');
    expect(requestIdOf(event, 'lambda-id')).toBe(event.requestContext.requestId);
    expect(requestIdOf({}, 'lambda-id')).toBe('lambda-id');
  });

  it('answers JSON with the request id', () => {
    expect(jsonAnswer(200, { a: 1 }, 'req-9')).toEqual({
      statusCode: 200,
      headers: { 'Content-Type': 'application/json', 'X-Request-Id': 'req-9' },
      body: '{"a":1}',
    });
  });

  it('gives every 429 a Retry-After, the upstream one when known', () => {
    const throttled = gatewayError('THROTTLED');
    expect(errorResult(throttled, 'r').headers).toMatchObject({ 'Retry-After': '1' });
    expect(errorResult({ ...throttled, retryAfterSeconds: 7 }, 'r').headers).toMatchObject({
      'Retry-After': '7',
    });
    expect(errorResult(gatewayError('INVALID_INPUT'), 'r').headers).not.toHaveProperty('Retry-After');
  });
});
