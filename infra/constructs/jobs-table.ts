import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import type { DataEncryption } from './data-encryption';
import { JOBS_LIST_INDEX, LIST_PK, LIST_SK } from '../../lambdas/adapters/dynamo-job-list';
import { TABLE_ACCESS, type TableAccess, type TableAccessKind } from './table-access';

/** The item attribute DynamoDB deletes items by (epoch seconds); the job store sets it. */
export const EXPIRES_AT_ATTRIBUTE = 'expiresAt';

/** The actions that only read; any other action of a grant writes (and so needs the key to encrypt). */
const READ_ONLY_ACTIONS: readonly string[] = ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query'];

/**
 * The one jobs table (jobs, chunks, rejected rows, the rate limiter's slot): pk/sk strings, items expire by
 * `expiresAt`, on-demand, point-in-time recovery, encrypted with the AWS-managed key (so reads and writes show
 * in CloudTrail under the account's own aws/dynamodb key) or the customer-managed key of `encryption`, kept when
 * the stack is deleted.
 */
export class JobsTable extends Construct {
  readonly table: dynamodb.Table;
  private readonly encryption: DataEncryption | undefined;

  constructor(scope: Construct, id: string, props: { encryption?: DataEncryption } = {}) {
    super(scope, id);
    this.encryption = props.encryption;
    const key = props.encryption?.key;
    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
      timeToLiveAttribute: EXPIRES_AT_ATTRIBUTE,
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      ...(key
        ? { encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED, encryptionKey: key }
        : { encryption: dynamodb.TableEncryption.AWS_MANAGED }),
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // The jobs list (GET /jobs): by owner, newest first; lambdas/adapters/dynamo-job-list.ts says why this shape.
    this.table.addGlobalSecondaryIndex({
      indexName: JOBS_LIST_INDEX,
      partitionKey: { name: LIST_PK, type: dynamodb.AttributeType.STRING },
      sortKey: { name: LIST_SK, type: dynamodb.AttributeType.STRING },
      projectionType: dynamodb.ProjectionType.INCLUDE,
      nonKeyAttributes: ['state'],
    });
  }

  /**
   * Exactly what one kind of function does with the table (./table-access.ts): its actions, on the table (or the
   * one index it names) alone,
   * only on items whose partition key matches its prefixes (`dynamodb:LeadingKeys`).
   */
  grantAccess(grantee: iam.IGrantable, kind: TableAccessKind): void {
    const access: TableAccess = TABLE_ACCESS[kind];
    const writes = access.actions.some((action) => !READ_ONLY_ACTIONS.includes(action));
    this.encryption?.grant(grantee, 'dynamodb', writes ? 'read-write' : 'read');
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: [...access.actions],
        resources: [access.index ? `${this.table.tableArn}/index/${access.index}` : this.table.tableArn],
        conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [...access.leadingKeys] } },
      }),
    );
  }
}
