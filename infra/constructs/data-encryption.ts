import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import type { EncryptionMode } from '../security-config';

/** The AWS services that use the key for the gateway's data, by the name in `kms:ViaService`. */
export type KeyService = 'dynamodb' | 'sqs' | 's3' | 'secretsmanager' | 'sns';
/** What a principal does with the data: read it (decrypt) or also write it (encrypt, new data keys). */
export type KeyUse = 'read' | 'read-write';

/** The KMS actions behind each use: SQS, S3, DynamoDB and Secrets Manager ask for data keys and decrypt them. */
export const KEY_ACTIONS: Record<KeyUse, readonly string[]> = {
  read: ['kms:Decrypt', 'kms:DescribeKey'],
  'read-write': ['kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey'],
};

/**
 * Key administration for the account (IAM decides who): everything but using the key. Without it nobody could
 * manage or delete the key; it lets no one encrypt or decrypt.
 */
export const KEY_ADMIN_ACTIONS = [
  'kms:Create*',
  'kms:Describe*',
  'kms:Enable*',
  'kms:List*',
  'kms:Put*',
  'kms:Update*',
  'kms:Revoke*',
  'kms:Disable*',
  'kms:Get*',
  'kms:Delete*',
  'kms:TagResource',
  'kms:UntagResource',
  'kms:ScheduleKeyDeletion',
  'kms:CancelKeyDeletion',
];

export interface DataEncryptionProps {
  mode: EncryptionMode;
  /** With `customer-managed`: an existing key. Absent: the stack creates one. */
  keyArn?: string;
}

/**
 * The key that encrypts the gateway's data at rest (`encryption` in the configuration, docs/SECURITY.md):
 *
 * - `aws-managed` (the default): no key of ours; each resource keeps its AWS-owned or AWS-managed key. `key` is
 *   undefined and grants add nothing.
 * - `customer-managed`: one symmetric KMS key, created by the stack (rotation on, kept when the stack is deleted)
 *   or named by ARN, for the bucket, the queues, the table, the created secret and the alarm topic.
 *
 * A created key's policy lets the account administer it (no use), and lets each role use it only through the one
 * service it calls (`kms:ViaService`), each added by `grant` as the constructs grant their resources. A key named
 * by ARN keeps its own policy: `grant` then adds the same rights to the role's IAM policy, and the key's policy
 * must let IAM policies of this account use it (the default key policy does).
 */
export class DataEncryption extends Construct {
  readonly mode: EncryptionMode;
  /** The customer-managed key, or undefined with `aws-managed`. */
  readonly key: kms.IKey | undefined;
  /** The key the stack created (so its policy is ours to write). */
  readonly created: kms.Key | undefined;
  private cloudWatchGranted = false;
  private readonly sendersGranted = new Set<string>();

  constructor(scope: Construct, id: string, props: DataEncryptionProps) {
    super(scope, id);
    this.mode = props.mode;
    if (props.mode === 'aws-managed') return;
    if (props.keyArn) {
      this.key = kms.Key.fromKeyArn(this, 'Key', props.keyArn);
      return;
    }
    const policy = new iam.PolicyDocument({
      statements: [
        new iam.PolicyStatement({
          sid: 'AccountAdministersTheKey',
          principals: [new iam.AccountRootPrincipal()],
          actions: KEY_ADMIN_ACTIONS,
          resources: ['*'],
        }),
      ],
    });
    this.created = new kms.Key(this, 'Key', {
      description:
        'Encrypts the DANAConnect gateway data at rest (bucket, queues, table, secret, alarm topic)',
      enableKeyRotation: true,
      pendingWindow: Duration.days(30),
      removalPolicy: RemovalPolicy.RETAIN,
      policy,
    });
    this.key = this.created;
  }

