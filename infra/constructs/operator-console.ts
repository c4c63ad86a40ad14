/**
 * The operator console in AWS (docs/CONSOLE.md): one page and its API on the stack's own API, same origin.
 *
 * - `GET /console/` and `GET /console/{file}`: the page, served by the console function (lambdas/console), whose
 *   bundling writes the built page next to its handler (console/build-cli.ts). The page is public: it holds no data.
 * - `/console/api/…`: every operator route (jobs, uploads, aliases, schedules) again, integrated with THE SAME
 *   functions as the IAM routes, behind a Cognito user pool authorizer (the functions see `operator:<sub>`,
 *   lambdas/http/request.ts). The callers' IAM or API-key routes are unchanged.
 * - The user pool: no self sign-up (an admin adds operators), TOTP MFA `required` or `optional` (config), no SMS,
 *   hosted sign-in on a Cognito domain, one public app client with the authorization code grant (PKCE; no
 *   secret, no implicit grant), its only callback the console's own URL.
 *
 * Same origin rather than a CloudFront distribution in front of both: no second origin, no CORS on the API, and the
 * page's CSP can stay `'self'` but for the bucket (presigned uploads and report links) and Cognito's token endpoint.
 */
import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import type { OperationName, RouteSpec } from '../../lambdas/http/routes';
import { GatewayFunction, type FunctionDefaults } from './gateway-function';

/** The routes an operator uses: everything but the DANAConnect pass-through routes (`/api/1.0/rest/…`). */
export const isOperatorRoute = (route: RouteSpec): boolean => !route.path.startsWith('/api/');

export const CONSOLE_API_PREFIX = '/console/api';

export interface OperatorConsoleProps {
  api: apigateway.RestApi;
  routes: readonly RouteSpec[];
  functions: Record<OperationName, lambda.IFunction>;
  defaults: FunctionDefaults;
  /** TOTP for every operator (`required`, the default) or for those who set it up (`optional`). */
  mfa: 'required' | 'optional';
  /** Origins the page calls besides its own: the jobs bucket's (presigned POST, report links). */
  connectOrigins: readonly string[];
  /** The API's stage name (the console's URL is `…/<stage>/console/`). */
  stageName: string;
  /** Names the hosted sign-in domain: `<prefix>.auth.<region>.amazoncognito.com`. */
  domainPrefix: string;
}

export class OperatorConsole extends Construct {
  readonly userPool: cognito.UserPool;
  readonly client: cognito.UserPoolClient;
  readonly domain: cognito.UserPoolDomain;
  readonly authorizer: apigateway.CognitoUserPoolsAuthorizer;
  readonly pageFunction: GatewayFunction;
  /** Every console API method, by operation name. */
  readonly apiMethods: Record<string, apigateway.Method> = {};
  readonly pageMethods: apigateway.Method[] = [];

  constructor(scope: Construct, id: string, props: OperatorConsoleProps) {
    super(scope, id);
    this.userPool = operatorPool(this, props.mfa);
    this.domain = this.userPool.addDomain('SignIn', { cognitoDomain: { domainPrefix: props.domainPrefix } });
    // Built from the API's id and the stage's name, not from the stage: the client must not depend on the stage,
    // whose deployment depends (through the page function's environment) on the client.
    const stack = Stack.of(this);
    const consoleUrl = `https://${props.api.restApiId}.execute-api.${stack.region}.${stack.urlSuffix}/${props.stageName}/console/`;
    this.client = this.userPool.addClient('Page', {
      generateSecret: false,
      authFlows: {},
      preventUserExistenceErrors: true,
      oAuth: {
        flows: { authorizationCodeGrant: true, implicitCodeGrant: false },
        scopes: [cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL],
        callbackUrls: [consoleUrl],
        logoutUrls: [consoleUrl],
      },
      idTokenValidity: Duration.hours(1),
      accessTokenValidity: Duration.hours(1),
      refreshTokenValidity: Duration.hours(8),
      enableTokenRevocation: true,
    });
    this.authorizer = new apigateway.CognitoUserPoolsAuthorizer(this, 'Authorizer', {
      cognitoUserPools: [this.userPool],
      authorizerName: 'operators',
    });
    this.pageFunction = this.pageServer(props);
    this.addPage(props.api);
    this.addApi(props);
    this.acknowledgeFindings(props.mfa);
  }

