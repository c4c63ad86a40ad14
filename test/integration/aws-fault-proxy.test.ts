/**
 * The fault-injecting AWS proxy (test/harness/aws-fault-proxy.ts) in front of moto_server, driven by the real
 * AWS SDK: requests pass through unchanged, injected errors surface as the SDK's real exception classes, the
 * after-forward faults really act first, and DynamoDB gets its transaction conflicts and atomic conditional
 * writes back.
 */
import {
  BatchWriteItemCommand,
  ConditionalCheckFailedException,
  DynamoDBClient,
  GetItemCommand,
  InternalServerError,
  ProvisionedThroughputExceededException,
  PutItemCommand,
  ScanCommand,
  ThrottlingException,
  TransactGetItemsCommand,
  TransactionCanceledException,
  TransactionConflictException,
  TransactWriteItemsCommand,
  UpdateItemCommand,
  type AttributeValue,
} from '@aws-sdk/client-dynamodb';
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  InternalServiceError,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import {
  CreateQueueCommand,
  ReceiveMessageCommand,
  RequestThrottled,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { startAwsFaultProxy, type AwsFaultProxy, type FaultConfig } from '../harness/aws-fault-proxy';
import { identify } from '../harness/aws-request-identity';
import { createJobsTable } from './job-store-table';

const endpoint = inject('motoEndpoint');
const region = 'us-east-1';
let proxy: AwsFaultProxy;
const clients: Array<{ destroy(): void }> = [];
const tableName = `fault-proxy-${randomUUID()}`;
const bucket = `fault-proxy-${randomUUID()}`;

type ClientOptions = { maxAttempts?: number; requestTimeout?: number; url?: string };
function opts(o: ClientOptions) {
  return {
    endpoint: o.url ?? proxy.url,
    region,
    maxAttempts: o.maxAttempts ?? 1,
    // Without throwOnRequestTimeout the SDK only logs a warning and keeps waiting.
    ...(o.requestTimeout !== undefined && {
      requestHandler: { requestTimeout: o.requestTimeout, throwOnRequestTimeout: true },
    }),
  };
}
function track<T extends { destroy(): void }>(client: T): T {
  clients.push(client);
  return client;
}
const dynamo = (o: ClientOptions = {}) => track(new DynamoDBClient(opts(o)));
const s3 = (o: ClientOptions = {}) => track(new S3Client({ ...opts(o), forcePathStyle: true }));
const sqs = (o: ClientOptions = {}) => track(new SQSClient(opts(o)));
const secrets = (o: ClientOptions = {}) => track(new SecretsManagerClient(opts(o)));

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const S = (value: string): AttributeValue => ({ S: value });
const key = (pk: string) => ({ pk: S(pk), sk: S('item') });

async function readItem(pk: string) {
  const direct = dynamo({ url: endpoint });
  return (await direct.send(new GetItemCommand({ TableName: tableName, Key: key(pk), ConsistentRead: true })))
    .Item;
}

/** The rejection of `promise`, which must reject. */
async function failure(promise: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await promise;
  } catch (error) {
    return error as Error & Record<string, unknown>;
  }
  throw new Error('expected the call to fail');
}

function faults(config: FaultConfig) {
  proxy.setFaults({ seed: 7, ...config });
  proxy.resetStats();
}

beforeAll(async () => {
  proxy = await startAwsFaultProxy({ target: endpoint });
  await createJobsTable(dynamo(), tableName);
  await s3().send(new CreateBucketCommand({ Bucket: bucket }));
});
afterAll(async () => {
  for (const client of clients) client.destroy();
  await proxy.close();
});
beforeEach(() => faults({}));