  /**
   * The key of the alarm topic, encrypted in either mode. CloudWatch alarms cannot publish to a topic under the
   * AWS-managed `aws/sns` key (its policy cannot be changed to let CloudWatch in), so with `aws-managed` the topic
   * gets a small key of its own; otherwise the data key, which lets CloudWatch in when the stack created it.
   */
  topicKey(): kms.IKey {
    if (this.key) {
      this.grantCloudWatch();
      return this.key;
    }
    const existing = this.node.tryFindChild('AlarmTopicKey') as kms.Key | undefined;
    if (existing) return existing;
    const key = new kms.Key(this, 'AlarmTopicKey', {
      description: 'Encrypts the DANAConnect gateway alarm topic (CloudWatch alarms publish to it)',
      enableKeyRotation: true,
      pendingWindow: Duration.days(30),
      removalPolicy: RemovalPolicy.DESTROY,
      policy: new iam.PolicyDocument({
        statements: [
          new iam.PolicyStatement({
            sid: 'AccountAdministersTheKey',
            principals: [new iam.AccountRootPrincipal()],
            actions: KEY_ADMIN_ACTIONS,
            resources: ['*'],
          }),
          cloudWatchPublishes(Stack.of(this).account),
        ],
      }),
    });
    return key;
  }

  /** `kms:ViaService` of `service` in this stack's region. */
  viaService(service: KeyService): string {
    return `${service}.${Stack.of(this).region}.amazonaws.com`;
  }

  /** Lets `grantee` (a role of the stack) use the key for `use`, only through `service`. Nothing with `aws-managed`. */
  grant(grantee: iam.IGrantable, service: KeyService, use: KeyUse): void {
    if (!this.key) return;
    const conditions = { StringEquals: { 'kms:ViaService': this.viaService(service) } };
    if (this.created) {
      this.created.addToResourcePolicy(
        new iam.PolicyStatement({
          principals: [grantee.grantPrincipal],
          actions: [...KEY_ACTIONS[use]],
          resources: ['*'],
          conditions,
        }),
      );
      return;
    }
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: [...KEY_ACTIONS[use]], resources: [this.key.keyArn], conditions }),
    );
  }

  /**
   * Lets principals of this account use the key through `service` when IAM (and the resource's own policy) lets
   * them use the resource: for the data people and systems outside the stack handle (uploads and reports in the
   * bucket, the credentials an operator puts in the secret). `principalArns` narrows it to those principals.
   */
  grantAccount(service: KeyService, use: KeyUse, principalArns: readonly string[] = []): void {
    if (!this.created) return;
    this.created.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.AccountRootPrincipal()],
        actions: [...KEY_ACTIONS[use]],
        resources: ['*'],
        conditions: {
          StringEquals: { 'kms:ViaService': this.viaService(service) },
          ...(principalArns.length > 0 && { ArnLike: { 'aws:PrincipalArn': [...principalArns] } }),
        },
      }),
    );
  }

  /**
   * The key for a queue that an AWS service sends to on the stack's behalf (EventBridge rules dead-lettering):
   * the created key, whose policy then lets that service of this account use it, through SQS only. Undefined with
   * `aws-managed`, and with a key named by ARN, whose policy the stack cannot change (such a queue keeps
   * SQS-managed encryption rather than lose the service's messages; docs/SECURITY.md).
   */
  keyForServiceSender(servicePrincipal: string): kms.IKey | undefined {
    if (!this.created) return undefined;
    const sid = `${servicePrincipal.split('.')[0]}SendsToQueues`;
    if (this.sendersGranted.has(sid)) return this.created;
    this.sendersGranted.add(sid);
    this.created.addToResourcePolicy(
      new iam.PolicyStatement({
        sid,
        principals: [new iam.ServicePrincipal(servicePrincipal)],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: ['*'],
        conditions: {
          StringEquals: {
            'aws:SourceAccount': Stack.of(this).account,
            'kms:ViaService': this.viaService('sqs'),
          },
        },
      }),
    );
    return this.created;
  }

  /** Lets CloudWatch alarms of this account publish to the topic under the created key (once). */
  private grantCloudWatch(): void {
    if (!this.created || this.cloudWatchGranted) return;
    this.cloudWatchGranted = true;
    this.created.addToResourcePolicy(cloudWatchPublishes(Stack.of(this).account));
  }
}

/**
 * CloudWatch alarms of `account` publishing to an encrypted topic: SNS asks for a data key (GenerateDataKey*) and
 * decrypts it (Decrypt) on CloudWatch's behalf.
 */
function cloudWatchPublishes(account: string): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: 'CloudWatchAlarmsPublishToTheAlarmTopic',
    principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
    actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
    resources: ['*'],
    conditions: { StringEquals: { 'aws:SourceAccount': account } },
  });
}
