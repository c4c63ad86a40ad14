/**
 * The local gateway: a node:http server on 127.0.0.1 that stands in for API Gateway. Each request on one of the
 * ROUTES becomes a real-shaped API Gateway REST proxy event, is handed to the SAME handler module that runs in
 * Lambda, and the handler's proxy result becomes the HTTP answer.
 *
 * It does not authenticate callers (in AWS, API Gateway does, with IAM): it listens on loopback only, answers only
 * requests addressed to a loopback name and not sent by another site's page (./loopback-guard.ts), and when
 * LOCAL_API_KEY is set (`npm start` sets one when a real DANAConnect is configured) it requires a matching
 * `x-api-key` header. Every request comes from the one local caller
 * (LOCAL_CALLER_ARN in `requestContext.identity.userArn`, where API Gateway puts the SigV4 principal), which is
 * what an `Idempotency-Key` is scoped to and who owns the jobs it makes; it is also a job reader (JOB_READERS), so
 * it reads upload jobs too. It logs one readable line per request: method,
 * path (ids only; link codes are masked), status and milliseconds. Never bodies or query values.
 */
import { randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { useLocalJobDeps, type LocalJobDeps } from '../lambdas/adapters/job-deps';
import { useLocalUploadSigner } from '../lambdas/adapters/upload-signer';
import { useLocalScheduleStore } from '../lambdas/adapters/schedule-deps';
import type { ScheduleStore } from '../lambdas/core/schedule-api';
import { gatewayError, type ErrorAnswer } from '../lambdas/core/errors';
import { ROUTES, type OperationName, type RouteSpec } from '../lambdas/http/routes';
import { loopbackRefusal } from './loopback-guard';
import { localBucketEndpoint } from './upload-endpoint';
import { consoleAnswer } from './console';

/** API Gateway's own payload limit. The handlers cap bodies far lower; this only protects the process. */
export const GATEWAY_MAX_BODY_BYTES = 10 * 1024 * 1024;
/** API Gateway's integration timeout, as a Lambda context deadline. */
const HANDLER_TIMEOUT_MS = 29_000;
const STAGE = 'local';
const ACCOUNT_ID = '123456789012';
/** The one local caller, as API Gateway names an IAM user it authenticated. */
export const LOCAL_CALLER_ARN = `arn:aws:iam::${ACCOUNT_ID}:user/local-caller`;

type LambdaHandler = (event: APIGatewayProxyEvent, context: Context) => Promise<unknown>;

/** Loaded on first use, so that environment variables set before are what the handlers' clients read. */
const HANDLERS: Record<OperationName, () => Promise<{ handler: LambdaHandler }>> = {
  'start-list': () => import('../lambdas/start-list/handler'),
  'start-data': () => import('../lambdas/start-data/handler'),
  'start-data-by-project': () => import('../lambdas/start-data-by-project/handler'),
  'start-record': () => import('../lambdas/start-record/handler'),
  'start-batch': () => import('../lambdas/start-batch/handler'),
  'get-contact-data': () => import('../lambdas/get-contact-data/handler'),
  'get-job': () => import('../lambdas/get-job/handler'),
  'list-jobs': () => import('../lambdas/list-jobs/handler'),
  'get-job-report': () => import('../lambdas/get-job-report/handler'),
  'create-upload': () => import('../lambdas/create-upload/handler'),
  // One function serves the five schedule routes (it tells them apart by resource and method).
  'create-schedule': () => import('../lambdas/schedules/handler'),
  'list-schedules': () => import('../lambdas/schedules/handler'),
  'get-schedule': () => import('../lambdas/schedules/handler'),
  'replace-schedule': () => import('../lambdas/schedules/handler'),
  'delete-schedule': () => import('../lambdas/schedules/handler'),
  // One function serves the four alias routes (it tells them apart by resource and method).
  'put-alias': () => import('../lambdas/aliases/handler'),
  'list-aliases': () => import('../lambdas/aliases/handler'),
  'get-alias': () => import('../lambdas/aliases/handler'),
  'delete-alias': () => import('../lambdas/aliases/handler'),
};

export interface GatewayOptions {
  /** Default: PORT, else 3000. 0 picks a free port. Always binds 127.0.0.1. */
  port?: number;
  /**
   * Set on process.env before the handlers load (and restored by close()). The handlers build their DANAConnect
   * client once per process, from the environment of their first request, exactly as in Lambda.
   */
  env?: Record<string, string | undefined>;
  /** Where the one-line request log goes; default console.log. */
  log?: (line: string) => void;
  /** The `x-api-key` every request must carry; default LOCAL_API_KEY (none: no key needed). */
  apiKey?: string;
  /**
   * The embedded job store and queue (the local pipeline's) that get-job and `Prefer: respond-async` use instead
   * of JOBS_TABLE_NAME / QUEUE_URL; installed for the process until close().
   */
  jobs?: LocalJobDeps;
  /**
   * The bucket folder (the local pipeline's, LOCAL_BUCKET_DIR): with it, `POST /uploads` hands out forms that
   * post to this server, which writes the file there, and report links are served from it (./upload-endpoint.ts).
   */
  bucketDir?: string;
  /** The runtime schedules' store (the local runner's), installed for the process until close(). */
  schedules?: ScheduleStore;
}

export interface Gateway {
  /** `http://127.0.0.1:<port>` */
  url: string;
  close(): Promise<void>;
}

interface Matched {
  route: RouteSpec;
  params: Record<string, string>;
  /** For the log: the template with ids filled in and everything else left as `{name}`. */
  loggedPath: string;
}

/** The segment as API Gateway passes a path parameter: percent-decoded (an undecodable one stays as sent). */
function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** Matches the raw path segment by segment, so an encoded slash stays inside its segment, as in API Gateway. */
function matchPath(rawPath: string): Matched[] {
  const segments = rawPath.split('/');
  const matches: Matched[] = [];
  for (const route of ROUTES) {
    const template = route.path.split('/');
    if (template.length !== segments.length) continue;
    const params: Record<string, string> = {};
    const logged: string[] = [];
    const fits = template.every((part, i) => {
      const segment = segments[i]!;
      const name = /^\{(\w+)\}$/.exec(part)?.[1];
      if (name === undefined) {
        logged.push(part);
        return part === segment;
      }
      if (segment.length === 0) return false;
      params[name] = decodeSegment(segment);
      logged.push(/^\d{1,10}$/.test(segment) && name !== 'danaparam' ? segment : part);
      return true;
    });
    if (fits) matches.push({ route, params, loggedPath: logged.join('/') });
  }
  return matches;
}

/** Query parameters as API Gateway gives them: percent-decoded, last value wins, all values in the multi map. */
function parseQueryString(raw: string): {
  single: Record<string, string> | null;
  multi: Record<string, string[]> | null;
} {
  if (raw.length === 0) return { single: null, multi: null };
  const single: Record<string, string> = {};
  const multi: Record<string, string[]> = {};
  for (const pair of raw.split('&')) {
    if (pair.length === 0) continue;
    const eq = pair.indexOf('=');
    const name = decodeSegment(eq < 0 ? pair : pair.slice(0, eq));
    const value = eq < 0 ? '' : decodeSegment(pair.slice(eq + 1));
    single[name] = value;
    (multi[name] ??= []).push(value);
  }
  return Object.keys(single).length === 0 ? { single: null, multi: null } : { single, multi };
}

/** Headers with the case the caller used (API Gateway keeps it): the last value, and all values. */
function headersOf(req: IncomingMessage): {
  single: Record<string, string>;
  multi: Record<string, string[]>;
} {
  const single: Record<string, string> = {};
  const multi: Record<string, string[]> = {};
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i]!;
    const value = req.rawHeaders[i + 1]!;
    single[name] = value;
    (multi[name] ??= []).push(value);
  }
  return { single, multi };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function bodyOf(bytes: Buffer): { body: string | null; isBase64Encoded: boolean } {
  if (bytes.length === 0) return { body: null, isBase64Encoded: false };
  try {
    return { body: utf8.decode(bytes), isBase64Encoded: false };
  } catch {
    return { body: bytes.toString('base64'), isBase64Encoded: true };
  }
}

