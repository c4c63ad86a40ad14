/**
 * A second, informational floor for the batch functions (ingest-upload, process-chunk), which need four AWS SDK
 * clients where an HTTP function needs one: one call with each of them and nothing else. Bundled by
 * ../floor/app.ts with the house construct.
 */
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';

const s3 = new S3Client({});
const sqs = new SQSClient({});
const dynamo = new DynamoDBClient({});
const secrets = new SecretsManagerClient({});

export const handler = async (): Promise<number> => {
  const [object, , item, secret] = await Promise.all([
    s3.send(new GetObjectCommand({ Bucket: process.env.BUCKET, Key: 'k' })),
    sqs.send(new SendMessageCommand({ QueueUrl: process.env.QUEUE_URL, MessageBody: '{}' })),
    dynamo.send(new GetItemCommand({ TableName: process.env.TABLE, Key: { pk: { S: 'k' } } })),
    secrets.send(new GetSecretValueCommand({ SecretId: process.env.DANA_SECRET_ID })),
  ]);
  return (object.ContentLength ?? 0) + (item.Item ? 1 : 0) + (secret.SecretString?.length ?? 0);
};