describe('aws fault proxy: pass-through', () => {
  it('forwards DynamoDB, SQS and Secrets Manager unchanged and counts requests per service.operation', async () => {
    const db = dynamo();
    await db.send(new PutItemCommand({ TableName: tableName, Item: { ...key('plain'), v: S('x') } }));
    expect(await readItem('plain')).toEqual({ ...key('plain'), v: S('x') });

    const queue = sqs();
    const { QueueUrl } = await queue.send(new CreateQueueCommand({ QueueName: `fp-${randomUUID()}` }));
    // moto builds the queue URL from the Host the SDK signed, so the SDK keeps talking through the proxy.
    expect(QueueUrl!.startsWith(proxy.url)).toBe(true);
    await queue.send(new SendMessageCommand({ QueueUrl, MessageBody: 'hello' }));
    const received = await queue.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 0 }));
    expect(received.Messages?.map((m) => m.Body)).toEqual(['hello']);

    const secretName = `fp-${randomUUID()}`;
    await secrets().send(new CreateSecretCommand({ Name: secretName, SecretString: 's3cr3t' }));
    const secret = await secrets().send(new GetSecretValueCommand({ SecretId: secretName }));
    expect(secret.SecretString).toBe('s3cr3t');

    expect(proxy.stats()).toMatchObject({
      requests: {
        'dynamodb.PutItem': 1,
        'sqs.CreateQueue': 1,
        'sqs.SendMessage': 1,
        'sqs.ReceiveMessage': 1,
        'secretsmanager.CreateSecret': 1,
        'secretsmanager.GetSecretValue': 1,
      },
      faults: {},
      actedThenFailed: {},
      transactionConflicts: {},
      upstreamErrors: 0,
    });
  });

  it('forwards S3 path-style requests unchanged, large bodies and multipart uploads included', async () => {
    // A bucket of its own (made straight on moto, so the proxy does not count it): the listing below is of this
    // test's objects only, whatever other tests put in theirs.
    const own = `fault-proxy-s3-${randomUUID()}`;
    await s3({ url: endpoint }).send(new CreateBucketCommand({ Bucket: own }));
    const bucketClient = s3();
    await bucketClient.send(new PutObjectCommand({ Bucket: own, Key: 'a/b.txt', Body: 'body' }));
    const got = await bucketClient.send(new GetObjectCommand({ Bucket: own, Key: 'a/b.txt' }));
    expect(await got.Body!.transformToString()).toBe('body');
    const head = await bucketClient.send(new HeadObjectCommand({ Bucket: own, Key: 'a/b.txt' }));
    expect(head.ContentLength).toBe(4);
    // Over 2 MB the SDK sends `Expect: 100-continue`.
    const large = Buffer.alloc(3 * 1024 * 1024, 'abcdefgh');
    await bucketClient.send(new PutObjectCommand({ Bucket: own, Key: 'large', Body: large }));
    const gotLarge = await bucketClient.send(new GetObjectCommand({ Bucket: own, Key: 'large' }));
    expect(Buffer.from(await gotLarge.Body!.transformToByteArray()).equals(large)).toBe(true);

    const upload = await bucketClient.send(new CreateMultipartUploadCommand({ Bucket: own, Key: 'mp' }));
    const { UploadId } = upload;
    const part = await bucketClient.send(
      new UploadPartCommand({ Bucket: own, Key: 'mp', UploadId, PartNumber: 1, Body: 'p1' }),
    );
    const Parts = [{ PartNumber: 1, ETag: part.ETag }];
    await bucketClient.send(
      new CompleteMultipartUploadCommand({ Bucket: own, Key: 'mp', UploadId, MultipartUpload: { Parts } }),
    );
    const listed = await bucketClient.send(new ListObjectsV2Command({ Bucket: own }));
    expect(listed.Contents?.map((o) => o.Key).sort()).toEqual(['a/b.txt', 'large', 'mp']);
    expect(proxy.stats().requests).toEqual({
      's3.PutObject': 2,
      's3.GetObject': 2,
      's3.HeadObject': 1,
      's3.CreateMultipartUpload': 1,
      's3.UploadPart': 1,
      's3.CompleteMultipartUpload': 1,
      's3.ListObjectsV2': 1,
    });
  });

  it('names S3 path-style operations from method, path and query', () => {
    const auth = {
      authorization:
        'AWS4-HMAC-SHA256 Credential=AKID/20250101/eu-west-1/s3/aws4_request, SignedHeaders=host, Signature=0',
    };
    const op = (method: string, url: string, extra = {}) =>
      identify(method, url, { ...auth, ...extra }).operation;
    expect(op('GET', '/')).toBe('ListBuckets');
    expect(op('PUT', '/b')).toBe('CreateBucket');
    expect(op('HEAD', '/b')).toBe('HeadBucket');
    expect(op('GET', '/b?list-type=2&prefix=x')).toBe('ListObjectsV2');
    expect(op('POST', '/b?delete')).toBe('DeleteObjects');
    expect(op('GET', '/b/k/with/slashes')).toBe('GetObject');
    expect(op('PUT', '/b/k')).toBe('PutObject');
    expect(op('PUT', '/b/k', { 'x-amz-copy-source': '/b/o' })).toBe('CopyObject');
    expect(op('POST', '/b/k?uploads')).toBe('CreateMultipartUpload');
    expect(op('PUT', '/b/k?partNumber=2&uploadId=u')).toBe('UploadPart');
    expect(op('POST', '/b/k?uploadId=u')).toBe('CompleteMultipartUpload');
    expect(op('DELETE', '/b/k?uploadId=u')).toBe('AbortMultipartUpload');
    expect(op('GET', '/b/k?uploadId=u')).toBe('ListParts');
    expect(op('DELETE', '/b/k')).toBe('DeleteObject');
    expect(identify('GET', '/b/k', auth)).toMatchObject({ service: 's3', region: 'eu-west-1' });
  });
});

