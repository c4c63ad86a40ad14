/**
 * Warm per-request overhead, in a process of its own: one request through a route's real handler (a real-shaped
 * API Gateway event in, the proxy result out: middy, Powertools logger and metrics, event parsing, validation,
 * error envelope) against the same call made with the DanaClient directly. Both talk to the sandbox
 * (BENCH_DANA_URL, another process, with whatever latency it was started with) over loopback. After a warm-up,
 * blocks of each alternate so that the machine's noise falls on both alike. Logs and metrics go to stdout, as
 * in Lambda (a file here).
 *
 * BENCH_WARM_ROUTE: `get-contact-data` (GET, reads a record) or `start-data` (POST, starts a new record).
 */
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { apiGatewayEvent, lambdaContext, withBody } from '../../test/fixtures/events';
import type { DanaClient } from '../../lambdas/core/dana-client';
import { sandboxClient, sandboxEnv } from '../lib/dana';
import { reportResult } from '../lib/proc';

const WARMUP = Number(process.env.BENCH_WARM_WARMUP ?? 500);
const BLOCKS = Number(process.env.BENCH_WARM_BLOCKS ?? 20);
const PER_BLOCK = Number(process.env.BENCH_WARM_PER_BLOCK ?? 200);
const ROUTE = process.env.BENCH_WARM_ROUTE ?? 'get-contact-data';
const FIELDS = ['NAME', 'EMAIL', 'PHONE_NUMBER'];
const RECORD = { NAME: 'Bench', EMAIL: 'bench@example.com', PHONE_NUMBER: '+10000000000' };

const baseUrl = process.env.BENCH_DANA_URL!;
// What the stack gives the function; a variable already set wins (for experiments, e.g. POWERTOOLS_LOG_LEVEL).
process.env = {
  ...sandboxEnv(baseUrl),
  POWERTOOLS_SERVICE_NAME: 'dana-gateway-bench',
  POWERTOOLS_METRICS_NAMESPACE: 'DanaGateway',
  POWERTOOLS_LOG_LEVEL: 'INFO',
  ...process.env,
};

const client = sandboxClient(baseUrl);

interface Route {
  event: APIGatewayProxyEvent;
  direct: (client: DanaClient) => Promise<{ status: number }>;
}

/** GET contact-data of a record created for it (the sandbox gives every new record the link code lc-<id>). */
async function contactDataRoute(): Promise<Route> {
  const created = await client.startData(1001, RECORD);
  const idResult = (created.body as { wsResult?: { idResult: number } }).wsResult?.idResult;
  if (idResult === undefined) throw new Error(`could not create the record to read (${created.status})`);
  const danaparam = `lc-${idResult}`;
  const event = apiGatewayEvent('get-contact-data');
  event.path = `/api/1.0/rest/conversation/data/${danaparam}`;
  event.pathParameters = { danaparam };
  event.queryStringParameters = { fields: FIELDS.join(',') };
  event.multiValueQueryStringParameters = { fields: [FIELDS.join(',')] };
  return { event, direct: (c) => c.getContactData(danaparam, FIELDS) };
}

/** POST start/data of conversation 1001 with one record (a synchronous start: no Prefer header). */
function startDataRoute(): Route {
  const event = withBody(apiGatewayEvent('start-data'), JSON.stringify(RECORD));
  return { event, direct: (c) => c.startData(1001, RECORD) };
}

const route = ROUTE === 'start-data' ? startDataRoute() : await contactDataRoute();
const { handler } = (await import(`../../lambdas/${ROUTE}/handler.ts`)) as {
  handler: (
    e: APIGatewayProxyEvent,
    c: ReturnType<typeof lambdaContext>,
  ) => Promise<{ statusCode: number; body: string }>;
};

async function throughHandler(): Promise<number> {
  const context = lambdaContext(ROUTE);
  const began = performance.now();
  const result = await handler(route.event, context);
  const ms = performance.now() - began;
  if (result.statusCode !== 200) throw new Error(`handler answered ${result.statusCode}: ${result.body}`);
  return ms;
}

async function direct(): Promise<number> {
  const began = performance.now();
  const answer = await route.direct(client);
  const ms = performance.now() - began;
  if (answer.status !== 200) throw new Error(`DANAConnect answered ${answer.status}`);
  return ms;
}

for (let i = 0; i < WARMUP; i++) {
  await throughHandler();
  await direct();
}
const ours: number[] = [];
const floor: number[] = [];
for (let b = 0; b < BLOCKS; b++) {
  const [first, second] = b % 2 === 0 ? [throughHandler, direct] : [direct, throughHandler];
  for (let i = 0; i < PER_BLOCK; i++) (first === throughHandler ? ours : floor).push(await first());
  for (let i = 0; i < PER_BLOCK; i++) (second === throughHandler ? ours : floor).push(await second());
}
reportResult({ route: ROUTE, ours, floor, warmup: WARMUP, blocks: BLOCKS, perBlock: PER_BLOCK });
