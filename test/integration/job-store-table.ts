/**
 * The jobs table for tests on moto_server, and DynamoDB clients: `awsDynamo` goes through the fault proxy that
 * gives moto DynamoDB's own semantics (atomic conditional writes, transaction conflicts); `motoDynamo` is the
 * older one-request-at-a-time client, kept for the pacing benchmark only.
 */
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { awsClientConfig } from '../../lambdas/adapters/aws-clients';
import { JOBS_LIST_INDEX, LIST_PK, LIST_SK } from '../../lambdas/adapters/dynamo-job-list';

/** A client as the functions build theirs (timeouts, retries), pointed at `endpoint` (the fault proxy). */
export function awsDynamo(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({ ...awsClientConfig('dynamodb'), endpoint, region: 'us-east-1' });
}

/** The jobs table as the stack creates it: keys `pk` and `sk`, on demand, with the jobs list index. */
export async function createJobsTable(client: DynamoDBClient, tableName: string): Promise<void> {
  await client.send(
    new CreateTableCommand({
      TableName: tableName,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
        { AttributeName: LIST_PK, AttributeType: 'S' },
        { AttributeName: LIST_SK, AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: [
        {
          IndexName: JOBS_LIST_INDEX,
          KeySchema: [
            { AttributeName: LIST_PK, KeyType: 'HASH' },
            { AttributeName: LIST_SK, KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: ['state'] },
        },
      ],
    }),
  );
}

/**
 * A client for moto_server that sends one request at a time. DynamoDB applies each conditional write atomically;
 * moto_server serves requests on threads and checks a condition and writes the item in separate steps, so two
 * concurrent conditional writes can both pass there (seen in these tests). One request at a time restores the
 * real service's guarantee; the code under test still races for real, since many callers interleave their
 * read-decide-write sequences between requests.
 */
export function motoDynamo(endpoint: string): DynamoDBClient {
  const client = new DynamoDBClient({ endpoint, region: 'us-east-1' });
  let tail = Promise.resolve();
  client.middlewareStack.add(
    (next) => async (args) => {
      const previous = tail;
      let release!: () => void;
      tail = new Promise((resolve) => (release = resolve));
      await previous;
      try {
        return await next(args);
      } finally {
        release();
      }
    },
    { step: 'initialize', name: 'oneRequestAtATime' },
  );
  return client;
}
