/**
 * A CDK app of floor functions, each built by the SAME house construct as every function of the stack
 * (infra/constructs/gateway-function.ts), so its esbuild options are the stack's by construction, not a copy:
 *
 * - `floor` (./handler.ts): one GetSecretValue with the Secrets Manager client, the single-client floor;
 * - one `floor-<clients>` per set of SDK clients named in BENCH_FLOOR_SETS (comma-separated floor names, e.g.
 *   `floor-dynamodb-secretsmanager-sqs`): one command with each of those clients (./clients.ts). The handlers are
 *   generated into bench/out/floors/ (git-ignored) because the sets come from the functions' own bundles.
 *
 * `npm run bench` synthesizes it with `cdk synth --app "npx tsx bench/floor/app.ts"`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Duration, Stack } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import { DanaSecret } from '../../infra/constructs/dana-secret';
import { GatewayFunction } from '../../infra/constructs/gateway-function';
import { PROJECT_ROOT } from '../../infra/gateway-stack';
import { clientsOfFloor, floorHandlerSource } from './clients';

/** The construct bundles `lambdas/<name>/handler.ts`; these names lead it to the handlers under bench/ instead. */
export const FLOOR_FUNCTION_NAME = '../bench/floor';
const GENERATED = '../bench/out/floors';
export const FLOOR_STACK = 'BenchFloor';

const app = new App();
const stack = new Stack(app, FLOOR_STACK);
const secret = new DanaSecret(stack, 'Secret', { source: 'create' });
const defaults = {
  projectRoot: PROJECT_ROOT,
  logRetention: logs.RetentionDays.ONE_MONTH,
  environment: {},
  dana: { secret, baseUrl: 'https://example.invalid' },
};
const common = { defaults, timeout: Duration.seconds(25), memorySize: 512, callsDana: true };
new GatewayFunction(stack, 'Floor', {
  ...common,
  name: FLOOR_FUNCTION_NAME,
  description: 'Benchmark floor: one GetSecretValue',
});

const sets = (process.env.BENCH_FLOOR_SETS ?? '').split(',').filter(Boolean);
for (const name of new Set(sets)) {
  const clients = clientsOfFloor(name);
  const dir = join(PROJECT_ROOT, 'lambdas', GENERATED, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'handler.ts'), floorHandlerSource(clients));
  new GatewayFunction(stack, name, {
    ...common,
    name: `${GENERATED}/${name}`,
    description: `Benchmark floor: one command with each of ${clients.join(', ')}`,
  });
}
app.synth();
