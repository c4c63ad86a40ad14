import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { GATEWAY_ERRORS, type GatewayErrorCode } from '../../lambdas/core/errors';
import type { OperationName, RouteSpec } from '../../lambdas/http/routes';
import {
  FIELD_CODE_PATTERN,
  MAX_BATCH,
  MAX_FIELDS_PER_RECORD,
  MAX_VALUE_LENGTH,
} from '../../lambdas/core/validation';
import type { AuthMode } from '../config';
import type { ApiKeyConfig } from '../security-config';

/**
 * A record as ../../lambdas/core/validation.ts accepts it, as a JSON schema (draft 4, API Gateway's dialect):
 * field codes by the validator's own pattern, values string-ish, at most MAX_FIELDS_PER_RECORD fields.
 */
export function recordSchema(): apigateway.JsonSchema {
  return {
    schema: apigateway.JsonSchemaVersion.DRAFT4,
    type: apigateway.JsonSchemaType.OBJECT,
    minProperties: 1,
    maxProperties: MAX_FIELDS_PER_RECORD,
    patternProperties: {
      [FIELD_CODE_PATTERN.source]: {
        type: [
          apigateway.JsonSchemaType.STRING,
          apigateway.JsonSchemaType.NUMBER,
          apigateway.JsonSchemaType.BOOLEAN,
          apigateway.JsonSchemaType.NULL,
        ],
        maxLength: MAX_VALUE_LENGTH,
      },
    },
    additionalProperties: false,
  };
}

/** A batch for start/list/data: 1 to MAX_BATCH records. */
export function batchSchema(): apigateway.JsonSchema {
  const { schema: _draft, ...record } = recordSchema();
  return {
    schema: apigateway.JsonSchemaVersion.DRAFT4,
    type: apigateway.JsonSchemaType.ARRAY,
    minItems: 1,
    maxItems: MAX_BATCH,
    items: record,
  };
}

/**
 * API Gateway's own refusals (before any function runs) in the gateway's error envelope, with the status API
 * Gateway uses and the `idError` of the one error table.
 */
const GATEWAY_RESPONSES: [apigateway.ResponseType, GatewayErrorCode][] = [
  [apigateway.ResponseType.BAD_REQUEST_BODY, 'INVALID_INPUT'],
  [apigateway.ResponseType.BAD_REQUEST_PARAMETERS, 'INVALID_INPUT'],
  [apigateway.ResponseType.ACCESS_DENIED, 'FORBIDDEN'],
  [apigateway.ResponseType.MISSING_AUTHENTICATION_TOKEN, 'FORBIDDEN'],
  [apigateway.ResponseType.INVALID_SIGNATURE, 'FORBIDDEN'],
  [apigateway.ResponseType.EXPIRED_TOKEN, 'FORBIDDEN'],
  [apigateway.ResponseType.INVALID_API_KEY, 'FORBIDDEN'],
  [apigateway.ResponseType.THROTTLED, 'THROTTLED'],
  [apigateway.ResponseType.QUOTA_EXCEEDED, 'THROTTLED'],
  [apigateway.ResponseType.REQUEST_TOO_LARGE, 'PAYLOAD_TOO_LARGE'],
  [apigateway.ResponseType.UNSUPPORTED_MEDIA_TYPE, 'UNSUPPORTED_MEDIA_TYPE'],
  [apigateway.ResponseType.INTEGRATION_TIMEOUT, 'UPSTREAM_TIMEOUT'],
  [apigateway.ResponseType.DEFAULT_5XX, 'INTERNAL'],
];

/** Access log groups are named `<prefix><rest api id>/<stage>`: a prefix the API Gateway logging role may write to. */
export const ACCESS_LOG_GROUP_PREFIX = '/aws/apigateway/access-logs/';

