/**
 * The shared HTTP doorway, written once: every HTTP handler is `httpHandler(routeName, { parse, call })`.
 *
 * The doorway owns what is the same for every route: the middy stack with the Powertools Logger (structured JSON,
 * API Gateway's request id as correlation id) and Metrics (EMF), optional lazy tracing (./tracing.ts), the
 * DANAConnect client (built once per execution environment from its environment variables), reading the event
 * (./request.ts), the error envelope (../core/errors.ts) and the `X-Request-Id` header on every answer.
 *
 * What is logged: route, method, status, duration, error class, and for DANAConnect errors their kind, status,
 * `idError` and delivery. Never bodies, field values, link codes, headers, credentials or tokens: an invalid
 * input is logged by the name of what was wrong (`conversationId`, `body[3].EMAIL`), not its value.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy, { type MiddyfiedHandler } from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { danaClientFromEnv } from '../adapters/dana';
import type { CallOptions, DanaAnswer, DanaClient } from '../core/dana-client';
import {
  ConfigurationError,
  DanaError,
  errorAnswer,
  errorClass,
  InvalidInputError,
  type ErrorAnswer,
} from '../core/errors';
import { errorResult, jsonAnswer, parseHttpRequest, requestIdOf, type HttpRequest } from './request';
import { ROUTES, type OperationName, type RouteSpec } from './routes';
import { lazyTracing } from './tracing';

/** A route's own part: read its input from the request, then make the one DANAConnect call. */
export interface HttpOperation<Input> {
  /** Validates with ../core/validation.ts; throws InvalidInputError naming the offending parameter or field. */
  parse(request: HttpRequest): Input;
  call(client: DanaClient, input: Input, options: CallOptions): Promise<DanaAnswer<unknown>>;
}

export type HttpHandler = MiddyfiedHandler<APIGatewayProxyEvent, APIGatewayProxyResult>;

export interface Doorway {
  readonly route: RouteSpec;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** The DANAConnect client of this execution environment, built on first use. */
  client(): DanaClient;
  /** Counts an error in the `Errors` metric, by error class. */
  countError(error: unknown): void;
  /** The route's API Gateway handler. */
  http<Input>(operation: HttpOperation<Input>): HttpHandler;
  /** Any other event (e.g. a scheduled start) with the same logger, metrics and tracing. */
  wrap<Event, Result>(
    fn: (event: Event, context: Context) => Promise<Result>,
  ): MiddyfiedHandler<Event, Result>;
}

export function routeSpec(name: OperationName): RouteSpec {
  const route = ROUTES.find((r) => r.name === name);
  if (!route) throw new ConfigurationError(`no route named ${name}`);
  return route;
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

/** How many records DANAConnect says it started: one per `wsResult` in the answer (an object or a batch array). */
function startsIn(body: unknown): number {
  const items = Array.isArray(body) ? body : [body];
  return items.filter((item) => typeof item === 'object' && item !== null && 'wsResult' in item).length;
}

export function doorway(name: OperationName, env: NodeJS.ProcessEnv = process.env): Doorway {
  const route = routeSpec(name);
  const serviceName = env.POWERTOOLS_SERVICE_NAME || 'dana-gateway';
  const logger = new Logger({ serviceName, persistentKeys: { operation: name } });
  const metrics = new Metrics({
    serviceName,
    namespace: env.POWERTOOLS_METRICS_NAMESPACE || 'DanaGateway',
    defaultDimensions: { operation: name },
  });
  const tracing = lazyTracing(serviceName, logger, env);

  let client: DanaClient | undefined;
  const getClient = () =>
    (client ??= danaClientFromEnv(env, {
      onUpstreamCall: (info) =>
        metrics.addMetric('UpstreamLatency', MetricUnit.Milliseconds, info.durationMs),
    }));

  function countError(error: unknown): void {
    const single = metrics.singleMetric();
    single.addDimension('errorClass', errorClass(error));
    single.addMetric('Errors', MetricUnit.Count, 1);
  }

  function wrap<Event, Result>(fn: (event: Event, context: Context) => Promise<Result>) {
    const handler = middy<Event, Result>()
      .use(injectLambdaContext(logger, { resetKeys: true }))
      .use(logMetrics(metrics, { captureColdStartMetric: true }));
    if (tracing) handler.use(tracing);
    return handler.handler(fn);
  }

  function http<Input>(operation: HttpOperation<Input>): HttpHandler {
    return wrap<APIGatewayProxyEvent, APIGatewayProxyResult>(async (event, context) => {
      const began = performance.now();
      const requestId = requestIdOf(event, context.awsRequestId);
      logger.setCorrelationId(requestId);
      metrics.addMetric('Requests', MetricUnit.Count, 1);
      let result: APIGatewayProxyResult;
      let failure: unknown;
      try {
        const request = parseHttpRequest(event, route, requestId);
        const input = operation.parse(request);
        // Seam for `Prefer: respond-async` (a later issue): when route.respondAsync && request.preferAsync, the
        // parsed input becomes a job on the queue and the answer is 202. Until then every route answers in sync.
        const answer = await operation.call(getClient(), input, { debug: request.debug });
        const starts = route.method === 'POST' ? startsIn(answer.body) : 0;
        if (starts > 0) metrics.addMetric('Starts', MetricUnit.Count, starts);
        result = jsonAnswer(answer.status, answer.body, requestId);
      } catch (error) {
        failure = error;
        countError(error);
        const answer: ErrorAnswer = errorAnswer(error);
        result = errorResult(answer, requestId);
      }
      const line = {
        method: event.httpMethod,
        route: route.path,
        status: result.statusCode,
        durationMs: Math.round(performance.now() - began),
        ...(failure === undefined ? {} : describeError(failure)),
      };
      if (result.statusCode >= 500) logger.error('request failed', line);
      else if (failure !== undefined) logger.warn('request refused', line);
      else logger.info('request done', line);
      return result;
    });
  }

  return { route, logger, metrics, client: getClient, countError, http, wrap };
}

/** The API Gateway handler of one route. */
export function httpHandler<Input>(name: OperationName, operation: HttpOperation<Input>): HttpHandler {
  return doorway(name).http(operation);
}
