/**
 * The shared HTTP doorway, written once: every HTTP handler is `httpHandler(routeName, { parse, call })`.
 *
 * The doorway owns what is the same for every route: the middy stack with the Powertools Logger (structured JSON,
 * API Gateway's request id as correlation id) and Metrics (EMF), both from ../adapters/observability.ts, optional
 * lazy tracing (./tracing.ts), the DANAConnect client (built once per execution environment from its environment
 * variables, and only by a route that calls DANAConnect), reading the event (./request.ts), the error envelope
 * (../core/errors.ts) and the `X-Request-Id` header on every answer. The job store and queue are handed in by
 * the routes that use them (../adapters/job-deps.ts), so the other routes' bundles carry no AWS SDK client beyond
 * Secrets Manager.
 *
 * `Prefer: respond-async` on a route with respondAsync: the input is validated by the route's own `parse`, exactly
 * as for a synchronous call, then becomes a job (../core/api-jobs.ts) whose chunk goes to the queue; the answer is
 * 202 with `Location: <base path>/jobs/{jobId}`. Nothing reaches DANAConnect on that path. A deployment without
 * JOBS_TABLE_NAME / QUEUE_URL answers 501 NOT_IMPLEMENTED. An `Idempotency-Key` is scoped to the authenticated
 * caller, the method and the path with its ids, and bound to the body's fingerprint (../core/idempotency.ts):
 * the same request again gets the same job (202), the same key with another body 422 (`idError` 9422).
 *
 * What is logged: route, method, status, duration, error class, and for DANAConnect errors their kind, status,
 * `idError` and delivery. Never bodies, field values, link codes, headers, credentials or tokens: an invalid
 * input is logged by the name of what was wrong (`conversationId`, `body[3].EMAIL`), not its value.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy, { type MiddyfiedHandler } from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { countError, observabilityFor } from '../adapters/observability';
import { jobLocation, submitApiJob, type ApiJobRequest } from '../core/api-jobs';
import type { AliasStore } from '../core/aliases';
import type { IdempotencyStore, IdempotentRequest } from '../core/idempotency';
import type { CallOptions, DanaAnswer, DanaClient, DanaClientOptions } from '../core/dana-client';
import { deadlineOf, type Deadline } from '../core/deadline';
import { ConfigurationError, describeError, errorAnswer, InvalidInputError } from '../core/errors';
import type { ChunkQueue, JobStore } from '../core/jobs';
import { resolvePathConversation, takesConversationRef } from './conversation-ref';
import { errorResult, jsonAnswer, parseHttpRequest, requestIdOf, type HttpRequest } from './request';
import { ROUTES, type OperationName, type RouteSpec } from './routes';
import { lazyTracing } from './tracing';

/** A route's own part: read its input from the request, then make the one DANAConnect call. */
export interface HttpOperation<Input> {
  /** Validates with ../core/validation.ts; throws InvalidInputError naming the offending parameter or field. */
  parse(request: HttpRequest): Input;
  call(client: DanaClient, input: Input, options: CallOptions): Promise<DanaAnswer<unknown>>;
  /** Required on routes with respondAsync: the job that starts the same records later. */
  job?(input: Input): ApiJobRequest;
}

/** A route answered from the job store alone (get-job): no DANAConnect client is built or needed. */
export interface JobStoreOperation<Input> {
  parse(request: HttpRequest): Input;
  /** `request` tells who asks (request.caller), for the job ownership rule (../core/job-access.ts). */
  answer(
    jobs: JobStore,
    input: Input,
    request: HttpRequest,
  ): Promise<{ status: number; body: unknown; headers?: Record<string, string> }>;
}

/**
 * A route answered by its own core from its own store (the schedules API): no DANAConnect client, no job store.
 * A `status` of 204 answers with no body.
 */
export interface OwnOperation<Input> {
  parse(request: HttpRequest): Input;
  respond(input: Input, request: HttpRequest): Promise<{ status: number; body?: unknown }>;
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
  http<Input>(operation: HttpOperation<Input> | JobStoreOperation<Input> | OwnOperation<Input>): HttpHandler;
  /** Any other event (e.g. a scheduled start) with the same logger, metrics and tracing. */
  wrap<Event, Result>(
    fn: (event: Event, context: Context) => Promise<Result>,
  ): MiddyfiedHandler<Event, Result>;
}

/**
 * What a route needs beyond the doorway itself, injected by its handler so that each bundle carries only what its
 * route uses (get-job, for one, never bundles the DANAConnect client nor the Secrets Manager SDK).
 */
export interface DoorwayJobDeps {
  /** Every route that calls DANAConnect (`callsDana`): builds the client (../adapters/dana.ts danaClientFromEnv). */
  dana?: (env: NodeJS.ProcessEnv, options: Partial<DanaClientOptions>) => DanaClient;
  /** get-job and every respondAsync route. */
  jobs?: () => JobStore;
  /** Every respondAsync route. */
  queue?: () => ChunkQueue;
  /** Every respondAsync route: where `Idempotency-Key`s are recorded (../adapters/job-deps.ts idempotencyStoreFromEnv). */
  idempotency?: () => IdempotencyStore;
  /**
   * Every route with `{conversationId}` in its path: resolves an alias there (./conversation-ref.ts;
   * ../adapters/alias-deps.ts aliasStoreFromEnv with `cached: true`).
   */
  aliases?: () => Pick<AliasStore, 'get'>;
}