/** One JSON line per request. Paths are logged as templates (`{danaparam}`), never with their values. */
const ACCESS_LOG_FIELDS = {
  requestId: '$context.requestId',
  extendedRequestId: '$context.extendedRequestId',
  requestTime: '$context.requestTime',
  httpMethod: '$context.httpMethod',
  resourcePath: '$context.resourcePath',
  status: '$context.status',
  protocol: '$context.protocol',
  responseLength: '$context.responseLength',
  responseLatency: '$context.responseLatency',
  integrationStatus: '$context.integration.status',
  integrationLatency: '$context.integration.latency',
  errorType: '$context.error.responseType',
  errorMessage: '$context.error.message',
  sourceIp: '$context.identity.sourceIp',
  caller: '$context.identity.userArn',
  apiKeyId: '$context.identity.apiKeyId',
};

export interface GatewayApiProps {
  /** The API's name: also the `ApiName` dimension of its metrics. */
  apiName: string;
  stageName: string;
  routes: readonly RouteSpec[];
  /** The function behind each route. */
  functions: Record<OperationName, lambda.IFunction>;
  auth: AuthMode;
  throttling: { rateLimit: number; burstLimit: number };
  /** `auth: "api-key"`: a key and usage plan per caller; empty: one key for all. */
  apiKeys?: readonly ApiKeyConfig[];
  /** `auth: "iam"`: a key and usage plan per named caller, sent with SigV4 (see CallerThrottle). */
  callerThrottles?: readonly ApiKeyConfig[];
  logRetention: logs.RetentionDays;
  alarmAction?: cloudwatch.IAlarmAction;
}

/**
 * The REST API, built from the route table: one resource path and method per route, each integrated with its
 * own function, each requiring authorization, each validated before a function runs. Stage throttling, JSON
 * access logs, error-level execution logs (never bodies), and an alarm on 5xx answers.
 */
export class GatewayApi extends Construct {
  readonly api: apigateway.RestApi;
  readonly accessLogs: logs.LogGroup;
  readonly methods: Record<string, apigateway.Method> = {};
  readonly serverErrorsAlarm: cloudwatch.Alarm;
  /** The one key of `auth: "api-key"` without `apiKeys`. */
  readonly apiKey: apigateway.IApiKey | undefined;
  /** One key and usage plan per caller (`apiKeys`, or `callerThrottles` with IAM). */
  readonly callerKeys: { name: string; key: apigateway.IApiKey; plan: apigateway.UsagePlan }[] = [];

