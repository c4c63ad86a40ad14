import { fileURLToPath } from 'node:url';
import { CfnOutput, Duration, RemovalPolicy, Stack, Validations, type StackProps } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Construct } from 'constructs';
import { takesConversationRef } from '../lambdas/http/conversation-ref';
import { ROUTES, type OperationName } from '../lambdas/http/routes';
import type { GatewayConfig } from './config';
import { BatchPipeline } from './constructs/batch-pipeline';
import { DanaSecret } from './constructs/dana-secret';
import { DataEncryption } from './constructs/data-encryption';
import { GatewayApi } from './constructs/gateway-api';
import { GatewayFunction, type FunctionDefaults } from './constructs/gateway-function';
import { JobsApi } from './constructs/jobs-api';
import { JobEvents } from './constructs/job-events';
import { OperatorConsole } from './constructs/operator-console';
import { ScheduledStarts } from './constructs/scheduled-starts';

/**
 * HTTP functions' timeout. The DANAConnect client gives each attempt 8 s and schedules no retry later than 10 s
 * after the first attempt, so one call ends within 10 + 8 = 18 s; reading the secret and (API 2.0) fetching a
 * token on a cold start add a little. 25 s lets the function always answer with its own typed error (504, 502)
 * instead of being cut off, and stays under API Gateway's 29 s integration timeout.
 */
export const HTTP_FUNCTION_TIMEOUT = Duration.seconds(25);
/** More memory is more CPU: 512 MB keeps the cold start of a bundled SDK short at a small cost. */
export const HTTP_FUNCTION_MEMORY_MB = 512;

export const SERVICE_NAME = 'dana-gateway';
export const METRICS_NAMESPACE = 'DanaGateway';

/** The repository root: functions are bundled from `lambdas/` under it. */
export const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface GatewayStackProps extends StackProps {
  config: GatewayConfig;
  projectRoot?: string;
}

/** The batch pipeline's own functions (not behind a route). */
export type BatchFunctionName = 'ingest-upload' | 'process-chunk';
export type FunctionName = OperationName | BatchFunctionName;

/** `start-data-by-project` → `StartDataByProject`: construct ids, and so logical ids, that read well. */
const pascal = (name: string) => name.replace(/(^|-)([a-z])/g, (_, __, c: string) => c.toUpperCase());

/** The Lambda function behind each operation, as the API and the console route to them. */
const lambdasByOperation = (http: Record<OperationName, GatewayFunction>) =>
  Object.fromEntries(Object.entries(http).map(([name, fn]) => [name, fn.function])) as Record<
    OperationName,
    GatewayFunction['function']
  >;

export class GatewayStack extends Stack {
  readonly config: GatewayConfig;
  /** `encryption`: the customer-managed key (if any) and who may use it (docs/SECURITY.md). */
  readonly encryption: DataEncryption;
  readonly alarmTopic: sns.Topic;
  readonly secret: DanaSecret;
  readonly functionDefaults: FunctionDefaults;
  readonly batch: BatchPipeline;
  readonly functions: Record<FunctionName, GatewayFunction>;
  readonly api: GatewayApi;
  readonly jobsApi: JobsApi;
  readonly schedules: ScheduledStarts;
  readonly jobEvents: JobEvents;
  /** Absent with `console.enabled: false`. */
  readonly operatorConsole?: OperatorConsole;

