/**
 * `npm start`: the local gateway in front of the embedded DANAConnect sandbox, or in front of a real DANAConnect
 * when DANA_BASE_URL and credentials are set, and the batch pipeline (./pipeline.ts) on the upload folder
 * `$LOCAL_BUCKET_DIR` (default `.local/bucket`), whose job store and queue also serve `Prefer: respond-async` and
 * GET /jobs/{jobId}. A small composition of parts that each close themselves.
 */
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { MemoryScheduleStore } from '../lambdas/adapters/memory-schedule-store';
import { credentialsFromEnv } from '../lambdas/adapters/credentials';
import { ConfigurationError } from '../lambdas/core/errors';
import { ROUTES, type OperationName } from '../lambdas/http/routes';
import { startGateway, type Gateway } from './gateway';
import { startScheduleRunner } from './schedule-runner';
import { startPipeline, type Pipeline } from './pipeline';
import { DEMO_CLIENT, DEMO_USER, startSandbox, type Sandbox } from './sandbox/server';

const CREDENTIAL_VARIABLES = [
  'DANA_SECRET_ID',
  'DANA_USERNAME',
  'DANA_COMPANY_CODE',
  'DANA_PASSWORD',
  'DANA_CLIENT_ID',
  'DANA_CLIENT_SECRET',
];

export interface LocalRun {
  gateway: Gateway;
  /** Present when the embedded sandbox stands in for DANAConnect. */
  sandbox?: Sandbox;
  /** Which DANAConnect the handlers talk to, for the banner. */
  upstream: string;
  /** The upload folder's pipeline (and the async API's job store and queue). */
  pipeline: Pipeline;
  /** The `x-api-key` generated for this run (a real DANAConnect and no LOCAL_API_KEY), to be printed once. */
  generatedApiKey?: string;
  close(): Promise<void>;
}

/** Safe local defaults: nothing may probe instance metadata or pick up a stray AWS account. */
function setLocalDefaults(env: NodeJS.ProcessEnv): void {
  if (!env.AWS_ACCESS_KEY_ID && !env.AWS_PROFILE) {
    env.AWS_ACCESS_KEY_ID = 'local';
    env.AWS_SECRET_ACCESS_KEY = 'local';
  }
  env.AWS_REGION ??= 'us-east-1';
  env.AWS_EC2_METADATA_DISABLED ??= 'true';
  // The readable request line is the local log; structured JSON only for refusals and failures, no EMF blobs.
  env.POWERTOOLS_LOG_LEVEL ??= 'WARN';
  env.POWERTOOLS_METRICS_DISABLED ??= 'true';
}

/** Points the handlers at the sandbox with its demo credentials (API 2.0 when DANA_API_VERSION=2.0). */
function useSandbox(env: NodeJS.ProcessEnv, sandbox: Sandbox): string {
  for (const name of CREDENTIAL_VARIABLES) delete env[name];
  env.DANA_BASE_URL = sandbox.url;
  env.DANA_TOKEN_URL = sandbox.tokenUrl;
  if (env.DANA_API_VERSION === '2.0') {
    env.DANA_CLIENT_ID = DEMO_CLIENT.clientId;
    env.DANA_CLIENT_SECRET = DEMO_CLIENT.clientSecret;
    return `embedded sandbox ${sandbox.url} (API 2.0, client ${DEMO_CLIENT.clientId})`;
  }
  env.DANA_API_VERSION = '1.0';
  env.DANA_USERNAME = DEMO_USER.username;
  env.DANA_COMPANY_CODE = DEMO_USER.companyCode;
  env.DANA_PASSWORD = DEMO_USER.password;
  return `embedded sandbox ${sandbox.url} (API 1.0, user ${DEMO_USER.username}@${DEMO_USER.companyCode})`;
}

/** The base URL as it may be printed: scheme, host and port only (never user:password@ or a query). */
export function printableOrigin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '(invalid DANA_BASE_URL)';
  }
}

/**
 * The key the local gateway requires. With a real DANAConnect behind it, a request that reaches the gateway by
 * mistake (another local program, a page finding a way round the Host/Origin guard) must not start real campaigns
 * or read real contacts: LOCAL_API_KEY, else a random key for this run. With the embedded sandbox, LOCAL_API_KEY
 * or none.
 */
export function localApiKey(
  env: NodeJS.ProcessEnv,
  realUpstream: boolean,
): { apiKey?: string; generated: boolean } {
  if (env.LOCAL_API_KEY) return { apiKey: env.LOCAL_API_KEY, generated: false };
  if (!realUpstream) return { generated: false };
  return { apiKey: randomBytes(24).toString('base64url'), generated: true };
}

export async function startLocal(
  env: NodeJS.ProcessEnv = process.env,
  options: { log?: (line: string) => void } = {},
): Promise<LocalRun> {
  setLocalDefaults(env);
  const closers: (() => Promise<void>)[] = [];
  let sandbox: Sandbox | undefined;
  let upstream: string;
  if (env.DANA_BASE_URL) {
    // Fail now, naming the missing variable, rather than on the first request.
    const version = env.DANA_SECRET_ID ? 'from secret' : `API ${credentialsFromEnv(env).apiVersion}`;
    upstream = `${printableOrigin(env.DANA_BASE_URL)} (${version})`;
  } else {
    sandbox = await startSandbox({ port: Number(env.SANDBOX_PORT || 0) });
    closers.push(() => sandbox!.close());
    upstream = useSandbox(env, sandbox);
  }
  // The worker's client reads the same DANA_* variables as the gateway's handlers: same DANAConnect.
  const pipeline = await startPipeline({ env, log: options.log });
  closers.unshift(() => pipeline.close());
  const key = localApiKey(env, sandbox === undefined);
  const schedules = new MemoryScheduleStore();
  const gateway = await startGateway({
    port: Number(env.PORT || 3000),
    jobs: pipeline.jobDeps,
    bucketDir: pipeline.bucketDir,
    schedules,
    log: options.log,
    apiKey: key.apiKey,
  });
  closers.unshift(() => gateway.close());
  // Runtime schedules (POST /schedules) run in this process, firing start-list as Scheduler does in AWS.
  const scheduleRunner = startScheduleRunner({ store: schedules, log: options.log });
  closers.unshift(async () => scheduleRunner.close());
  return {
    gateway,
    sandbox,
    upstream,
    pipeline,
    generatedApiKey: key.generated ? key.apiKey : undefined,
    async close() {
      for (const close of closers) await close();
    },
  };
}