  constructor(scope: Construct, id: string, props: GatewayApiProps) {
    super(scope, id);
    this.accessLogs = new logs.LogGroup(this, 'AccessLogs', {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.api = this.restApi(props);
    // API Gateway writes access logs through the account's one logging role (see the stack), whose policy allows
    // API Gateway's own log-group prefixes only: the group is named under `/aws/apigateway/`, by the API's id so
    // a group retained from a deleted stack never collides with a new one.
    (this.accessLogs.node.defaultChild as logs.CfnLogGroup).logGroupName =
      `${ACCESS_LOG_GROUP_PREFIX}${this.api.restApiId}/${props.stageName}`;
    this.addRoutes(props);
    this.addGatewayResponses();
    const callers = callerKeysOf(props);
    this.apiKey =
      props.auth === 'api-key' && callers.length === 0 ? this.addApiKey(props.throttling) : undefined;
    for (const caller of callers) this.callerKeys.push(this.addCallerKey(props.apiName, caller));
    if (props.auth === 'api-key') this.acknowledgeApiKeyAuth();
    this.acknowledgeFindings();
    this.serverErrorsAlarm = this.alarmOnServerErrors(props.alarmAction);
  }

  /** The API and its one stage: throttled, JSON access logs, error-level execution logs, never bodies. */
  private restApi(props: GatewayApiProps): apigateway.RestApi {
    return new apigateway.RestApi(this, 'Api', {
      restApiName: props.apiName,
      description: "Gateway to DANAConnect's Conversation API",
      endpointTypes: [apigateway.EndpointType.REGIONAL],
      // The account-wide CloudWatch role is the stack's business (see the stack), not this API's.
      cloudWatchRole: false,
      deployOptions: {
        stageName: props.stageName,
        throttlingRateLimit: props.throttling.rateLimit,
        throttlingBurstLimit: props.throttling.burstLimit,
        accessLogDestination: new apigateway.LogGroupLogDestination(this.accessLogs),
        accessLogFormat: apigateway.AccessLogFormat.custom(JSON.stringify(ACCESS_LOG_FIELDS)),
        loggingLevel: apigateway.MethodLoggingLevel.ERROR,
        // Data tracing would log request and answer bodies: personal data.
        dataTraceEnabled: false,
        metricsEnabled: true,
      },
    });
  }

  /** One method per route, integrated with its function, authorized, its parameters and body validated. */
  private addRoutes(props: GatewayApiProps): void {
    const paramsOnly = this.api.addRequestValidator('ParametersValidator', {
      validateRequestParameters: true,
      validateRequestBody: false,
    });
    const bodyAndParams = this.api.addRequestValidator('BodyValidator', {
      validateRequestParameters: true,
      validateRequestBody: true,
    });
    // `$default`: the schema applies whatever Content-Type the caller sends.
    const contentType = '$default';
    const recordModel = this.api.addModel('RecordModel', {
      modelName: 'Record',
      contentType,
      description: 'One record: field code to value',
      schema: recordSchema(),
    });
    const batchModel = this.api.addModel('BatchModel', {
      modelName: 'Batch',
      contentType,
      description: `1 to ${MAX_BATCH} records`,
      schema: batchSchema(),
    });

    for (const route of props.routes) {
      // An optional body cannot be said in JSON schema (an empty body is not JSON): that route's handler checks
      // its body with the same validator.
      const model = route.body === 'record' ? recordModel : route.body === 'batch' ? batchModel : undefined;
      this.methods[route.name] = this.api.root
        .resourceForPath(route.path)
        .addMethod(
          route.method,
          new apigateway.LambdaIntegration(props.functions[route.name], { allowTestInvoke: false }),
          {
            operationName: route.name,
            requestParameters: requestParametersOf(route),
            requestValidator: model ? bodyAndParams : paramsOnly,
            ...(model ? { requestModels: { [contentType]: model } } : {}),
            ...(props.auth === 'iam'
              ? {
                  authorizationType: apigateway.AuthorizationType.IAM,
                  // Per-caller throttles are usage plans, which API Gateway applies by API key only.
                  ...(callerKeysOf(props).length > 0 && { apiKeyRequired: true }),
                }
              : { authorizationType: apigateway.AuthorizationType.NONE, apiKeyRequired: true }),
          },
        );
    }
  }

  /** API Gateway's own refusals in the gateway's error envelope (GATEWAY_RESPONSES). */
  private addGatewayResponses(): void {
    for (const [type, code] of GATEWAY_RESPONSES) {
      const entry = GATEWAY_ERRORS[code];
      this.api.addGatewayResponse(`Response${type.responseType}`, {
        type,
        templates: {
          'application/json': `{"wsError":{"idError":${entry.idError},"errorDescription":$context.error.messageString}}`,
        },
      });
    }
  }

  /** `"auth": "api-key"`: one key in a usage plan with the stage's throttling. */
  private addApiKey(throttling: GatewayApiProps['throttling']): apigateway.IApiKey {
    const plan = this.api.addUsagePlan('UsagePlan', {
      description: 'Callers of the DANAConnect gateway',
      throttle: throttling,
      apiStages: [{ api: this.api, stage: this.api.deploymentStage }],
    });
    const apiKey = this.api.addApiKey('ApiKey', { description: 'Key for the DANAConnect gateway' });
    plan.addApiKey(apiKey);
    return apiKey;
  }

  /**
   * One caller's key in a usage plan of its own, with its own throttle (the stage's throttle still caps the sum).
   * The key's name is the caller's, so access logs (apiKeyId) and the console tell callers apart, and one caller's
   * key can be revoked or rotated alone.
   */
  private addCallerKey(apiName: string, caller: ApiKeyConfig): GatewayApi['callerKeys'][number] {
    const plan = this.api.addUsagePlan(`UsagePlan-${caller.name}`, {
      name: `${apiName}-${caller.name}`,
      description: `Caller "${caller.name}" of the DANAConnect gateway`,
      throttle: { rateLimit: caller.rateLimit, burstLimit: caller.burstLimit },
      apiStages: [{ api: this.api, stage: this.api.deploymentStage }],
    });
    const key = this.api.addApiKey(`ApiKey-${caller.name}`, {
      apiKeyName: `${apiName}-${caller.name}`,
      description: `Key of caller "${caller.name}" of the DANAConnect gateway`,
    });
    plan.addApiKey(key);
    return { name: caller.name, key, plan };
  }

  /** `"auth": "api-key"` is the operator's choice; cdk-nag's APIG4 asks for an authorizer. */
  private acknowledgeApiKeyAuth(): void {
    Validations.of(this).acknowledge({
      id: 'AwsSolutions-APIG4',
      reason:
        'The operator chose "auth": "api-key" in the configuration: every method requires an API key of the ' +
        "stack's usage plan. The default is IAM (SigV4) authorization on every method.",
    });
  }

  /** The cdk-nag findings this API answers by design, each with why. */
  private acknowledgeFindings(): void {
    Validations.of(this).acknowledge({
      id: 'AwsSolutions-COG4',
      reason:
        'Callers are backend systems, not end users: methods are authorized by IAM (SigV4) or, when the operator ' +
        'configures it, API keys. There is no user pool to authorize against.',
    });
    Validations.of(this.api.deploymentStage).acknowledge({
      id: 'AwsSolutions-APIG3',
      reason:
        'Every method requires SigV4 (or an API key), bodies and parameters are validated, and the stage is ' +
        'throttled; a WAF web ACL (about $6 a month plus per-request fees) adds little for server-to-server ' +
        'callers. Associate one if the API is ever exposed to browsers.',
    });
  }

  private alarmOnServerErrors(alarmAction: cloudwatch.IAlarmAction | undefined): cloudwatch.Alarm {
    const alarm = new cloudwatch.Alarm(this, 'ServerErrorsAlarm', {
      alarmDescription:
        'The API answered 5xx at least 5 times in 5 minutes. 502 = DANAConnect unreachable or answered ' +
        'malformed; 504 = DANAConnect did not answer in time; 500 = a gateway fault or misconfiguration (e.g. ' +
        'the secret still holds its placeholder). Check the access log group (status, integrationStatus) and ' +
        "the function's log with the requestId. A start that timed out may or may not have started: ask " +
        'DANAConnect before repeating it.',
      metric: this.api.deploymentStage.metricServerError({
        period: Duration.minutes(5),
        statistic: cloudwatch.Stats.SUM,
      }),
      threshold: 5,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    if (alarmAction) alarm.addAlarmAction(alarmAction);
    return alarm;
  }
}

/** The callers with keys of their own: `apiKeys` with API keys, `callerThrottles` with IAM. */
function callerKeysOf(props: GatewayApiProps): readonly ApiKeyConfig[] {
  return (props.auth === 'api-key' ? props.apiKeys : props.callerThrottles) ?? [];
}

/** The method's parameters: every path parameter required, every query parameter optional. */
function requestParametersOf(route: RouteSpec): Record<string, boolean> {
  const requestParameters: Record<string, boolean> = {};
  for (const [, param] of route.path.matchAll(/\{([^}]+)\}/g)) {
    requestParameters[`method.request.path.${param}`] = true;
  }
  for (const query of route.query) requestParameters[`method.request.querystring.${query}`] = false;
  return requestParameters;
}