  constructor(scope: Construct, id: string, props: GatewayStackProps) {
    super(scope, id, props);
    const { config } = props;
    this.config = config;
    this.encryption = new DataEncryption(this, 'Encryption', {
      mode: config.encryption,
      keyArn: config.encryptionKeyArn,
    });
    this.alarmTopic = this.alarmTopicFor(config);
    const alarmAction = new cloudwatchActions.SnsAction(this.alarmTopic);
    this.secret = new DanaSecret(this, 'DanaCredentials', config.secret, this.encryption);
    this.functionDefaults = this.functionDefaultsFor(config, props.projectRoot ?? PROJECT_ROOT, alarmAction);
    this.batch = new BatchPipeline(this, 'Batch', {
      config: config.batch,
      defaults: this.functionDefaults,
      encryption: this.encryption,
      uploaders: config.uploaders,
    });
    const http = this.httpFunctions();
    this.functions = { ...http, 'ingest-upload': this.batch.ingest, 'process-chunk': this.batch.worker };
    this.jobsApi = new JobsApi(this, 'JobsApi', {
      batch: this.batch,
      config,
      functions: {
        getJob: http['get-job'],
        listJobs: http['list-jobs'],
        getJobReport: http['get-job-report'],
        createUpload: http['create-upload'],
      },
    });
    // Job Finished events from the functions that settle jobs, and the signed webhooks (docs/EVENTS.md).
    this.jobEvents = new JobEvents(this, 'JobEvents', {
      busName: config.events.busName,
      webhooks: config.webhooks,
      publishers: [this.batch.ingest, this.batch.worker],
      defaults: this.functionDefaults,
      encryptionKey: this.encryption.key,
      alarmAction,
    });

    this.api = this.gatewayApiFor(config, http, alarmAction);
    if (config.apiGatewayAccountRole === 'create') this.setApiGatewayAccountRole();
    // The operator console (docs/CONSOLE.md): its page, Cognito user pool and /console/api on the same API.
    if (config.console.enabled) this.operatorConsole = this.addOperatorConsole(config, http);

    // Always: the runtime schedules API (POST /schedules) needs the group, the scheduler role and the DLQ.
    this.schedules = new ScheduledStarts(this, 'Schedules', {
      encryption: this.encryption,
      starts: config.scheduledStarts,
      target: this.functions['start-list'].function,
      alarmAction,
    });
    this.schedules.grantManageSchedules(this.functions['create-schedule']);
    // The alias API (one function for its four routes) on the jobs table's `aliases` partition only.
    this.batch.grantManageAliases(this.functions['put-alias']);
    this.addOutputs();
  }

  /** What every function of the stack shares: the code root, log settings and the DANAConnect credentials. */
  private functionDefaultsFor(
    config: GatewayConfig,
    projectRoot: string,
    alarmAction: cloudwatchActions.SnsAction,
  ): FunctionDefaults {
    return {
      projectRoot,
      logRetention: config.logRetentionDays,
      environment: {
        POWERTOOLS_SERVICE_NAME: `${SERVICE_NAME}-${config.stage}`,
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
        POWERTOOLS_LOG_LEVEL: config.logLevel,
      },
      dana: { secret: this.secret, baseUrl: config.danaBaseUrl, tokenUrl: config.danaTokenUrl },
      alarmAction,
    };
  }

  private gatewayApiFor(
    config: GatewayConfig,
    http: Record<OperationName, GatewayFunction>,
    alarmAction: cloudwatchActions.SnsAction,
  ): GatewayApi {
    return new GatewayApi(this, 'Http', {
      apiName: `${SERVICE_NAME}-${config.stage}`,
      stageName: config.stage,
      routes: ROUTES,
      functions: lambdasByOperation(http),
      auth: config.auth,
      throttling: config.throttling,
      apiKeys: config.apiKeys,
      callerThrottles: config.callerThrottles,
      logRetention: config.logRetentionDays,
      alarmAction,
    });
  }