/**
 * The deadline of an invocation without a Lambda context (never in AWS): the HTTP functions' 25 s timeout
 * (infra/gateway-stack.ts) less the reserve that deadlineOf keeps back.
 */
const NO_CONTEXT_DEADLINE_MS = 24_000;

export function routeSpec(name: OperationName): RouteSpec {
  const route = ROUTES.find((r) => r.name === name);
  if (!route) throw new ConfigurationError(`no route named ${name}`);
  return route;
}

/** How many records DANAConnect says it started: one per `wsResult` in the answer (an object or a batch array). */
function startsIn(body: unknown): number {
  const items = Array.isArray(body) ? body : [body];
  return items.filter((item) => typeof item === 'object' && item !== null && 'wsResult' in item).length;
}

/** What the doorway's pieces share: one route, its injected dependencies, its logger and metrics. */
interface Door {
  readonly name: OperationName;
  readonly route: RouteSpec;
  readonly deps: DoorwayJobDeps;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** The DANAConnect client of this execution environment, built on first use. */
  readonly client: () => DanaClient;
}

type RouteOperation<Input> = HttpOperation<Input> | JobStoreOperation<Input> | OwnOperation<Input>;

/** An invocation's answer, with the job it created (respond-async) for the log line. */
interface Answered {
  result: APIGatewayProxyResult;
  jobId?: string;
}

export function doorway(
  name: OperationName,
  env: NodeJS.ProcessEnv = process.env,
  deps: DoorwayJobDeps = {},
): Doorway {
  const route = routeSpec(name);
  const { serviceName, logger, metrics } = observabilityFor(name, env);
  const tracing = lazyTracing(serviceName, logger, env);
  if (route.callsDana && !deps.dana)
    throw new ConfigurationError(`route ${name} calls DANAConnect but has no client`);
  const door: Door = { name, route, deps, logger, metrics, client: danaClientOnce(name, env, deps, metrics) };

  function wrap<Event, Result>(fn: (event: Event, context: Context) => Promise<Result>) {
    const handler = middy<Event, Result>()
      .use(injectLambdaContext(logger, { resetKeys: true }))
      .use(logMetrics(metrics, { captureColdStartMetric: true }));
    if (tracing) handler.use(tracing);
    return handler.handler(fn);
  }

  function http<Input>(operation: RouteOperation<Input>): HttpHandler {
    checkWiring(door, operation);
    return wrap<APIGatewayProxyEvent, APIGatewayProxyResult>(invocation(door, operation));
  }

  return {
    route,
    logger,
    metrics,
    client: door.client,
    countError: (error) => countError(metrics, error),
    http,
    wrap,
  };
}

/** Builds the DANAConnect client on first use, once per execution environment, timing every upstream call. */
function danaClientOnce(
  name: OperationName,
  env: NodeJS.ProcessEnv,
  deps: DoorwayJobDeps,
  metrics: Metrics,
): () => DanaClient {
  let client: DanaClient | undefined;
  return () => {
    if (!deps.dana) throw new ConfigurationError(`route ${name} does not call DANAConnect`);
    return (client ??= deps.dana(env, {
      onUpstreamCall: (info) =>
        metrics.addMetric('UpstreamLatency', MetricUnit.Milliseconds, info.durationMs),
    }));
  };
}

/** Wiring mistakes fail when the module loads, not on the first request that needs them. */
function checkWiring<Input>(door: Door, operation: RouteOperation<Input>): void {
  const { name, route, deps } = door;
  if (takesConversationRef(route) && !deps.aliases) {
    throw new ConfigurationError(`route ${name} takes a conversation alias but has no alias store`);
  }
  if ('respond' in operation) return;
  if ('answer' in operation) {
    if (!deps.jobs) throw new ConfigurationError(`route ${name} answers from the job store but has none`);
  } else if (route.respondAsync && (!operation.job || !deps.jobs || !deps.queue || !deps.idempotency)) {
    throw new ConfigurationError(`route ${name} answers respond-async but lacks job() or its job deps`);
  }
}

/** One HTTP invocation: the route's answer or the error envelope, counted and logged in one line. */
function invocation<Input>(door: Door, operation: RouteOperation<Input>) {
  return async (event: APIGatewayProxyEvent, context: Context): Promise<APIGatewayProxyResult> => {
    const began = performance.now();
    // One deadline for the whole invocation: every step of the DANAConnect call draws from it, so the function
    // answers its own 504 before Lambda's timeout kills it mid-call.
    const deadline = deadlineOf(context, NO_CONTEXT_DEADLINE_MS);
    const requestId = requestIdOf(event, context.awsRequestId);
    door.logger.setCorrelationId(requestId);
    door.metrics.addMetric('Requests', MetricUnit.Count, 1);
    let answered: Answered;
    let failure: unknown;
    try {
      answered = await answerRoute(door, operation, parseHttpRequest(event, door.route, requestId), deadline);
    } catch (error) {
      failure = error;
      countError(door.metrics, error);
      answered = { result: errorResult(errorAnswer(error), requestId) };
    }
    logRequest(door, event, performance.now() - began, answered, failure);
    return answered.result;
  };
}