describe('aws fault proxy: injected errors are the services’ own', () => {
  it('DynamoDB: both throttling exceptions and InternalServerError, without moto acting', async () => {
    faults({ dynamodb: { throttle: 1 } });
    const db = dynamo();
    const names = new Set<string>();
    for (let i = 0; i < 12; i++) {
      const error = await failure(
        db.send(new PutItemCommand({ TableName: tableName, Item: key(`throttled-${i}`) })),
      );
      expect(
        error instanceof ThrottlingException || error instanceof ProvisionedThroughputExceededException,
      ).toBe(true);
      expect(error.$metadata).toMatchObject({ httpStatusCode: 400, attempts: 1 });
      names.add(error.name);
    }
    expect(names).toEqual(new Set(['ThrottlingException', 'ProvisionedThroughputExceededException']));
    expect(await readItem('throttled-0')).toBeUndefined();

    faults({ dynamodb: { internalError: 1 } });
    const error = await failure(db.send(new PutItemCommand({ TableName: tableName, Item: key('ise') })));
    expect(error).toBeInstanceOf(InternalServerError);
    expect(error.$metadata).toMatchObject({ httpStatusCode: 500 });
    expect(await readItem('ise')).toBeUndefined();
    expect(proxy.stats().faults).toEqual({ 'dynamodb.PutItem.internalError': 1 });
  });

  it('SQS (JSON protocol, query-compatible errors): RequestThrottled and InternalFailure', async () => {
    const queue = sqs();
    const { QueueUrl } = await queue.send(new CreateQueueCommand({ QueueName: `fp-${randomUUID()}` }));
    faults({ sqs: { throttle: 1 } });
    const throttled = await failure(queue.send(new SendMessageCommand({ QueueUrl, MessageBody: 'x' })));
    expect(throttled).toBeInstanceOf(RequestThrottled);
    expect(throttled.$metadata).toMatchObject({ httpStatusCode: 403 });
    faults({ sqs: { internalError: 1 } });
    const internal = await failure(queue.send(new SendMessageCommand({ QueueUrl, MessageBody: 'x' })));
    expect(internal.name).toBe('InternalFailure');
    expect(internal).toMatchObject({ $fault: 'server', $metadata: { httpStatusCode: 500 } });
    faults({});
    const received = await queue.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 0 }));
    expect(received.Messages ?? []).toEqual([]);
  });

  it('S3: SlowDown 503 and InternalError 500 (HEAD answers carry no body: named by status)', async () => {
    const bucketClient = s3();
    await bucketClient.send(new PutObjectCommand({ Bucket: bucket, Key: 'errors', Body: 'x' }));
    faults({ s3: { throttle: 1 } });
    const slow = await failure(bucketClient.send(new GetObjectCommand({ Bucket: bucket, Key: 'errors' })));
    expect(slow.name).toBe('SlowDown');
    expect(slow.$metadata).toMatchObject({ httpStatusCode: 503 });
    const slowHead = await failure(
      bucketClient.send(new HeadObjectCommand({ Bucket: bucket, Key: 'errors' })),
    );
    expect(slowHead.$metadata).toMatchObject({ httpStatusCode: 503 });
    expect(slowHead.name).toBe('Unknown');
    faults({ s3: { internalError: 1 } });
    const internal = await failure(
      bucketClient.send(new PutObjectCommand({ Bucket: bucket, Key: 'never', Body: 'x' })),
    );
    expect(internal.name).toBe('InternalError');
    expect(internal.$metadata).toMatchObject({ httpStatusCode: 500 });
  });

  it('Secrets Manager: ThrottlingException and InternalServiceError', async () => {
    const name = `fp-${randomUUID()}`;
    await secrets().send(new CreateSecretCommand({ Name: name, SecretString: 'v' }));
    faults({ secretsmanager: { throttle: 1 } });
    const throttled = await failure(secrets().send(new GetSecretValueCommand({ SecretId: name })));
    expect(throttled.name).toBe('ThrottlingException');
    expect(throttled.$metadata).toMatchObject({ httpStatusCode: 400 });
    faults({ secretsmanager: { internalError: 1 } });
    const internal = await failure(secrets().send(new GetSecretValueCommand({ SecretId: name })));
    expect(internal).toBeInstanceOf(InternalServiceError);
  });

  it('the SDK retries them as it would in production: every call succeeds, attempts match faults', async () => {
    faults({
      seed: 42,
      dynamodb: { throttle: 0.2, internalError: 0.3 },
      s3: { internalError: 0.4 },
      sqs: { internalError: 0.4 },
    });
    const db = dynamo({ maxAttempts: 8 });
    const bucketClient = s3({ maxAttempts: 8 });
    const queue = sqs({ maxAttempts: 8 });
    const { QueueUrl } = await queue.send(new CreateQueueCommand({ QueueName: `fp-${randomUUID()}` }));
    let retries = 0;
    for (let i = 0; i < 8; i++) {
      const put = await db.send(new PutItemCommand({ TableName: tableName, Item: key(`retried-${i}`) }));
      const obj = await bucketClient.send(new PutObjectCommand({ Bucket: bucket, Key: `r${i}`, Body: 'x' }));
      const msg = await queue.send(new SendMessageCommand({ QueueUrl, MessageBody: `m${i}` }));
      retries += [put, obj, msg].reduce((n, r) => n + r.$metadata.attempts! - 1, 0);
    }
    const injected = Object.values(proxy.stats().faults).reduce((a, b) => a + b, 0);
    expect(injected).toBeGreaterThan(0);
    expect(retries).toBe(injected);
    for (let i = 0; i < 8; i++) expect(await readItem(`retried-${i}`)).toBeDefined();
  });

  it('applies faults only to the listed operations', async () => {
    faults({ dynamodb: { internalError: 1, operations: ['TransactWriteItems'] } });
    const db = dynamo();
    await db.send(new PutItemCommand({ TableName: tableName, Item: key('only-ops') }));
    const error = await failure(
      db.send(
        new TransactWriteItemsCommand({ TransactItems: [{ Put: { TableName: tableName, Item: key('t') } }] }),
      ),
    );
    expect(error).toBeInstanceOf(InternalServerError);
    expect(proxy.stats().faults).toEqual({ 'dynamodb.TransactWriteItems.internalError': 1 });
  });
});