  /** Where every alarm of the stack goes, with the configured e-mail subscriptions. */
  private alarmTopicFor(config: GatewayConfig): sns.Topic {
    const topic = new sns.Topic(this, 'AlarmTopic', {
      displayName: `DANAConnect gateway (${config.stage}) alarms`,
      enforceSSL: true,
      // Encrypted in either mode (see DataEncryption.topicKey).
      masterKey: this.encryption.topicKey(),
    });
    // The topic's own policy replaces SNS's default one, so CloudWatch alarms of this account are let in by name.
    topic.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [topic.topicArn],
        conditions: {
          StringEquals: { 'aws:SourceAccount': this.account },
          ArnLike: {
            'aws:SourceArn': `arn:${this.partition}:cloudwatch:${this.region}:${this.account}:alarm:*`,
          },
        },
      }),
    );
    for (const email of config.alarmEmails) {
      topic.addSubscription(new subscriptions.EmailSubscription(email));
    }
    return topic;
  }

  private addOperatorConsole(
    config: GatewayConfig,
    http: Record<OperationName, GatewayFunction>,
  ): OperatorConsole {
    const operatorConsole = new OperatorConsole(this, 'Console', {
      api: this.api.api,
      routes: ROUTES,
      functions: lambdasByOperation(http),
      defaults: this.functionDefaults,
      mfa: config.console.mfa,
      stageName: config.stage,
      connectOrigins: [`https://${this.batch.bucket.bucket.bucketRegionalDomainName}`],
      domainPrefix: `dana-console-${config.stage.toLowerCase()}-${this.account}`,
    });
    // The page's own origin (the API's), so its uploads and report links work without configuring it.
    this.batch.bucket.allowBrowserOrigins([
      `https://${this.api.api.restApiId}.execute-api.${this.region}.${this.urlSuffix}`,
    ]);
    new CfnOutput(this, 'ConsoleUrl', {
      description: 'The operator console (operators are added with aws cognito-idp admin-create-user)',
      value: this.api.api.urlForPath('/console/'),
    });
    new CfnOutput(this, 'ConsoleUserPoolId', {
      description: "The console operators' user pool",
      value: operatorConsole.userPool.userPoolId,
    });
    return operatorConsole;
  }

  /**
   * One function per operation, named after its route. Routes that create records may answer
   * `Prefer: respond-async` by queueing a job; a route that does not call DANAConnect is answered from the
   * jobs table alone (GET /jobs/{jobId}).
   */
  private httpFunctions(): Record<OperationName, GatewayFunction> {
    const shared = new Map<string, GatewayFunction>();
    return Object.fromEntries(
      ROUTES.map((route) => {
        if (route.function !== undefined) return [route.name, this.sharedFunction(route.function, shared)];
        const fn = new GatewayFunction(this, pascal(route.name), {
          defaults: this.functionDefaults,
          name: route.name,
          description: `${route.method} ${route.path}: ${route.summary}`.slice(0, 256),
          timeout: HTTP_FUNCTION_TIMEOUT,
          memorySize: HTTP_FUNCTION_MEMORY_MB,
          callsDana: route.callsDana,
        });
        if (route.respondAsync) this.batch.grantEnqueue(fn);
        // The jobs API's other routes get exactly their own grants (./constructs/jobs-api.ts).
        if (route.name === 'get-job') this.batch.grantReadJobs(fn);
        // `{conversationId}` may be an alias (lambdas/http/conversation-ref.ts): read-only on the aliases.
        if (takesConversationRef(route)) this.batch.grantResolveAliases(fn);
        return [route.name, fn];
      }),
    ) as Record<OperationName, GatewayFunction>;
  }

  /**
   * One function for the routes that name the same `function` folder (`lambdas/<folder>/handler.ts`), built on
   * the first of them. Such an API neither calls DANAConnect nor queues jobs; its own grants are wired where its
   * store is (the schedules API: ScheduledStarts.grantManageSchedules).
   */
  private sharedFunction(folder: string, shared: Map<string, GatewayFunction>): GatewayFunction {
    let fn = shared.get(folder);
    if (!fn) {
      const routes = ROUTES.filter((r) => r.function === folder);
      fn = new GatewayFunction(this, `${pascal(folder)}Api`, {
        defaults: this.functionDefaults,
        name: folder,
        description: `${routes.map((r) => `${r.method} ${r.path}`).join(', ')}`.slice(0, 256),
        timeout: HTTP_FUNCTION_TIMEOUT,
        memorySize: HTTP_FUNCTION_MEMORY_MB,
        callsDana: routes.some((r) => r.callsDana),
      });
      shared.set(folder, fn);
    }
    return fn;
  }

  /** What an operator needs after a deploy: the URL, the secret to fill in, the keys and the dead letters. */
  private addOutputs(): void {
    new CfnOutput(this, 'ApiUrl', {
      value: this.api.api.url,
      description: 'Base URL of the API (append /api/1.0/rest/conversation/...)',
    });
    new CfnOutput(this, 'DanaSecretId', {
      value: this.secret.secretId,
      description: 'The secret to put the DANAConnect credentials JSON in',
    });
    new CfnOutput(this, 'AlarmTopicArn', {
      value: this.alarmTopic.topicArn,
      description: 'Subscribe to receive alarms',
    });
    this.addBatchOutputs();
    if (this.api.apiKey) {
      new CfnOutput(this, 'ApiKeyId', {
        value: this.api.apiKey.keyId,
        description: 'aws apigateway get-api-key --include-value --api-key <id> shows the key',
      });
    }
    if (this.api.callerKeys.length > 0) {
      new CfnOutput(this, 'CallerApiKeyIds', {
        value: this.toJsonString(Object.fromEntries(this.api.callerKeys.map((k) => [k.name, k.key.keyId]))),
        description: "Each caller's API key id, by name (docs/SECURITY.md shows how to rotate one)",
      });
    }
    if (this.encryption.key) {
      new CfnOutput(this, 'EncryptionKeyArn', {
        value: this.encryption.key.keyArn,
        description: 'The customer-managed key of the bucket, queues, table, secret and alarm topic',
      });
    }
    new CfnOutput(this, 'ScheduleDeadLetterQueueUrl', {
      value: this.schedules.deadLetters.queue.queueUrl,
      description: 'Scheduled list starts that did not run',
    });
  }

  /** The batch pipeline's bucket, queues, table and ingest function, for uploads and redrives. */
  private addBatchOutputs(): void {
    const batch = this.batch;
    new CfnOutput(this, 'BucketName', {
      value: batch.bucket.bucket.bucketName,
      description:
        'Upload files to uploads/{conversationId}/; reports appear under reports/{conversationId}/',
    });
    new CfnOutput(this, 'ChunkQueueUrl', {
      value: batch.chunks.queue.queueUrl,
      description: 'The chunk queue (npm run redrive --queue)',
    });
    new CfnOutput(this, 'ChunkDeadLetterQueueUrl', {
      value: batch.chunks.deadLetters.queue.queueUrl,
      description: 'Chunks that failed every receive (npm run redrive --dlq)',
    });
    new CfnOutput(this, 'ChunkRedriveRoleArn', {
      value: batch.redriveRole.roleArn,
      description: 'Assume this role to run npm run redrive (the chunk queue takes no other sender)',
    });
    new CfnOutput(this, 'JobsTableName', {
      value: batch.table.table.tableName,
      description: 'Jobs, their chunks and row outcomes',
    });
    new CfnOutput(this, 'IngestFunctionName', {
      value: batch.ingest.function.functionName,
      description: 'Invoke again with an S3 event from the ingest dead-letter queue',
    });
    new CfnOutput(this, 'IngestDeadLetterQueueUrl', {
      value: batch.ingestFailures.queue.queueUrl,
      description: 'Uploads whose ingest failed after retries',
    });
  }

  /**
   * API Gateway writes execution logs through one role per account and region. This sets it, with an inline
   * policy limited to API Gateway's own log groups instead of the AWS-managed policy (which allows any log group).
   * The role is retained on stack deletion so the account setting never points at a deleted role.
   */
  private setApiGatewayAccountRole(): void {
    const logGroupArn = (name: string) =>
      `arn:${this.partition}:logs:${this.region}:${this.account}:log-group:${name}`;
    const role = new iam.Role(this, 'ApiGatewayLoggingRole', {
      assumedBy: new iam.ServicePrincipal('apigateway.amazonaws.com'),
      description: 'Lets API Gateway write execution logs (account-wide setting)',
      inlinePolicies: {
        ExecutionLogs: new iam.PolicyDocument({
          statements: [
            new iam.PolicyStatement({
              actions: ['logs:DescribeLogGroups'],
              resources: [logGroupArn('*')],
            }),
            new iam.PolicyStatement({
              actions: [
                'logs:CreateLogGroup',
                'logs:CreateLogStream',
                'logs:DescribeLogStreams',
                'logs:PutLogEvents',
                'logs:GetLogEvents',
                'logs:FilterLogEvents',
              ],
              resources: [logGroupArn('API-Gateway-Execution-Logs_*'), logGroupArn('/aws/apigateway/*')],
            }),
          ],
        }),
      },
    });
    role.applyRemovalPolicy(RemovalPolicy.RETAIN);
    const account = new apigateway.CfnAccount(this, 'ApiGatewayAccount', { cloudWatchRoleArn: role.roleArn });
    // Execution logging can only be switched on once the account has its role.
    this.api.api.deploymentStage.node.addDependency(account);
    // API Gateway names its log groups per API and stage (`API-Gateway-Execution-Logs_<api id>/<stage>`) for every
    // REST API of the account; the one account-wide role cannot name them one by one.
    const wildcards: Record<string, string> = {
      'log-group:*': 'DescribeLogGroups only: it lists groups and takes no narrower resource.',
      'log-group:API-Gateway-Execution-Logs_*':
        'The execution log groups API Gateway creates, one per REST API and stage of the account and region.',
      'log-group:/aws/apigateway/*':
        'The group API Gateway writes to when the logging role is first set, and the access log groups, which ' +
        'API Gateway also writes through this role (`/aws/apigateway/access-logs/<api id>/<stage>`).',
    };
    for (const [resource, why] of Object.entries(wildcards)) {
      Validations.of(role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:${resource}]`,
        reason:
          `${why} The role is the account's API Gateway logging role, shared by every REST API; this is still ` +
          'narrower than the AWS-managed AmazonAPIGatewayPushToCloudWatchLogs policy (every log group).',
      });
    }
  }
}
