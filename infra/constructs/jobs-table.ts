import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';

/** The item attribute DynamoDB deletes items by (epoch seconds); the job store sets it. */
export const EXPIRES_AT_ATTRIBUTE = 'expiresAt';

/**
 * The DynamoDB actions behind the job store and the rate limiter (lambdas/adapters/dynamo-*.ts): GetItem,
 * Query, PutItem, UpdateItem, BatchWriteItem, and TransactWriteItems (whose items need Put/Update/ConditionCheck).
 * test/infra checks these against the commands the adapters send.
 */
export const JOBS_READ_ACTIONS = ['dynamodb:GetItem', 'dynamodb:Query'] as const;
export const JOBS_WRITE_ACTIONS = [
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:BatchWriteItem',
  'dynamodb:ConditionCheckItem',
] as const;

/**
 * The one jobs table (jobs, chunks, rejected rows, the rate limiter's slot): pk/sk strings, items expire by
 * `expiresAt`, on-demand, point-in-time recovery, encrypted with the AWS-managed key (so reads and writes show
 * in CloudTrail under the account's own aws/dynamodb key), kept when the stack is deleted.
 */
export class JobsTable extends Construct {
  readonly table: dynamodb.Table;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
      timeToLiveAttribute: EXPIRES_AT_ATTRIBUTE,
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }

  /** Reads jobs and their outcomes (GET /jobs/{jobId}). */
  grantRead(grantee: iam.IGrantable): void {
    iam.Grant.addToPrincipal({
      grantee,
      actions: [...JOBS_READ_ACTIONS],
      resourceArns: [this.table.tableArn],
    });
  }

  /** Creates and updates jobs, chunks and the rate limiter's slot. */
  grantReadWrite(grantee: iam.IGrantable): void {
    iam.Grant.addToPrincipal({
      grantee,
      actions: [...JOBS_READ_ACTIONS, ...JOBS_WRITE_ACTIONS],
      resourceArns: [this.table.tableArn],
    });
  }
}