/** The routes with a ready-to-paste example; get-job needs a job id, which the async example prints. */
type ExampleRoute = Exclude<
  OperationName,
  | 'get-job'
  | 'list-jobs'
  | 'get-job-report'
  | 'create-upload'
  | 'create-schedule'
  | 'list-schedules'
  | 'get-schedule'
  | 'replace-schedule'
  | 'delete-schedule'
  // The alias routes get their own lines in the banner (put, then start through the alias).
  | 'put-alias'
  | 'list-aliases'
  | 'get-alias'
  | 'delete-alias'
>;

const EXAMPLES: Record<ExampleRoute, { path: string; body?: string; query?: string }> = {
  'start-list': { path: '/conversation/1001/start/list' },
  'start-data': { path: '/conversation/1001/start/data', body: '{"NAME":"Ada","EMAIL":"ada@example.org"}' },
  'start-data-by-project': {
    path: '/conversation/ProjectID/77/start/data',
    body: '{"NAME":"Grace","EMAIL":"grace@example.org"}',
  },
  'start-record': { path: '/conversation/1001/start/record/3663', body: '{"PLAN":"Gold"}' },
  'start-batch': {
    path: '/conversation/1001/start/list/data',
    body: '[{"NAME":"Alan","GENDER":"M"},{"NAME":"Joan","GENDER":"F"}]',
  },
  'get-contact-data': { path: '/conversation/data/lc-3663', query: '?fields=NAME,PLAN' },
};

/** One ready-to-paste curl per route, in an order that works on a fresh sandbox (record 3663 comes first). */
export function curlExamples(url: string, apiKey: boolean): string[] {
  const order: ExampleRoute[] = [
    'start-list',
    'start-data',
    'start-data-by-project',
    'start-record',
    'start-batch',
    'get-contact-data',
  ];
  return order.map((name) => {
    const route = ROUTES.find((r) => r.name === name)!;
    const example = EXAMPLES[name];
    const parts = [`curl -i -X ${route.method} '${url}/api/1.0/rest${example.path}${example.query ?? ''}'`];
    if (apiKey) parts.push(`-H "x-api-key: $LOCAL_API_KEY"`);
    if (example.body) parts.push(`-H 'Content-Type: application/json' -d '${example.body}'`);
    return `# ${route.summary}\n${parts.join(' ')}`;
  });
}

async function main(): Promise<void> {
  let run: LocalRun;
  try {
    run = await startLocal();
  } catch (error) {
    if (!(error instanceof ConfigurationError)) throw error;
    console.error(`Cannot start: ${error.message}`);
    process.exit(1);
  }
  const examples = curlExamples(run.gateway.url, Boolean(process.env.LOCAL_API_KEY || run.generatedApiKey));
  // The generated key is printed here, once, and nowhere else (it is not logged with requests).
  const keyLine = run.generatedApiKey
    ? `A real DANAConnect is configured and LOCAL_API_KEY is not set: every request needs this key (this run only):\n` +
      `export LOCAL_API_KEY=${run.generatedApiKey}\n`
    : '';
  console.log(`DANAConnect gateway listening on ${run.gateway.url}
Upstream: ${run.upstream}
${keyLine}${run.sandbox ? 'Sandbox: conversations 1001, 1002, 1003; project 77; new records get link codes lc-<recordId>.\n' : ''}
${examples.join('\n\n')}

# Asynchronously: add -H 'Prefer: respond-async' (and optionally -H 'Idempotency-Key: <your id>') to the start-data,
# ProjectID start-data or start-batch curl: the answer is 202 with Location: /jobs/<jobId>; GET it (curl -s ${run.gateway.url}/jobs/<jobId>).

# Aliases (a stable name for a conversation; after a reactivation, PUT the new id; docs/ALIASES.md):
# curl -i -X PUT '${run.gateway.url}/aliases/newsletter' -H 'Content-Type: application/json' -d '{"conversationId":1001}'
# curl -i -X POST '${run.gateway.url}/api/1.0/rest/conversation/newsletter/start/list'

# Schedules (run in this process, in any IANA time zone; docs/SCHEDULES.md):
# curl -i -X POST '${run.gateway.url}/schedules' -H 'Content-Type: application/json' -d '{"name":"weekday-reminders","conversation":1001,"cron":"cron(0 9 ? * MON-FRI *)","timezone":"America/Caracas"}'

Uploads: drop a .csv, .jsonl or .json file into ${run.pipeline.bucketDir}/uploads/<conversationId>/
Reports: ${run.pipeline.bucketDir}/reports/<conversationId>/<file name>.report.csv and .summary.json (a.csv -> a.csv.report.csv)
${process.env.LOCAL_WEBHOOK_URL ? 'Webhooks: every finished job is posted, signed, to LOCAL_WEBHOOK_URL (docs/EVENTS.md)\n' : ''}
Ctrl-C stops.`);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) process.exit(1); // a second signal: stop at once
    stopping = true;
    console.log(`${signal}: stopping`);
    run.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
