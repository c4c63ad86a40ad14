/**
 * Warm per-request overhead, in a process of its own: one GET contact-data request through the get-contact-data
 * handler (a real-shaped API Gateway event in, the proxy result out: middy, Powertools logger and metrics, event
 * parsing, validation, error envelope) against the same call made with the DanaClient directly. Both talk to the
 * sandbox (BENCH_DANA_URL, another process) over loopback. After a warm-up, blocks of each alternate so that
 * the machine's noise falls on both alike. Logs and metrics go to stdout, as in Lambda (a file here).
 */
import { apiGatewayEvent, lambdaContext } from '../../test/fixtures/events';
import { sandboxClient, sandboxEnv } from '../lib/dana';
import { reportResult } from '../lib/proc';

const WARMUP = Number(process.env.BENCH_WARM_WARMUP ?? 500);
const BLOCKS = Number(process.env.BENCH_WARM_BLOCKS ?? 20);
const PER_BLOCK = Number(process.env.BENCH_WARM_PER_BLOCK ?? 200);
const FIELDS = ['NAME', 'EMAIL', 'PHONE_NUMBER'];

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

// A record to read: the sandbox gives every new record the link code lc-<recordId>.
const created = await client.startData(1001, {
  NAME: 'Bench',
  EMAIL: 'bench@example.com',
  PHONE_NUMBER: '+10000000000',
});
const idResult = (created.body as { wsResult?: { idResult: number } }).wsResult?.idResult;
if (idResult === undefined) throw new Error(`could not create the record to read (status ${created.status})`);
const danaparam = `lc-${idResult}`;

const { handler } = await import('../../lambdas/get-contact-data/handler');
const event = apiGatewayEvent('get-contact-data');
event.path = `/api/1.0/rest/conversation/data/${danaparam}`;
event.pathParameters = { danaparam };
event.queryStringParameters = { fields: FIELDS.join(',') };
event.multiValueQueryStringParameters = { fields: [FIELDS.join(',')] };

async function throughHandler(): Promise<number> {
  const context = lambdaContext('get-contact-data');
  const began = performance.now();
  const result = await handler(event, context);
  const ms = performance.now() - began;
  if (result.statusCode !== 200) throw new Error(`handler answered ${result.statusCode}: ${result.body}`);
  return ms;
}

async function direct(): Promise<number> {
  const began = performance.now();
  const answer = await client.getContactData(danaparam, FIELDS);
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
reportResult({ ours, floor, warmup: WARMUP, blocks: BLOCKS, perBlock: PER_BLOCK });
