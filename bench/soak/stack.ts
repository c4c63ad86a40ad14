/**
 * The soak's "deployment" on moto_server: the jobs table, the bucket, the chunk queue with its redrive policy and
 * dead-letter queue, as the stack makes them; and the SDK clients, either through the fault proxy (what the
 * product uses) or straight to moto (what the soak uses to set up, watch and check, which must not be faulted).
 */
import {
  BatchWriteItemCommand,
  DynamoDBClient,
  ScanCommand,
  type AttributeValue,
} from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { awsClientConfig } from '../../lambdas/adapters/aws-clients';
import { RATE_LIMIT_PK } from '../../lambdas/adapters/dynamo-rate-limiter';
import { createJobsTable } from '../../test/integration/job-store-table';

export interface AwsClients {
  dynamo: DynamoDBClient;
  s3: S3Client;
  sqs: SQSClient;
}

export interface Stack {
  tableName: string;
  bucketName: string;
  queueUrl: string;
  queueArn: string;
  dlqUrl: string;
}

const common = (endpoint: string) => ({
  endpoint,
  region: 'us-east-1',
  credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
});

/** Clients as the functions build them (awsClientConfig: timeouts, retries), pointed at `endpoint`. */
export function productClients(endpoint: string): AwsClients {
  return {
    dynamo: new DynamoDBClient({ ...awsClientConfig('dynamodb'), ...common(endpoint) }),
    s3: new S3Client({ ...awsClientConfig('s3'), ...common(endpoint), forcePathStyle: true }),
    sqs: new SQSClient({ ...awsClientConfig('sqs'), ...common(endpoint) }),
  };
}

/** Clients for the soak's own bookkeeping, straight to moto. */
export function directClients(motoUrl: string): AwsClients {
  return {
    dynamo: new DynamoDBClient(common(motoUrl)),
    s3: new S3Client({ ...common(motoUrl), forcePathStyle: true }),
    sqs: new SQSClient(common(motoUrl)),
  };
}

export function destroyClients(clients: AwsClients): void {
  for (const client of [clients.dynamo, clients.s3, clients.sqs]) client.destroy();
}

async function queueArn(sqs: SQSClient, url: string): Promise<string> {
  const answer = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }),
  );
  return answer.Attributes!.QueueArn!;
}

export async function createStack(
  direct: AwsClients,
  p: { suffix: string; visibilitySeconds: number; maxReceiveCount: number },
): Promise<Stack> {
  const tableName = `soak-jobs-${p.suffix}`;
  const bucketName = `soak-bucket-${p.suffix}`;
  await createJobsTable(direct.dynamo, tableName);
  await direct.s3.send(new CreateBucketCommand({ Bucket: bucketName }));
  const dlqUrl = (await direct.sqs.send(new CreateQueueCommand({ QueueName: `soak-dlq-${p.suffix}` })))
    .QueueUrl!;
  const redrive = {
    deadLetterTargetArn: await queueArn(direct.sqs, dlqUrl),
    maxReceiveCount: p.maxReceiveCount,
  };
  const queueUrl = (
    await direct.sqs.send(
      new CreateQueueCommand({
        QueueName: `soak-chunks-${p.suffix}`,
        Attributes: {
          VisibilityTimeout: String(p.visibilitySeconds),
          RedrivePolicy: JSON.stringify(redrive),
        },
      }),
    )
  ).QueueUrl!;
  return { tableName, bucketName, queueUrl, queueArn: await queueArn(direct.sqs, queueUrl), dlqUrl };
}

/** Messages in the queue: visible, in flight (received, not deleted) and delayed. */
export async function queueDepth(sqs: SQSClient, url: string): Promise<number> {
  const answer = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: [
        'ApproximateNumberOfMessages',
        'ApproximateNumberOfMessagesNotVisible',
        'ApproximateNumberOfMessagesDelayed',
      ],
    }),
  );
  const a = answer.Attributes ?? {};
  return (
    Number(a.ApproximateNumberOfMessages ?? 0) +
    Number(a.ApproximateNumberOfMessagesNotVisible ?? 0) +
    Number(a.ApproximateNumberOfMessagesDelayed ?? 0)
  );
}

/**
 * Deletes every item but the rate limiter's: what the table's TTL does to finished jobs, done at once. Only
 * called when nothing can touch those items any more (the queue and the dead-letter queue are empty, every job
 * of the wave is done and checked): moto copies the whole table on every TransactWriteItems, so a table that
 * only grows would make each chunk's completion slower than the last.
 */
export async function expireFinishedItems(dynamo: DynamoDBClient, tableName: string): Promise<number> {
  let deleted = 0;
  let start: Record<string, AttributeValue> | undefined;
  do {
    const page = await dynamo.send(
      new ScanCommand({ TableName: tableName, ProjectionExpression: 'pk, sk', ExclusiveStartKey: start }),
    );
    const keys = (page.Items ?? []).filter((item) => item.pk?.S !== RATE_LIMIT_PK);
    for (let i = 0; i < keys.length; i += 25) {
      const batch = keys.slice(i, i + 25).map((Key) => ({ DeleteRequest: { Key } }));
      // moto applies a BatchWriteItem whole; it never hands items back.
      await dynamo.send(new BatchWriteItemCommand({ RequestItems: { [tableName]: batch } }));
      deleted += batch.length;
    }
    start = page.LastEvaluatedKey;
  } while (start);
  return deleted;
}