describe('aws fault proxy: resets and hangs, before and after moto acts', () => {
  it('reset and hang before forwarding never reach moto', async () => {
    faults({ dynamodb: { reset: 1 } });
    const reset = await failure(dynamo().send(new PutItemCommand({ TableName: tableName, Item: key('r') })));
    expect((reset as { code?: string }).code).toBe('ECONNRESET');
    faults({ dynamodb: { hang: 1 } });
    const hung = await failure(
      dynamo({ requestTimeout: 300 }).send(new PutItemCommand({ TableName: tableName, Item: key('h') })),
    );
    expect(hung).toMatchObject({ name: 'TimeoutError', code: 'ETIMEDOUT' });
    faults({});
    expect(await readItem('r')).toBeUndefined();
    expect(await readItem('h')).toBeUndefined();
  });

  it('after-forward faults act first: the write is in moto though the caller saw a failure', async () => {
    faults({ dynamodb: { internalErrorAfter: 1 } });
    const error = await failure(
      dynamo().send(new PutItemCommand({ TableName: tableName, Item: key('iea') })),
    );
    expect(error).toBeInstanceOf(InternalServerError);
    faults({ dynamodb: { resetAfter: 1 } });
    const reset = await failure(dynamo().send(new PutItemCommand({ TableName: tableName, Item: key('ra') })));
    expect((reset as { code?: string }).code).toBe('ECONNRESET');
    faults({ dynamodb: { hangAfter: 1 } });
    const hung = await failure(
      dynamo({ requestTimeout: 300 }).send(new PutItemCommand({ TableName: tableName, Item: key('ha') })),
    );
    expect(hung).toMatchObject({ name: 'TimeoutError', code: 'ETIMEDOUT' });
    expect(proxy.stats().actedThenFailed).toEqual({ 'dynamodb.PutItem.hangAfter': 1 });
    faults({ s3: { internalErrorAfter: 1, operations: ['PutObject'] } });
    const s3Error = await failure(
      s3().send(new PutObjectCommand({ Bucket: bucket, Key: 'acted', Body: 'yes' })),
    );
    expect(s3Error.name).toBe('InternalError');
    faults({});
    for (const pk of ['iea', 'ra', 'ha']) expect(await readItem(pk)).toBeDefined();
    const got = await s3().send(new GetObjectCommand({ Bucket: bucket, Key: 'acted' }));
    expect(await got.Body!.transformToString()).toBe('yes');
  });

  it('close() ends hanging requests and held transactions, and leaves no socket, timer or lock behind', async () => {
    const sockets = () =>
      process.getActiveResourcesInfo().filter((r) => r === 'TCPServerWrap' || r === 'TCPSocketWrap').length;
    const before = sockets();
    const own = await startAwsFaultProxy({
      target: endpoint,
      faults: {
        dynamodb: { hang: 1, latencyMs: [1, 3], operations: ['PutItem'] },
        transactionHoldMs: 60_000,
      },
    });
    const db = new DynamoDBClient(opts({ url: own.url }));
    const hung = failure(db.send(new PutItemCommand({ TableName: tableName, Item: key('closing') })));
    const held = failure(
      db.send(
        new TransactWriteItemsCommand({
          TransactItems: [{ Put: { TableName: tableName, Item: key('held-at-close') } }],
        }),
      ),
    );
    await expect
      .poll(() => own.stats())
      .toMatchObject({ hanging: 1, inFlight: 2, timers: 1, locks: { items: 1 } });
    await own.close();
    expect(await hung).toMatchObject({ code: 'ECONNRESET' });
    expect(await held).toMatchObject({ code: 'ECONNRESET' });
    expect(own.stats()).toMatchObject({ hanging: 0, inFlight: 0, timers: 0 });
    db.destroy();
    await expect.poll(sockets).toBeLessThanOrEqual(before);
    expect(await readItem('closing')).toBeUndefined();
    expect(await readItem('held-at-close')).toBeUndefined();
  });
});

