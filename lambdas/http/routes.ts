/**
 * The gateway's HTTP routes, in one place: the local gateway serves them and the CDK stack builds API Gateway
 * resources from them. Paths mirror DANAConnect's own, so an existing client only changes its base URL.
 */
export type OperationName =
  | 'start-list'
  | 'start-data'
  | 'start-data-by-project'
  | 'start-record'
  | 'start-batch'
  | 'get-contact-data'
  | 'get-job'
  | 'list-jobs'
  | 'get-job-report'
  | 'create-upload'
  | 'create-schedule'
  | 'list-schedules'
  | 'get-schedule'
  | 'replace-schedule'
  | 'delete-schedule'
  | 'put-alias'
  | 'list-aliases'
  | 'get-alias'
  | 'delete-alias';

export interface RouteSpec {
  /** Also the handler's folder: `lambdas/<name>/handler.ts`, unless `function` names another. */
  name: OperationName;
  /**
   * The handler folder (`lambdas/<function>/handler.ts`, one Lambda function) when several routes share one
   * function, which tells them apart by the event's resource and method; default: `name`.
   */
  function?: string;
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** API Gateway path template. */
  path: string;
  /** What the body must be; `none` routes take no body; `json` any JSON body, checked by the route's own core. */
  body: 'none' | 'record' | 'optional-record' | 'batch' | 'json';
  /** Query string parameters the route reads. */
  query: readonly string[];
  /** One line for docs and the local gateway's banner. */
  summary: string;
  /**
   * Creates records, so it also answers `Prefer: respond-async`: the validated input becomes a job on the chunk
   * queue (needs JOBS_TABLE_NAME and QUEUE_URL) and the answer is 202 with `Location: /jobs/{jobId}`.
   */
  respondAsync: boolean;
  /**
   * Calls DANAConnect synchronously, so its function needs the DANAConnect secret and network path. False for
   * routes answered from the jobs table alone (get-job).
   */
  callsDana: boolean;
}

const BASE = '/api/1.0/rest/conversation';

export const ROUTES: readonly RouteSpec[] = [
  {
    name: 'start-list',
    method: 'POST',
    path: `${BASE}/{conversationId}/start/list`,
    body: 'none',
    query: [],
    summary: 'Start a conversation for its preloaded list',
    respondAsync: false,
    callsDana: true,
  },
  {
    name: 'start-data',
    method: 'POST',
    path: `${BASE}/{conversationId}/start/data`,
    body: 'record',
    query: [],
    summary: 'Start for one new record',
    respondAsync: true,
    callsDana: true,
  },
  {
    name: 'start-data-by-project',
    method: 'POST',
    path: `${BASE}/ProjectID/{projectId}/start/data`,
    body: 'record',
    query: [],
    summary: 'Start for one new record, by project id',
    respondAsync: true,
    callsDana: true,
  },
  {
    name: 'start-record',
    method: 'POST',
    path: `${BASE}/{conversationId}/start/record/{recordUID}`,
    body: 'optional-record',
    query: [],
    summary: 'Start for an existing record (recordUID), updating the given fields',
    respondAsync: false,
    callsDana: true,
  },
  {
    name: 'start-batch',
    method: 'POST',
    path: `${BASE}/{conversationId}/start/list/data`,
    body: 'batch',
    query: [],
    summary: 'Start for a batch of 1 to 10 new records',
    respondAsync: true,
    callsDana: true,
  },
  {
    name: 'get-contact-data',
    method: 'GET',
    path: `${BASE}/data/{danaparam}`,
    body: 'none',
    query: ['fields'],
    summary: "Fetch a contact's data from its link code",
    respondAsync: false,
    callsDana: true,
  },
  {
    name: 'get-job',
    method: 'GET',
    path: '/jobs/{jobId}',
    body: 'none',
    query: [],
    summary: "A job's state, counts and per-row outcomes (async requests and uploads)",
    respondAsync: false,
    callsDana: false,
  },
  ...jobRoutes(),
  ...scheduleRoutes(),
  ...aliasRoutes(),
];

/** The handler folder of a route: its own name unless it shares a function. */
export function functionOf(route: RouteSpec): string {
  return route.function ?? route.name;
}

/**
 * A route builder for a shared function's routes (answered by their own code, calling no DANAConnect): name,
 * method, path, summary, and what differs (`body`, `query`).
 */
function sharedFunctionRoute(fn: string) {
  return (
    name: OperationName,
    method: RouteSpec['method'],
    path: string,
    summary: string,
    extra: Partial<RouteSpec> = {},
  ): RouteSpec => ({
    name,
    function: fn,
    method,
    path,
    body: 'none',
    query: [],
    summary,
    respondAsync: false,
    callsDana: false,
    ...extra,
  });
}

/** The runtime schedules API (lambdas/schedules/handler.ts, one function for all five routes). */
function scheduleRoutes(): RouteSpec[] {
  const route = sharedFunctionRoute('schedules');
  return [
    route('create-schedule', 'POST', '/schedules', 'Create a schedule (cron or at, in a time zone)', {
      body: 'json',
    }),
    route('list-schedules', 'GET', '/schedules', 'List the schedules, with their next runs', {
      query: ['limit', 'cursor'],
    }),
    route(
      'get-schedule',
      'GET',
      '/schedules/{name}',
      'A schedule and its next runs (after ?from=, ?count=)',
      {
        query: ['from', 'count'],
      },
    ),
    route('replace-schedule', 'PUT', '/schedules/{name}', 'Replace a schedule', { body: 'json' }),
    route('delete-schedule', 'DELETE', '/schedules/{name}', 'Delete a schedule'),
  ];
}

/** The conversation aliases API (lambdas/aliases/handler.ts, one function for all four routes). */
function aliasRoutes(): RouteSpec[] {
  const route = sharedFunctionRoute('aliases');
  return [
    route('put-alias', 'PUT', '/aliases/{name}', 'Point an alias at a conversation id (keeps its history)', {
      body: 'json',
    }),
    route('list-aliases', 'GET', '/aliases', 'List the aliases, in name order (paged)', {
      query: ['limit', 'cursor'],
    }),
    route('get-alias', 'GET', '/aliases/{name}', "An alias's conversation id and history"),
    route('delete-alias', 'DELETE', '/aliases/{name}', 'Delete an alias'),
  ];
}

/** The jobs list, the report redirect and the upload API (docs/JOBS.md); none calls DANAConnect. */
function jobRoutes(): RouteSpec[] {
  const route = (spec: Omit<RouteSpec, 'respondAsync' | 'callsDana'>): RouteSpec => ({
    ...spec,
    respondAsync: false,
    callsDana: false,
  });
  return [
    route({
      name: 'list-jobs',
      method: 'GET',
      path: '/jobs',
      body: 'none',
      query: ['limit', 'cursor', 'state'],
      summary: 'The jobs the caller may read, newest first (paged; by state)',
    }),
    route({
      name: 'get-job-report',
      method: 'GET',
      path: '/jobs/{jobId}/report',
      body: 'none',
      query: [],
      summary: "302 to a short-lived link to a done upload job's report.csv",
    }),
    route({
      name: 'create-upload',
      method: 'POST',
      path: '/uploads',
      body: 'json',
      query: [],
      summary: 'A presigned form to upload a file (CSV, JSON Lines, JSON) without S3 credentials',
    }),
  ];
}
