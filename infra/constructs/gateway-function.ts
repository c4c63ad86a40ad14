import { join } from 'node:path';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import {
  type BundlingOptions,
  NodejsFunction,
  OutputFormat,
  SourceMapMode,
} from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { DanaSecret } from './dana-secret';

/** Lambda's current Node.js runtime; the bundles target the same version. */
export const RUNTIME = lambda.Runtime.NODEJS_24_X;
export const ESBUILD_TARGET = 'node24';

/** How a function reaches DANAConnect: its URLs and the one secret it may read. */
export interface DanaAccess {
  secret: DanaSecret;
  baseUrl: string;
  tokenUrl?: string;
}

/** What every function of the stack shares; the stack builds this once. */
export interface FunctionDefaults {
  /** The repository root: a function's code is `lambdas/<name>/handler.ts` under it, exporting `handler`. */
  projectRoot: string;
  logRetention: logs.RetentionDays;
  /** Added to every function (Powertools settings). */
  environment: Record<string, string>;
  dana: DanaAccess;
  alarmAction?: cloudwatch.IAlarmAction;
}

export interface GatewayFunctionProps {
  defaults: FunctionDefaults;
  /** The handler's folder under `lambdas/`, e.g. `start-list`. */
  name: string;
  description: string;
  timeout: Duration;
  memorySize: number;
  /** Gets `DANA_BASE_URL`/`DANA_SECRET_ID` and read access to the DANAConnect secret. */
  callsDana: boolean;
  environment?: Record<string, string>;
  /** What the errors alarm tells the operator; by default, what an HTTP function's errors mean. */
  errorsRunbook?: string;
  /** Shell commands run after esbuild, e.g. to put files beside the bundle (the console's page). */
  afterBundling?: (inputDir: string, outputDir: string) => string[];
}

const HTTP_ERRORS_RUNBOOK =
  "An HTTP function answers DANAConnect's refusals and its own errors normally (they show in the API 5xx " +
  'alarm), so this is a crash, a timeout, or a failed scheduled start (also in the schedule dead-letter ' +
  'queue). Open its log group, filter level ERROR around the alarm time; "Task timed out" means DANAConnect ' +
  'was slow or unreachable.';

/**
 * ESM bundles may contain CommonJS dependencies that call `require` for Node built-ins; esbuild's ESM output
 * has no `require`, so the bundle gets one.
 */
const ESM_REQUIRE_BANNER =
  "import { createRequire as topLevelCreateRequire } from 'module'; const require = topLevelCreateRequire(import.meta.url);";

/** One minified ESM file with its source map, and the function's own after-bundling step if it has one. */
function bundlingOf(props: GatewayFunctionProps): BundlingOptions {
  return {
    format: OutputFormat.ESM,
    target: ESBUILD_TARGET,
    platform: 'node',
    minify: true,
    sourceMap: true,
    sourceMapMode: SourceMapMode.DEFAULT,
    // Stack traces need the mappings, not the sources: keeps the artifact small.
    sourcesContent: false,
    mainFields: ['module', 'main'],
    externalModules: [],
    metafile: true,
    banner: ESM_REQUIRE_BANNER,
    ...(props.afterBundling && {
      commandHooks: {
        beforeBundling: () => [],
        beforeInstall: () => [],
        afterBundling: props.afterBundling,
      },
    }),
  };
}

/** The house settings, the function's own, and where DANAConnect is for a function that calls it. */
function environmentOf({ defaults, ...props }: GatewayFunctionProps): Record<string, string> {
  const environment: Record<string, string> = {
    NODE_OPTIONS: '--enable-source-maps',
    ...defaults.environment,
    ...props.environment,
  };
  if (props.callsDana) {
    environment.DANA_BASE_URL = defaults.dana.baseUrl;
    environment.DANA_SECRET_ID = defaults.dana.secret.secretId;
    if (defaults.dana.tokenUrl) environment.DANA_TOKEN_URL = defaults.dana.tokenUrl;
  }
  return environment;
}

/**
 * One of our functions, with the house defaults said once: Node.js 24 on ARM64, an ESM bundle (minified, source
 * maps on at run time, the AWS SDK bundled so its version is the tested one, esbuild's metafile kept for size
 * benchmarks), its own log group with the configured retention, its own role with only what it is granted (no
 * AWS-managed policy), and an alarm on its errors.
 */
export class GatewayFunction extends Construct {
  readonly function: NodejsFunction;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;
  readonly errorsAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: GatewayFunctionProps) {
    super(scope, id);
    const { defaults } = props;

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: defaults.logRetention,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Runs the ${props.name} function`,
    });
    // What AWSLambdaBasicExecutionRole would give, narrowed to this function's own log group.
    this.logGroup.grantWrite(this.role);

    this.function = new NodejsFunction(this, 'Function', {
      entry: join(defaults.projectRoot, 'lambdas', props.name, 'handler.ts'),
      handler: 'handler',
      projectRoot: defaults.projectRoot,
      depsLockFilePath: join(defaults.projectRoot, 'package-lock.json'),
      description: props.description,
      runtime: RUNTIME,
      architecture: lambda.Architecture.ARM_64,
      timeout: props.timeout,
      memorySize: props.memorySize,
      role: this.role,
      logGroup: this.logGroup,
      environment: environmentOf(props),
      bundling: bundlingOf(props),
    });
    if (props.callsDana) defaults.dana.secret.grantRead(this.role);

    this.errorsAlarm = new cloudwatch.Alarm(this, 'ErrorsAlarm', {
      alarmDescription: `The ${props.name} function threw or timed out. ${props.errorsRunbook ?? HTTP_ERRORS_RUNBOOK}`,
      metric: this.function.metricErrors({ period: Duration.minutes(5), statistic: cloudwatch.Stats.SUM }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    if (defaults.alarmAction) this.errorsAlarm.addAlarmAction(defaults.alarmAction);
  }
}