/** The route's answer to a request: from the job store, as a job (respond-async), or from DANAConnect. */
async function answerRoute<Input>(
  door: Door,
  operation: RouteOperation<Input>,
  request: HttpRequest,
  deadline: Deadline,
): Promise<Answered> {
  const { route, metrics } = door;
  // An alias in {conversationId} becomes its id here, once for every route, before the route validates it.
  const resolved = await resolvePathConversation(request, door.deps.aliases);
  const input = operation.parse(resolved.request);
  if ('respond' in operation) {
    const answer = await operation.respond(input, request);
    if (answer.status === 204) {
      return { result: { statusCode: 204, headers: { 'X-Request-Id': request.requestId }, body: '' } };
    }
    return { result: jsonAnswer(answer.status, answer.body, request.requestId) };
  }
  if ('answer' in operation) {
    const answer = await operation.answer(door.deps.jobs!(), input, request);
    return { result: jsonAnswer(answer.status, answer.body, request.requestId, answer.headers) };
  }
  if (route.respondAsync && request.preferAsync && operation.job) {
    const job = operation.job(input);
    return respondAsync(
      door,
      request,
      resolved.alias === undefined ? job : { ...job, alias: resolved.alias },
    );
  }
  const answer = await operation.call(door.client(), input, { debug: request.debug, deadline });
  const starts = route.method === 'POST' ? startsIn(answer.body) : 0;
  if (starts > 0) metrics.addMetric('Starts', MetricUnit.Count, starts);
  return { result: jsonAnswer(answer.status, answer.body, request.requestId) };
}

/** The one line per request: an error on 5xx, a warning on a refusal. */
function logRequest(
  door: Door,
  event: APIGatewayProxyEvent,
  durationMs: number,
  { result, jobId }: Answered,
  failure: unknown,
): void {
  const line = {
    method: event.httpMethod,
    route: door.route.path,
    status: result.statusCode,
    durationMs: Math.round(durationMs),
    ...(jobId === undefined ? {} : { jobId }),
    ...(failure === undefined ? {} : describeError(failure)),
  };
  if (result.statusCode >= 500) door.logger.error('request failed', line);
  else if (failure !== undefined) door.logger.warn('request refused', line);
  else door.logger.info('request done', line);
}

/**
 * The job store and queue for an async request, and the idempotency store when it carries a key; a deployment
 * without them refuses with 501.
 */
function asyncDeps(door: Door, keyed: boolean) {
  const { deps } = door;
  try {
    return {
      jobs: deps.jobs!(),
      queue: deps.queue!(),
      idempotency: keyed ? deps.idempotency!() : undefined,
    };
  } catch (error) {
    if (!(error instanceof ConfigurationError)) throw error;
    door.logger.warn('Prefer: respond-async refused: no job store or queue configured', describeError(error));
    throw new InvalidInputError(
      'Prefer',
      'respond-async is not available on this deployment (no job queue)',
      'NOT_IMPLEMENTED',
    );
  }
}

/** What an `Idempotency-Key` is scoped to and bound by; undefined without a key. */
function idempotentRequest(route: RouteSpec, request: HttpRequest): IdempotentRequest | undefined {
  const key = request.idempotencyKey;
  if (key === undefined) return undefined;
  // Behind the stack's API every method requires IAM or an API key, so a caller is always named; a key that
  // cannot be scoped to one would be shared by everybody, so it is refused rather than honoured.
  if (request.caller === undefined)
    throw new ConfigurationError('no caller identity to scope Idempotency-Key');
  return { caller: request.caller, method: route.method, path: request.routePath, key, body: request.body };
}

/** `Prefer: respond-async`: the validated input becomes a job; 202 with where to read it. */
async function respondAsync(door: Door, request: HttpRequest, job: ApiJobRequest): Promise<Answered> {
  const idempotent = idempotentRequest(door.route, request);
  // The job belongs to the caller who asked: only it reads the job (../core/job-access.ts).
  const deps = asyncDeps(door, idempotent !== undefined);
  const submitted = await submitApiJob(deps, door.name, job, idempotent, request.caller);
  door.metrics.addMetric('AsyncJobs', MetricUnit.Count, 1);
  const location = jobLocation(request.basePath, submitted.jobId);
  const body = { jobId: submitted.jobId, state: submitted.state, location };
  const headers = { Location: location, 'Preference-Applied': 'respond-async' };
  return { result: jsonAnswer(202, body, request.requestId, headers), jobId: submitted.jobId };
}

/** The API Gateway handler of one route. */
export function httpHandler<Input>(
  name: OperationName,
  operation: HttpOperation<Input> | JobStoreOperation<Input> | OwnOperation<Input>,
  deps: DoorwayJobDeps = {},
): HttpHandler {
  return doorway(name, process.env, deps).http(operation);
}
