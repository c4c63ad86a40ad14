/**
 * THE price table of the cost benchmark (./cost.ts): AWS on-demand list prices in us-east-1, USD, first tier (a
 * deployment of this size never leaves it), no free tier (it is per account and month, not per contact).
 *
 * Read on 2026-12-01 (the `read` date of each line) from the pages stored by the project's search tool; `source` is
 * the official page of record and `readFrom` the page the figure was read on when that was a copy or a guide
 * quoting it. Re-check `source` before quoting a figure to a customer: prices change (DynamoDB's on-demand price
 * halved on 2024-11-01). EventBridge is not on the upload or async path (only scheduled list starts use it), so
 * it has no line here.
 */

export interface Price {
  usd: number;
  /** What `usd` buys. */
  per: string;
  read: string;
  source: string;
  readFrom?: string;
}

export const PRICES = {
  lambdaGbSecondArm: {
    usd: 0.0000133334,
    per: 'GB-second, arm64, first 7.5 billion GB-s a month',
    read: '2026-12-01',
    source: 'https://aws.amazon.com/lambda/pricing/',
    readFrom: 'https://cloudchipr.com/blog/aws-lambda-pricing',
  },
  lambdaRequest: {
    usd: 0.2 / 1e6,
    per: 'request (invocation), $0.20 per million',
    read: '2026-12-01',
    source: 'https://aws.amazon.com/lambda/pricing/',
  },
  dynamoWriteUnit: {
    usd: 0.625 / 1e6,
    per: 'write request unit, on-demand ($0.625 per million since the 2024-11-01 cut, was $1.25)',
    read: '2026-12-01',
    source: 'https://aws.amazon.com/dynamodb/pricing/on-demand/',
    readFrom: 'https://airbyte.com/data-engineering-resources/dynamodb-pricing',
  },
  dynamoReadUnit: {
    usd: 0.125 / 1e6,
    per: 'read request unit, on-demand ($0.125 per million since the 2024-11-01 cut, was $0.25)',
    read: '2026-12-01',
    source: 'https://aws.amazon.com/dynamodb/pricing/on-demand/',
    readFrom: 'https://airbyte.com/data-engineering-resources/dynamodb-pricing',
  },
  sqsRequest: {
    usd: 0.4 / 1e6,
    per: 'standard-queue request, each 64 KB chunk of a payload billed as one ($0.40 per million)',
    read: '2026-12-01',
    source: 'https://aws.amazon.com/sqs/pricing/',
    readFrom: 'https://cloudburn.io/blog/amazon-sqs-pricing',
  },
  s3PutRequest: {
    usd: 0.005 / 1000,
    per: 'S3 Standard PUT, COPY, POST or LIST request ($0.005 per 1,000)',
    read: '2026-12-01',
    source: 'https://aws.amazon.com/s3/pricing/',
    readFrom: 'https://c3x.dev/blog/s3-request-fees-explained',
  },
  s3GetRequest: {
    usd: 0.0004 / 1000,
    per: 'S3 Standard GET, SELECT or other request ($0.0004 per 1,000)',
    read: '2026-12-01',
    source: 'https://aws.amazon.com/s3/pricing/',
    readFrom: 'https://c3x.dev/blog/s3-request-fees-explained',
  },
  secretsManagerCall: {
    usd: 0.05 / 10_000,
    per: 'Secrets Manager API call ($0.05 per 10,000)',
    read: '2026-12-01',
    source: 'https://aws.amazon.com/secrets-manager/pricing/',
    readFrom: 'https://hivebook.wiki/wiki/aws-secrets-manager-rotated-secrets-dynamic-db-credentials-kms',
  },
  apiGatewayRestRequest: {
    usd: 3.5 / 1e6,
    per: 'REST API request, first 333 million a month ($3.50 per million)',
    read: '2026-12-01',
    source: 'https://aws.amazon.com/api-gateway/pricing/',
    readFrom:
      'https://docs.aws.amazon.com/whitepapers/latest/best-practices-api-gateway-private-apis-integration/cost-optimization.html',
  },
  cloudWatchLogsGb: {
    usd: 0.5,
    per: 'GB of logs ingested, Standard class (Lambda logs: first 10 TB a month)',
    read: '2026-12-01',
    source: 'https://aws.amazon.com/cloudwatch/pricing/',
    readFrom: 'https://c3x.dev/blog/cloudwatch-logs-cost-optimization',
  },
} satisfies Record<string, Price>;

export type PriceName = keyof typeof PRICES;
