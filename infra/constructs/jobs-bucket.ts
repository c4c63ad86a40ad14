import { CfnResource, Duration, Lazy, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3n from 'aws-cdk-lib/aws-s3-notifications';
import { Construct } from 'constructs';
import type { BucketLifecycle } from '../config';
import type { DataEncryption } from './data-encryption';

/** Where uploads land (one job per object version) and where their reports are written. */
export const UPLOADS_PREFIX = 'uploads/';
export const REPORTS_PREFIX = 'reports/';

/**
 * House defaults for every bucket: no public access whatever an ACL or policy says, TLS only, encrypted with
 * S3-managed keys, kept when the stack is deleted (and never emptied by it).
 *
 * SSE-S3 by default: server access log buckets must use SSE-S3 anyway; every uploader (people and systems outside
 * this stack) would otherwise need grants on a key too; and who may read an object is already decided by IAM and
 * this bucket's policy. With `encryption: "customer-managed"` the jobs bucket uses the gateway's key instead (and
 * the key's policy lets uploaders and readers use it through S3: see DataEncryption and docs/SECURITY.md).
 */
const BUCKET_DEFAULTS = {
  blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
  enforceSSL: true,
  encryption: s3.BucketEncryption.S3_MANAGED,
  objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
  removalPolicy: RemovalPolicy.RETAIN,
  autoDeleteObjects: false,
} as const;

/** The stack-wide singleton CDK creates for bucket notifications (aws-s3's NotificationsResourceHandler). */
const NOTIFICATIONS_HANDLER_ID = 'BucketNotificationsHandler050a0587b7544547bf325f094a3db834';

export interface JobsBucketProps {
  lifecycle: BucketLifecycle;
  /** Retention of the log group of CDK's notification handler (it runs on deploys only). */
  logRetention: logs.RetentionDays;
  /** `encryption: "customer-managed"`: the bucket's default encryption is SSE-KMS with this key. */
  encryption?: DataEncryption;
  /**
   * `uploaders` of the configuration: when set, the bucket policy denies s3:PutObject under `uploads/` to every
   * principal but these (and the gateway's own roles given grantUpload).
   */
  uploaders?: readonly string[];
}

/**
 * The jobs bucket: uploads under `uploads/`, reports under `reports/`, versioned (an upload's job is tied to its
 * version, and an overwritten report can be recovered), each prefix with its own expiry, server access logs in a
 * bucket of their own. Grants name a prefix and the exact S3 actions the adapters use.
 */
export class JobsBucket extends Construct {
  readonly bucket: s3.Bucket;
  readonly accessLogs: s3.Bucket;
  private readonly props: JobsBucketProps;
  /** The role of CDK's notification handler; see scopeNotificationsHandler. */
  private readonly notificationsHandlerRole: iam.Role;
  /** The gateway's roles that put uploads (grantUpload): let through the `uploaders` restriction. */
  private readonly uploadRoles: string[] = [];
  /** The origins of the one CORS rule (allowBrowserOrigins), read at synth. */
  private readonly browserOrigins: string[] = [];

  constructor(scope: Construct, id: string, props: JobsBucketProps) {
    super(scope, id);
    // Access logs are delivered under a bucket policy (logging.s3.amazonaws.com, this bucket as source) rather
    // than the log-delivery ACL: ACLs stay disabled on every bucket. (CDK's flag; new CDK projects set it.)
    this.node.setContext('@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy', true);
    this.props = props;
    const { lifecycle } = props;

    this.accessLogs = this.accessLogsBucket(lifecycle);

    // CDK invokes one handler function at deploy time to set the bucket's notifications, and adds the AWS-managed
    // AWSLambdaBasicExecutionRole (logs in every log group) to its role. The role is ours, and CDK only sees an
    // immutable view of it, so nothing is added behind our back: scopeNotificationsHandler grants what it needs.
    this.notificationsHandlerRole = new iam.Role(this, 'NotificationsHandlerRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: "Runs CDK's handler that sets the jobs bucket's event notifications (deploys only)",
    });

    const prefixRule = (id: string, prefix: string, days: number): s3.LifecycleRule => ({
      id,
      prefix,
      expiration: Duration.days(days),
      noncurrentVersionExpiration: Duration.days(lifecycle.noncurrentVersionsDays),
      abortIncompleteMultipartUploadAfter: Duration.days(lifecycle.incompleteMultipartUploadDays),
    });
    const key = props.encryption?.key;
    this.bucket = new s3.Bucket(this, 'Bucket', {
      ...BUCKET_DEFAULTS,
      // Server access logs must stay SSE-S3; the data bucket may use the customer-managed key (with an S3 Bucket
      // Key, so KMS is asked once per bucket key, not per object).
      ...(key && { encryption: s3.BucketEncryption.KMS, encryptionKey: key, bucketKeyEnabled: true }),
      versioned: true,
      serverAccessLogsBucket: this.accessLogs,
      serverAccessLogsPrefix: 'jobs-bucket/',
      lifecycleRules: [
        prefixRule('ExpireUploads', UPLOADS_PREFIX, lifecycle.uploadsDays),
        prefixRule('ExpireReports', REPORTS_PREFIX, lifecycle.reportsDays),
        // An expired current version leaves a delete marker; once its noncurrent versions are gone it is removed.
        { id: 'RemoveExpiredDeleteMarkers', expiredObjectDeleteMarker: true },
      ],
      notificationsHandlerRole: iam.Role.fromRoleArn(
        this,
        'NotificationsHandlerRoleView',
        this.notificationsHandlerRole.roleArn,
        { mutable: false },
      ),
    });
    this.restrictUploads(props.uploaders ?? []);
    this.letPeopleUseTheKey(props);
  }

  /** Where the jobs bucket's server access logs go, kept for `accessLogsDays`. */
  private accessLogsBucket(lifecycle: BucketLifecycle): s3.Bucket {
    const accessLogs = new s3.Bucket(this, 'AccessLogs', {
      ...BUCKET_DEFAULTS,
      lifecycleRules: [
        {
          id: 'ExpireAccessLogs',
          expiration: Duration.days(lifecycle.accessLogsDays),
          abortIncompleteMultipartUploadAfter: Duration.days(lifecycle.incompleteMultipartUploadDays),
        },
      ],
    });
    Validations.of(accessLogs).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        "This bucket receives the jobs bucket's server access logs; logging its own log deliveries would only " +
        'log the logging (S3 advises against a bucket logging to itself).',
    });
    return accessLogs;
  }

  /**
   * With `uploaders`: nobody else puts objects under `uploads/` (an explicit deny, which no IAM policy of the
   * account overrides). `aws:PrincipalArn` is the role's ARN for its sessions, so roles are named, not sessions.
   */
  private restrictUploads(uploaders: readonly string[]): void {
    if (uploaders.length === 0) return;
    this.bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'OnlyUploadersPutUploads',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['s3:PutObject'],
        resources: [this.bucket.arnForObjects(`${UPLOADS_PREFIX}*`)],
        conditions: {
          ArnNotLike: {
            'aws:PrincipalArn': Lazy.list({ produce: () => [...uploaders, ...this.uploadRoles] }),
          },
        },
      }),
    );
  }

  /**
   * With a key the stack created: the people and systems outside the stack that put uploads (the `uploaders`, or
   * any principal IAM allows when none are named) and read reports (any principal IAM and this bucket allow)
   * use it through S3 only. The gateway's roles get theirs with each grant below.
   */
  private letPeopleUseTheKey(props: JobsBucketProps): void {
    const encryption = props.encryption;
    if (!encryption) return;
    encryption.grantAccount('s3', 'read-write', props.uploaders ?? []);
    if ((props.uploaders ?? []).length > 0) encryption.grantAccount('s3', 'read');
  }

  /**
   * For a gateway role that puts uploads (e.g. one that signs upload forms): s3:PutObject on `uploads/*`, the key
   * through S3, and a place among the `uploaders` the bucket policy lets through.
   */
  grantUpload(grantee: iam.Role): void {
    this.grantOnPrefix(grantee, UPLOADS_PREFIX, ['s3:PutObject'], 'puts an upload');
    this.props.encryption?.grant(grantee, 's3', 'read-write');
    this.uploadRoles.push(grantee.roleArn);
  }

  /** s3:GetObject on `reports/*`: for a role that signs report links (GET /jobs/{jobId}/report). */
  grantReadReports(grantee: iam.Role): void {
    this.grantOnPrefix(grantee, REPORTS_PREFIX, ['s3:GetObject'], 'signs links that read a report');
    this.props.encryption?.grant(grantee, 's3', 'read');
  }

  /**
   * CORS for the operator console (its own origin when enabled, and `console.allowedOrigins`): a browser on one of
   * these origins may post the presigned upload forms and follow the presigned report links; no other origin, and
   * none at all by default. Each call adds its origins to the one rule.
   */
  allowBrowserOrigins(origins: readonly string[]): void {
    if (origins.length === 0) return;
    const first = this.browserOrigins.length === 0;
    this.browserOrigins.push(...origins.filter((o) => !this.browserOrigins.includes(o)));
    if (!first) return;
    this.bucket.addCorsRule({
      allowedOrigins: Lazy.list({ produce: () => [...this.browserOrigins] }),
      allowedMethods: [s3.HttpMethods.POST, s3.HttpMethods.GET],
      allowedHeaders: ['*'],
      exposedHeaders: ['ETag'],
      maxAge: 600,
    });
  }

  /** Invokes `fn` for every object created under `uploads/`. */
  notifyOnUpload(fn: lambda.IFunction): void {
    this.bucket.addEventNotification(s3.EventType.OBJECT_CREATED, new s3n.LambdaDestination(fn), {
      prefix: UPLOADS_PREFIX,
    });
    this.scopeNotificationsHandler();
  }

  /** s3:GetObject and s3:GetObjectVersion (an upload is read at the version its event names) on `uploads/*`. */
  grantReadUploads(grantee: iam.Role): void {
    this.grantOnPrefix(grantee, UPLOADS_PREFIX, ['s3:GetObject', 's3:GetObjectVersion'], 'reads an upload');
    this.props.encryption?.grant(grantee, 's3', 'read');
  }

  /** s3:PutObject (single and multipart) and s3:AbortMultipartUpload on `reports/*`. */
  grantWriteReports(grantee: iam.Role): void {
    this.grantOnPrefix(
      grantee,
      REPORTS_PREFIX,
      ['s3:PutObject', 's3:AbortMultipartUpload'],
      'writes a report',
    );
    // A multipart upload decrypts its parts' data keys too.
    this.props.encryption?.grant(grantee, 's3', 'read-write');
  }

  private grantOnPrefix(grantee: iam.Role, prefix: string, actions: string[], what: string): void {
    iam.Grant.addToPrincipal({ grantee, actions, resourceArns: [this.bucket.arnForObjects(`${prefix}*`)] });
    const bucketId = Stack.of(this).getLogicalId(this.bucket.node.defaultChild as s3.CfnBucket);
    Validations.of(grantee).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/${prefix}*]`,
      reason:
        `Object keys are chosen at run time (by uploaders, or from the upload's name): the function ${what} ` +
        `under the ${prefix} prefix of the jobs bucket only, with exactly the actions it calls.`,
    });
  }

  /** Gives the handler its permissions, and its own log group with the configured retention. */
  private scopeNotificationsHandler(): void {
    if (this.node.tryFindChild('NotificationsHandlerLogs')) return;
    const handlerFunction = Stack.of(this)
      .node.tryFindChild(NOTIFICATIONS_HANDLER_ID)
      ?.node.tryFindChild('Resource');
    const notifications = this.bucket.node.tryFindChild('Notifications')?.node.tryFindChild('Resource');
    if (!(handlerFunction instanceof CfnResource) || !notifications) {
      throw new Error(
        'CDK changed how it sets bucket notifications: review JobsBucket.scopeNotificationsHandler',
      );
    }
    const logGroup = new logs.LogGroup(this, 'NotificationsHandlerLogs', {
      logGroupName: `/aws/lambda/${handlerFunction.ref}`,
      retention: this.props.logRetention,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const policy = new iam.Policy(this, 'NotificationsHandlerPolicy', {
      roles: [this.notificationsHandlerRole],
      statements: [
        new iam.PolicyStatement({
          // A bucket of this stack is "managed": the handler puts the whole configuration, it reads nothing.
          actions: ['s3:PutBucketNotification'],
          resources: [this.bucket.bucketArn],
        }),
        new iam.PolicyStatement({
          actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
          resources: [logGroup.logGroupArn],
        }),
      ],
    });
    // The handler runs once the custom resource is created: by then its permissions and log group exist.
    notifications.node.addDependency(policy, logGroup);
  }
}
