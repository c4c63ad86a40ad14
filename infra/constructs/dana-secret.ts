import { ArnFormat, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import type { SecretConfig } from '../config';
import type { DataEncryption } from './data-encryption';

/**
 * The one secret that holds the DANAConnect credentials: created by the stack with a placeholder value, or an
 * existing one imported by name or ARN. `grantRead` is the only way a function gets at it, and it grants
 * `secretsmanager:GetSecretValue` on this secret alone (plus `kms:Decrypt` through Secrets Manager when the
 * secret is encrypted with a customer key).
 */
export class DanaSecret extends Construct {
  /** What the functions pass to GetSecretValue (`DANA_SECRET_ID`): the ARN, or the name when only that is known. */
  readonly secretId: string;
  /** The resource in policies: this secret's ARN (`<name>-??????` when imported by name). */
  readonly policyArn: string;
  /** The created secret, when the stack owns it. */
  readonly created: secretsmanager.Secret | undefined;
  private readonly kmsKeyArn: string | undefined;
  /** The customer-managed key of `encryption`, for the secret the stack creates. */
  private readonly encryption: DataEncryption | undefined;

  constructor(scope: Construct, id: string, config: SecretConfig, encryption?: DataEncryption) {
    super(scope, id);
    this.encryption = config.source === 'create' ? encryption : undefined;
    switch (config.source) {
      case 'create': {
        this.created = new secretsmanager.Secret(this, 'Secret', {
          description:
            'DANAConnect API credentials for the gateway. Replace the placeholder with ' +
            '{"username","companyCode","password"} (API 1.0) or {"clientId","clientSecret"} (API 2.0).',
          // A placeholder that the functions refuse with a clear "username is missing" until the operator sets it:
          // a made-up but well-formed credential would instead be sent to DANAConnect.
          generateSecretString: {
            secretStringTemplate: JSON.stringify({ placeholder: 'replace this value, see the README' }),
            generateStringKey: 'random',
            excludePunctuation: true,
          },
          ...(encryption?.key && { encryptionKey: encryption.key }),
        });
        // Whoever deploys the stack (creating the secret) and the operator who puts the credentials in it encrypt
        // through Secrets Manager; reading the value still takes GetSecretValue on this secret, which IAM decides.
        encryption?.grantAccount('secretsmanager', 'read-write');
        Validations.of(this.created).acknowledge({
          id: 'AwsSolutions-SMG4',
          reason:
            'The credentials are issued by DANAConnect (its account manager creates API users); no rotation ' +
            'Lambda can create new ones. Operators rotate by hand with put-secret-value; the functions re-read ' +
            'the secret after a 401 and every 5 minutes.',
        });
        this.secretId = this.created.secretArn;
        this.policyArn = this.created.secretArn;
        break;
      }
      case 'name':
        this.created = undefined;
        this.secretId = config.name;
        // Secrets Manager appends "-" and 6 random characters to a secret's name to form its ARN.
        this.policyArn = Stack.of(this).formatArn({
          service: 'secretsmanager',
          resource: 'secret',
          resourceName: `${config.name}-??????`,
          arnFormat: ArnFormat.COLON_RESOURCE_NAME,
        });
        break;
      case 'arn':
        this.created = undefined;
        this.secretId = config.arn;
        this.policyArn = config.arn;
        break;
    }
    this.kmsKeyArn = config.source === 'create' ? undefined : config.kmsKeyArn;
  }

  /** Lets `grantee` read this secret's value, and nothing else. */
  grantRead(grantee: iam.IGrantable): void {
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['secretsmanager:GetSecretValue'],
      resourceArns: [this.policyArn],
    });
    this.encryption?.grant(grantee, 'secretsmanager', 'read');
    if (this.kmsKeyArn) {
      grantee.grantPrincipal.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: ['kms:Decrypt'],
          resources: [this.kmsKeyArn],
          conditions: {
            StringEquals: { 'kms:ViaService': `secretsmanager.${Stack.of(this).region}.amazonaws.com` },
          },
        }),
      );
    }
  }
}