function requestTime(date: Date): string {
  // API Gateway's format: 25/Nov/2025:09:11:00 +0000
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(date.getUTCDate())}/${months[date.getUTCMonth()]}/${date.getUTCFullYear()}:${pad(
    date.getUTCHours(),
  )}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000`;
}

/** The caller as API Gateway describes an IAM principal it authenticated: always the one local caller. */
function identityOf(req: IncomingMessage): APIGatewayProxyEvent['requestContext']['identity'] {
  return {
    accessKey: null,
    accountId: null,
    apiKey: null,
    apiKeyId: null,
    caller: null,
    clientCert: null,
    cognitoAuthenticationProvider: null,
    cognitoAuthenticationType: null,
    cognitoIdentityId: null,
    cognitoIdentityPoolId: null,
    principalOrgId: null,
    sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
    user: null,
    userAgent: req.headers['user-agent'] ?? null,
    userArn: LOCAL_CALLER_ARN,
  };
}

export function toProxyEvent(
  req: IncomingMessage,
  matched: Matched,
  rawPath: string,
  rawQuery: string,
  bytes: Buffer,
  requestId: string,
): APIGatewayProxyEvent {
  const headers = headersOf(req);
  const query = parseQueryString(rawQuery);
  const now = new Date();
  const method = req.method ?? 'GET';
  return {
    resource: matched.route.path,
    path: rawPath,
    httpMethod: method,
    headers: headers.single,
    multiValueHeaders: headers.multi,
    queryStringParameters: query.single,
    multiValueQueryStringParameters: query.multi,
    pathParameters: matched.params,
    stageVariables: null,
    requestContext: {
      accountId: ACCOUNT_ID,
      apiId: 'local',
      authorizer: null,
      domainName: req.headers.host ?? '127.0.0.1',
      domainPrefix: 'local',
      extendedRequestId: requestId,
      httpMethod: method,
      identity: identityOf(req),
      // As on a custom domain: the local URL has no stage segment, so links the handlers build (Location) need
      // no prefix. On the execute-api domain this is `/<stage><path>`.
      path: rawPath,
      protocol: `HTTP/${req.httpVersion}`,
      requestId,
      requestTime: requestTime(now),
      requestTimeEpoch: now.getTime(),
      resourceId: matched.route.name,
      resourcePath: matched.route.path,
      stage: STAGE,
    },
    ...bodyOf(bytes),
  };
}

function lambdaContext(name: OperationName): Context {
  const deadline = Date.now() + HANDLER_TIMEOUT_MS;
  const functionName = `dana-gateway-local-${name}`;
  const region = process.env.AWS_REGION ?? 'us-east-1';
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${region}:${ACCOUNT_ID}:function:${functionName}`,
    memoryLimitInMB: '256',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: `local/${randomUUID()}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

class BodyTooLarge extends Error {}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > GATEWAY_MAX_BODY_BYTES) {
        req.removeAllListeners('data');
        req.pause();
        reject(new BodyTooLarge());
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function isProxyResult(value: unknown): value is APIGatewayProxyResult {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { statusCode?: unknown }).statusCode === 'number'
  );
}

function sameKey(given: string | undefined, expected: string): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

export async function startGateway(options: GatewayOptions = {}): Promise<Gateway> {
  // The one local caller also reads upload jobs, as a `jobReaders` principal does in AWS (lambdas/core/job-access.ts).
  const jobReaders = [process.env.JOB_READERS, LOCAL_CALLER_ARN].filter(Boolean).join(',');
  const restoreEnv = installEnv({ JOB_READERS: jobReaders, ...options.env });
  const uninstallJobs = options.jobs ? useLocalJobDeps(options.jobs) : undefined;
  // S3's form uploads and presigned GETs, on this server (./upload-endpoint.ts), when there is a bucket folder.
  const bucket = options.bucketDir === undefined ? undefined : localBucketEndpoint(options.bucketDir);
  const uninstallSchedules = options.schedules ? useLocalScheduleStore(options.schedules) : undefined;
  const apiKey = options.apiKey || process.env.LOCAL_API_KEY || undefined;
  const log = options.log ?? ((line: string) => console.log(line));
  const handlerFor = handlerLoader();
  const { server, sockets } = localServer((req, requestId) => {
    const rawPath = (req.url ?? '/').split('?')[0]!;
    if (bucket?.handles(rawPath)) {
      const rawQuery = (req.url ?? '').slice(rawPath.length + 1);
      return bucket.answer(req, rawPath, rawQuery).then((result) => [result, rawPath.slice(0, 17)]);
    }
    return answer(req, requestId, apiKey, handlerFor);
  }, log);
  const port = options.port ?? Number(process.env.PORT || 3000);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${address.port}`;
  const uninstallSigner = bucket ? useLocalUploadSigner(bucket.signer(url)) : undefined;

  return {
    url,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
      uninstallSigner?.();
      uninstallJobs?.();
      uninstallSchedules?.();
      restoreEnv();
    },
  };
}

