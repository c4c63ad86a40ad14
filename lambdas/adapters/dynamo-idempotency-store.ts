/**
 * The idempotency records of the async HTTP API on the jobs table (`JOBS_TABLE_NAME`, keys `pk`/`sk`, TTL on
 * `expiresAt`), one item per scope, beside the job items of dynamo-job-store.ts:
 *
 * | item        | pk              | sk     | attributes                                                       |
 * |-------------|-----------------|--------|------------------------------------------------------------------|
 * | idempotency | `idem#<scope>`  | `idem` | jobId, fingerprint, createdAt (ISO), expiresAt (epoch s, TTL)    |
 *
 * `<scope>` is the SHA-256 (hex) of caller, method, path and key (../core/idempotency.ts), so the item holds
 * neither the key nor the caller. A claim is one conditional PutItem (`attribute_not_exists(pk)`, or the record
 * there has expired but TTL has not deleted it yet): DynamoDB applies it atomically, so of concurrent claims
 * exactly one is stored. A refused claim reads the record that won (GetItem, consistent) when the refusal did not
 * return it. Both actions are among the jobs table grants the async HTTP functions already have.
 */
import {
  ConditionalCheckFailedException,
  GetItemCommand,
  PutItemCommand,
  type AttributeValue,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import type { IdempotencyClaim, IdempotencyRecord, IdempotencyStore } from '../core/idempotency';
import { DEFAULT_TTL_DAYS } from './dynamo-job-store';

type Item = Record<string, AttributeValue>;

export interface DynamoIdempotencyStoreOptions {
  client: DynamoDBClient;
  tableName: string;
  /** Records expire this long after they were written: as the jobs they point at (DEFAULT_TTL_DAYS). */
  ttlDays?: number;
  now?: () => number;
}

const SK = 'idem';
/** A claim that finds the record gone (expired and deleted in between) tries again, this often at most. */
const MAX_CLAIMS = 3;

export const idempotencyPk = (scope: string) => `idem#${scope}`;

export class DynamoIdempotencyStore implements IdempotencyStore {
  private readonly client: DynamoDBClient;
  private readonly table: string;
  private readonly ttlSeconds: number;
  private readonly now: () => number;

  constructor(options: DynamoIdempotencyStoreOptions) {
    this.client = options.client;
    this.table = options.tableName;
    this.ttlSeconds = (options.ttlDays ?? DEFAULT_TTL_DAYS) * 86_400;
    this.now = options.now ?? Date.now;
  }

  async claim(scope: string, record: IdempotencyRecord): Promise<IdempotencyClaim> {
    for (let attempt = 0; attempt < MAX_CLAIMS; attempt++) {
      const nowSeconds = Math.floor(this.now() / 1000);
      let held: Item | undefined;
      try {
        await this.client.send(
          new PutItemCommand({
            TableName: this.table,
            Item: {
              pk: { S: idempotencyPk(scope) },
              sk: { S: SK },
              jobId: { S: record.jobId },
              fingerprint: { S: record.fingerprint },
              createdAt: { S: new Date(this.now()).toISOString() },
              expiresAt: { N: String(nowSeconds + this.ttlSeconds) },
            },
            // TTL deletes expired items late (within days): until then an expired record must not count.
            ConditionExpression: 'attribute_not_exists(pk) OR #expiresAt <= :now',
            ExpressionAttributeNames: { '#expiresAt': 'expiresAt' },
            ExpressionAttributeValues: { ':now': { N: String(nowSeconds) } },
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        );
        return { stored: true };
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
        held = error.Item ?? (await this.get(scope));
      }
      const existing = held && this.liveRecord(held, nowSeconds);
      if (existing) return { stored: false, existing };
      // Gone (or expired) between the put and the read: claim again.
    }
    throw new Error('the idempotency record kept changing while it was claimed');
  }

  private async get(scope: string): Promise<Item | undefined> {
    const answer = await this.client.send(
      new GetItemCommand({
        TableName: this.table,
        Key: { pk: { S: idempotencyPk(scope) }, sk: { S: SK } },
        ConsistentRead: true,
      }),
    );
    return answer.Item;
  }

  private liveRecord(item: Item, nowSeconds: number): IdempotencyRecord | undefined {
    const expiresAt = Number(item.expiresAt?.N ?? 0);
    const jobId = item.jobId?.S;
    const fingerprint = item.fingerprint?.S;
    if (expiresAt <= nowSeconds || jobId === undefined || fingerprint === undefined) return undefined;
    return { jobId, fingerprint };
  }
}