  /** The function that serves the page, with the built page beside its handler. */
  private pageServer(props: OperatorConsoleProps): GatewayFunction {
    const region = Stack.of(this).region;
    return new GatewayFunction(this, 'Page', {
      defaults: props.defaults,
      name: 'console',
      description: 'GET /console/: the operator console page and its files',
      timeout: Duration.seconds(5),
      memorySize: 256,
      callsDana: false,
      environment: {
        CONSOLE_AUTH_DOMAIN: `https://${this.domain.domainName}.auth.${region}.amazoncognito.com`,
        CONSOLE_CLIENT_ID: this.client.userPoolClientId,
        CONSOLE_CONNECT_ORIGINS: [
          `https://${this.domain.domainName}.auth.${region}.amazoncognito.com`,
          ...props.connectOrigins,
        ].join(' '),
      },
      afterBundling: (inputDir, outputDir) => [
        `cd "${inputDir}" && node_modules/.bin/tsx console/build-cli.ts "${outputDir}/console"`,
      ],
    });
  }

  /** `/console/` and `/console/{file}`: no authorizer (the page holds no data; its API calls need one). */
  private addPage(api: apigateway.RestApi): void {
    const integration = new apigateway.LambdaIntegration(this.pageFunction.function, {
      allowTestInvoke: false,
    });
    const page = api.root.resourceForPath('/console');
    this.pageMethods.push(
      page.addMethod('GET', integration, {
        operationName: 'console-page',
        authorizationType: apigateway.AuthorizationType.NONE,
      }),
      page.addResource('{file}').addMethod('GET', integration, {
        operationName: 'console-file',
        authorizationType: apigateway.AuthorizationType.NONE,
        requestParameters: { 'method.request.path.file': true },
      }),
    );
  }

  /** Each operator route under /console/api, to the same function, behind the Cognito authorizer. */
  private addApi(props: OperatorConsoleProps): void {
    for (const route of props.routes.filter(isOperatorRoute)) {
      this.apiMethods[route.name] = props.api.root
        .resourceForPath(`${CONSOLE_API_PREFIX}${route.path}`)
        .addMethod(
          route.method,
          new apigateway.LambdaIntegration(props.functions[route.name], { allowTestInvoke: false }),
          {
            operationName: `console-${route.name}`,
            authorizer: this.authorizer,
            authorizationType: apigateway.AuthorizationType.COGNITO,
          },
        );
    }
  }

  /** The cdk-nag findings the console answers by design, each with why. */
  private acknowledgeFindings(mfa: OperatorConsoleProps['mfa']): void {
    if (mfa === 'optional') {
      Validations.of(this.userPool).acknowledge({
        id: 'AwsSolutions-COG2',
        reason:
          'The operator chose "console": {"mfa": "optional"} in the configuration: operators may set up TOTP but ' +
          'are not made to. The default is "required".',
      });
    }
    const publicPage =
      'The console page, its script and its stylesheet are public static files holding no data; every API call ' +
      'the page makes goes to /console/api, behind the Cognito authorizer.';
    for (const method of this.pageMethods) {
      Validations.of(method).acknowledge({ id: 'AwsSolutions-APIG4', reason: publicPage });
      Validations.of(method).acknowledge({ id: 'AwsSolutions-COG4', reason: publicPage });
    }
    Validations.of(this.userPool).acknowledge({
      id: 'AwsSolutions-COG8',
      reason:
        'The Plus feature plan (threat protection: adaptive authentication, compromised passwords) is priced per user; operators are few, admin-created ' +
        'and sign in with TOTP MFA (required by default). Turn it on with the pool feature plan if the risk warrants it.',
    });
  }
}

/** Operators only: no self sign-up, sign-in by e-mail, a strong password and TOTP (never SMS). */
function operatorPool(scope: Construct, mfa: OperatorConsoleProps['mfa']): cognito.UserPool {
  return new cognito.UserPool(scope, 'Operators', {
    selfSignUpEnabled: false,
    signInAliases: { email: true },
    autoVerify: { email: true },
    mfa: mfa === 'required' ? cognito.Mfa.REQUIRED : cognito.Mfa.OPTIONAL,
    mfaSecondFactor: { otp: true, sms: false },
    passwordPolicy: {
      minLength: 12,
      requireLowercase: true,
      requireUppercase: true,
      requireDigits: true,
      requireSymbols: true,
      tempPasswordValidity: Duration.days(3),
    },
    accountRecovery: cognito.AccountRecovery.EMAIL_ONLY,
    deletionProtection: true,
    removalPolicy: RemovalPolicy.RETAIN,
  });
}
