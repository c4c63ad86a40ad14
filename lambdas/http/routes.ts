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
  | 'get-job';

export interface RouteSpec {
  /** Also the handler's folder: `lambdas/<name>/handler.ts`. */
  name: OperationName;
  method: 'GET' | 'POST';
  /** API Gateway path template. */
  path: string;
  /** What the body must be; `none` routes take no body. */
  body: 'none' | 'record' | 'optional-record' | 'batch';
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
];