/** Sets the given variables on process.env; the function returned puts back what was there before. */
function installEnv(env: Record<string, string | undefined>): () => void {
  const saved = new Map<string, string | undefined>();
  for (const [name, value] of Object.entries(env)) {
    saved.set(name, process.env[name]);
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  return () => {
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
}

/** Each route's handler module, imported on its first request and kept, as a Lambda execution environment does. */
function handlerLoader(): (name: OperationName) => Promise<LambdaHandler> {
  const handlers = new Map<OperationName, Promise<LambdaHandler>>();
  return (name) => {
    let loaded = handlers.get(name);
    if (!loaded) {
      loaded = HANDLERS[name]().then((m) => m.handler);
      handlers.set(name, loaded);
    }
    return loaded;
  };
}

type Answer = (req: IncomingMessage, requestId: string) => Promise<[APIGatewayProxyResult, string]>;

/** The HTTP server: one answer and one log line per request, and the open sockets, for close() to end. */
function localServer(answerOf: Answer, log: (line: string) => void) {
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    const began = performance.now();
    // API Gateway's request id: the handlers use it as correlation id and X-Request-Id.
    const requestId = randomUUID();
    const finish = (result: APIGatewayProxyResult, loggedPath: string) => {
      send(res, result);
      const ms = Math.round(performance.now() - began);
      log(`${req.method} ${loggedPath} ${result.statusCode} ${ms}ms`);
    };
    // Before any routing, so every route (API, jobs, console, whatever is added) is out of a web page's reach.
    const refusal = loopbackRefusal(req.headers, req.socket.localPort ?? 0);
    if (refusal !== undefined) {
      req.resume();
      finish(envelope(gatewayError('FORBIDDEN', refusal), requestId), '(refused: not loopback)');
      return;
    }
    answerOf(req, requestId).then(
      ([result, loggedPath]) => finish(result, loggedPath),
      (error: unknown) => {
        // As API Gateway does when the integration fails: no detail to the caller, only the error's name here.
        const name = error instanceof Error ? error.name : typeof error;
        if (!res.headersSent) finish(envelope(gatewayError('INTERNAL'), requestId), `(failed: ${name})`);
      },
    );
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  return { server, sockets };
}

function send(res: ServerResponse, result: APIGatewayProxyResult): void {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(result.headers ?? {})) headers[name] = String(value);
  for (const [name, values] of Object.entries(result.multiValueHeaders ?? {})) {
    headers[name] = values.map(String);
  }
  const body = Buffer.from(result.body ?? '', result.isBase64Encoded ? 'base64' : 'utf8');
  res.writeHead(result.statusCode, { ...headers, 'Content-Length': String(body.length) });
  res.end(body);
}

function envelope(answer: ErrorAnswer, requestId: string, extra: Record<string, string> = {}) {
  return {
    statusCode: answer.status,
    headers: { 'Content-Type': 'application/json', 'X-Request-Id': requestId, ...extra },
    body: JSON.stringify(answer.body),
  } satisfies APIGatewayProxyResult;
}

/**
 * One request's answer and the path to log: API Gateway's own refusals (no route, wrong method, no key, too
 * large) before any function runs, else what the route's handler returned.
 */
async function answer(
  req: IncomingMessage,
  requestId: string,
  apiKey: string | undefined,
  handlerFor: (name: OperationName) => Promise<LambdaHandler>,
): Promise<[APIGatewayProxyResult, string]> {
  const method = req.method ?? 'GET';
  const rawUrl = req.url ?? '/';
  const queryAt = rawUrl.indexOf('?');
  const rawPath = queryAt < 0 ? rawUrl : rawUrl.slice(0, queryAt);
  const rawQuery = queryAt < 0 ? '' : rawUrl.slice(queryAt + 1);
  // The operator console's page and files (./console.ts); its API calls come back here as ordinary requests.
  const page = await consoleAnswer(method, rawPath, apiKey !== undefined);
  if (page) {
    req.resume();
    return [page, rawPath.split('/').slice(0, 3).join('/')];
  }
  const matches = matchPath(rawPath);
  const matched = matches.find((m) => m.route.method === method);
  if (!matched) {
    req.resume();
    return unrouted(method, rawPath, matches, requestId);
  }
  if (apiKey !== undefined && !sameKey(req.headers['x-api-key']?.toString(), apiKey)) {
    req.resume();
    return [
      envelope(gatewayError('FORBIDDEN', 'x-api-key is missing or wrong (LOCAL_API_KEY is set)'), requestId),
      matched.loggedPath,
    ];
  }
  let bytes: Buffer;
  try {
    bytes = await readBody(req);
  } catch (error) {
    if (!(error instanceof BodyTooLarge)) throw error;
    const tooLarge = gatewayError(
      'PAYLOAD_TOO_LARGE',
      `body: must be at most ${GATEWAY_MAX_BODY_BYTES} bytes`,
    );
    return [envelope(tooLarge, requestId, { Connection: 'close' }), matched.loggedPath];
  }
  const event = toProxyEvent(req, matched, rawPath, rawQuery, bytes, requestId);
  const handler = await handlerFor(matched.route.name);
  const result = await handler(event, lambdaContext(matched.route.name));
  if (!isProxyResult(result)) throw new Error(`${matched.route.name} returned no proxy result`);
  return [result, matched.loggedPath];
}

/** No route takes this method on this path: 404 when no route has the path at all, else 405 with `Allow`. */
function unrouted(
  method: string,
  rawPath: string,
  matches: Matched[],
  requestId: string,
): [APIGatewayProxyResult, string] {
  if (matches.length === 0) {
    return [
      envelope(gatewayError('NOT_FOUND', `no route for ${method} ${rawPath}`), requestId),
      '(no route)',
    ];
  }
  const allowed = [...new Set(matches.map((m) => m.route.method))].join(', ');
  return [
    envelope(gatewayError('METHOD_NOT_ALLOWED', `this path takes ${allowed}`), requestId, { Allow: allowed }),
    matches[0]!.loggedPath,
  ];
}
