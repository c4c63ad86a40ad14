/**
 * A CDK app with one function: the floor handler (./handler.ts), built by the SAME house construct as every
 * function of the stack (infra/constructs/gateway-function.ts), so its esbuild options are the stack's by
 * construction, not a copy. `npm run bench` synthesizes it with `cdk synth --app "npx tsx bench/floor/app.ts"`.
 */
import { App, Duration, Stack } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import { DanaSecret } from '../../infra/constructs/dana-secret';
import { GatewayFunction } from '../../infra/constructs/gateway-function';
import { PROJECT_ROOT } from '../../infra/gateway-stack';

/** The construct bundles `lambdas/<name>/handler.ts`; these names lead it to the handlers under bench/ instead. */
export const FLOOR_FUNCTION_NAME = '../bench/floor';
/** Informational: the four SDK clients the batch functions need (../floor-batch/handler.ts). */
export const BATCH_FLOOR_FUNCTION_NAME = '../bench/floor-batch';
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
new GatewayFunction(stack, 'FloorBatch', {
  ...common,
  name: BATCH_FLOOR_FUNCTION_NAME,
  description:
    'Benchmark floor for batch functions: one call with each of S3, SQS, DynamoDB, Secrets Manager',
});
app.synth();