describe('aws fault proxy: DynamoDB transactions and atomic conditional writes', () => {
  const counterKey = key('shared-counter');

  it('moto alone never reports a conflict: 20 concurrent transactions on one item all apply', async () => {
    const direct = dynamo({ url: endpoint });
    await direct.send(new PutItemCommand({ TableName: tableName, Item: key('moto-counter') }));
    const increment = {
      TableName: tableName,
      Key: key('moto-counter'),
      UpdateExpression: 'ADD n :one',
      ExpressionAttributeValues: { ':one': { N: '1' } },
    };
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, () =>
        direct.send(new TransactWriteItemsCommand({ TransactItems: [{ Update: increment }] })),
      ),
    );
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
  });

  it('20 concurrent transactions on one shared item: some cancel with TransactionConflict, the rest apply once', async () => {
    faults({ transactionHoldMs: [5, 20] });
    const db = dynamo();
    await db.send(new PutItemCommand({ TableName: tableName, Item: { ...counterKey, n: { N: '0' } } }));
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) =>
        db.send(
          new TransactWriteItemsCommand({
            TransactItems: [
              { Put: { TableName: tableName, Item: key(`txn-own-${i}`) } },
              {
                Update: {
                  TableName: tableName,
                  Key: counterKey,
                  UpdateExpression: 'ADD n :one',
                  ExpressionAttributeValues: { ':one': { N: '1' } },
                },
              },
            ],
          }),
        ),
      ),
    );
    const cancelled = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    const applied = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
    expect(cancelled.length).toBeGreaterThan(0);
    expect(applied.length).toBeGreaterThan(0);
    for (const error of cancelled) {
      expect(error).toBeInstanceOf(TransactionCanceledException);
      const e = error as TransactionCanceledException;
      expect(e.CancellationReasons).toEqual([
        { Code: 'None' },
        { Code: 'TransactionConflict', Message: 'Transaction is ongoing for the item' },
      ]);
      expect(e.message).toBe(
        'Transaction cancelled, please refer cancellation reasons for specific reasons [None, TransactionConflict]',
      );
    }
    expect((await readItem('shared-counter'))?.n).toEqual({ N: String(applied.length) });
    for (let i = 0; i < 20; i++) {
      expect((await readItem(`txn-own-${i}`)) !== undefined).toBe(applied.includes(i));
    }
    expect(proxy.stats().transactionConflicts).toEqual({ 'dynamodb.TransactWriteItems': cancelled.length });
    expect(proxy.stats().locks).toEqual({ items: 0, tables: 0 });
  });

  it('inside an ongoing transaction: single writes get TransactionConflictException, others cancel', async () => {
    // Long enough for the four requests below to land inside it on a loaded 2-core CI machine.
    faults({ transactionHoldMs: 4_000 });
    const db = dynamo();
    const txn = db.send(
      new TransactWriteItemsCommand({
        TransactItems: [{ Put: { TableName: tableName, Item: { ...key('held'), v: S('txn') } } }],
      }),
    );
    await expect.poll(() => proxy.stats().locks.items).toBe(1);
    const single = await failure(db.send(new PutItemCommand({ TableName: tableName, Item: key('held') })));
    expect(single).toBeInstanceOf(TransactionConflictException);
    expect(single.message).toBe('Transaction is ongoing for the item');
    const update = await failure(
      db.send(
        new UpdateItemCommand({
          TableName: tableName,
          Key: key('held'),
          UpdateExpression: 'SET v = :v',
          ExpressionAttributeValues: { ':v': S('update') },
        }),
      ),
    );
    expect(update).toBeInstanceOf(TransactionConflictException);
    const other = await failure(
      db.send(
        new TransactWriteItemsCommand({
          TransactItems: [
            { Put: { TableName: tableName, Item: key('free') } },
            { Delete: { TableName: tableName, Key: key('held') } },
          ],
        }),
      ),
    );
    expect(
      (other as unknown as TransactionCanceledException).CancellationReasons?.map((r) => r.Code),
    ).toEqual(['None', 'TransactionConflict']);
    const read = await failure(
      db.send(
        new TransactGetItemsCommand({ TransactItems: [{ Get: { TableName: tableName, Key: key('held') } }] }),
      ),
    );
    expect(read).toBeInstanceOf(TransactionCanceledException);
    // A plain read is not blocked; it sees the item before the transaction.
    expect(
      (await db.send(new GetItemCommand({ TableName: tableName, Key: key('held') }))).Item,
    ).toBeUndefined();
    await txn;
    expect((await readItem('held'))?.v).toEqual(S('txn'));
    expect(await readItem('free')).toBeUndefined();
    expect(proxy.stats().transactionConflicts).toEqual({
      'dynamodb.PutItem': 1,
      'dynamodb.UpdateItem': 1,
      'dynamodb.TransactWriteItems': 1,
      'dynamodb.TransactGetItems': 1,
    });
  });

  it('50 concurrent optimistic increments (SET n = :new IF n = :old) on one item never lose an update', async () => {
    const db = dynamo();
    const pk = 'optimistic';
    await db.send(new PutItemCommand({ TableName: tableName, Item: { ...key(pk), n: { N: '0' } } }));
    let conditionFailures = 0;
    const increment = async () => {
      let seen = (await db.send(new GetItemCommand({ TableName: tableName, Key: key(pk) }))).Item!.n!.N!;
      for (let attempt = 1; ; attempt++) {
        try {
          await db.send(
            new UpdateItemCommand({
              TableName: tableName,
              Key: key(pk),
              UpdateExpression: 'SET n = :new',
              ConditionExpression: 'n = :old',
              ExpressionAttributeValues: { ':new': { N: String(Number(seen) + 1) }, ':old': { N: seen } },
              ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
            }),
          );
          return;
        } catch (error) {
          if (!(error instanceof ConditionalCheckFailedException)) throw error;
          conditionFailures++;
          // moto's condition failure passes through with the item as it is now.
          seen = error.Item!.n!.N!;
          // Capped exponential backoff with full jitter, as a real optimistic loop on a hot item needs: each
          // attempt waits its turn at the item, so without it 50 writers make 50+49+...+1 = 1,275 attempts.
          await sleep(Math.random() * Math.min(1_000, 20 * 2 ** attempt));
        }
      }
    };
    await Promise.all(Array.from({ length: 50 }, increment));
    expect(conditionFailures).toBeGreaterThan(0);
    expect((await readItem(pk))?.n).toEqual({ N: '50' });
    expect(proxy.stats().requests['dynamodb.UpdateItem']).toBe(50 + conditionFailures);
  }, 120_000);

  /** A transaction whose ConditionCheck on `guard` fails (its `v` is 'old'). */
  const failingTransaction = (table: string, guard: string, put: string) =>
    new TransactWriteItemsCommand({
      TransactItems: [
        { Put: { TableName: table, Item: key(put) } },
        {
          ConditionCheck: {
            TableName: table,
            Key: key(guard),
            ConditionExpression: 'v = :no',
            ExpressionAttributeValues: { ':no': S('no') },
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          },
        },
      ],
    });

  it('a transaction whose condition fails is cancelled by moto, crashing and undoing nobody else', async () => {
    faults({ transactionHoldMs: 0 });
    const db = dynamo();
    const table = `fault-proxy-txn-${randomUUID()}`;
    await createJobsTable(db, table);
    // moto deep-copies every table a transaction touches (and puts the copy back if a condition fails): on a
    // table of some size, concurrent writers make that copy crash, or the put-back undo their writes.
    for (let batch = 0; batch < 40; batch++) {
      const puts = Array.from({ length: 25 }, (_, i) => ({
        PutRequest: { Item: { ...key(`filler-${batch}-${i}`), pad: S('x'.repeat(100)) } },
      }));
      await db.send(new BatchWriteItemCommand({ RequestItems: { [table]: puts } }));
    }
    for (let i = 0; i < 20; i++) {
      await db.send(new PutItemCommand({ TableName: table, Item: { ...key(`guard-${i}`), v: S('old') } }));
    }
    const failing = Array.from({ length: 20 }, (_, i) =>
      failure(db.send(failingTransaction(table, `guard-${i}`, `never-${i}`))),
    );
    const writes = Array.from({ length: 100 }, (_, i) =>
      db.send(new PutItemCommand({ TableName: table, Item: key(`bystander-${i}`) })),
    );
    const [errors] = await Promise.all([Promise.all(failing), Promise.all(writes)]);
    errors.forEach((error, i) => {
      expect(error).toBeInstanceOf(TransactionCanceledException);
      expect((error as unknown as TransactionCanceledException).CancellationReasons).toEqual([
        { Code: 'None' },
        {
          Code: 'ConditionalCheckFailed',
          Message: 'The conditional request failed',
          Item: { ...key(`guard-${i}`), v: S('old') },
        },
      ]);
      expect(error.message).toBe(
        'Transaction cancelled, please refer cancellation reasons for specific reasons [None, ConditionalCheckFailed]',
      );
    });
    const scan = await dynamo({ url: endpoint }).send(new ScanCommand({ TableName: table }));
    const pks = new Set(scan.Items!.map((item) => item.pk!.S));
    expect(pks.size).toBe(1_000 + 20 + 100);
    for (let i = 0; i < 100; i++) expect(pks.has(`bystander-${i}`)).toBe(true);
    expect(proxy.stats().transactionConflicts).toEqual({});
    expect(proxy.stats().locks).toEqual({ items: 0, tables: 0 });
  });
});
