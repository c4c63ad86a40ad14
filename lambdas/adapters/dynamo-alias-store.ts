/**
 * Conversation aliases on the jobs table (`JOBS_TABLE_NAME`, keys `pk`/`sk`), beside the job items of
 * dynamo-job-store.ts:
 *
 * | item  | pk        | sk       | attributes                                                         |
 * |-------|-----------|----------|--------------------------------------------------------------------|
 * | alias | `aliases` | `<name>` | conversationId (N), updatedAt (ISO), history (JSON), revision (N)  |
 *
 * All aliases share one partition, `aliases`, with the name as sort key, so `GET /aliases` is one Query in name
 * order (never a Scan of a table that holds millions of job items), pages resume from a key this adapter builds
 * from the last name, and IAM can confine the alias functions to that one partition (`dynamodb:LeadingKeys`).
 * A deployment has tens or hundreds of aliases, read with single GetItems: far below one partition's limits.
 * Alias items carry no `expiresAt`, so TTL never deletes them. Names cannot collide with other items: their pk
 * values all contain `#` (`job#…`, `idem#…`) or are other fixed words.
 *
 * A save is one conditional PutItem on the revision it read; repeating one that acted fails its condition and
 * reads as "another writer came first", which putAlias resolves by reading again (it then finds its own write).
 */
import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  type AttributeValue,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import type { AliasChange, AliasPage, AliasRecord, AliasStore } from '../core/aliases';
import { withAwsRetries } from './aws-retry';

type Item = Record<string, AttributeValue>;

/** The one partition every alias lives in. */
export const ALIAS_PARTITION = 'aliases';

export interface DynamoAliasStoreOptions {
  client: DynamoDBClient;
  tableName: string;
}

const key = (name: string): Item => ({ pk: { S: ALIAS_PARTITION }, sk: { S: name } });

function recordOfItem(item: Item): AliasRecord {
  return {
    name: item.sk!.S!,
    conversationId: Number(item.conversationId?.N),
    updatedAt: item.updatedAt?.S ?? '',
    history: JSON.parse(item.history?.S ?? '[]') as AliasChange[],
    revision: Number(item.revision?.N ?? 0),
  };
}

export class DynamoAliasStore implements AliasStore {
  private readonly client: DynamoDBClient;
  private readonly table: string;

  constructor(options: DynamoAliasStoreOptions) {
    this.client = options.client;
    this.table = options.tableName;
  }

  async get(name: string): Promise<AliasRecord | undefined> {
    const answer = await withAwsRetries(() =>
      this.client.send(new GetItemCommand({ TableName: this.table, Key: key(name), ConsistentRead: true })),
    );
    return answer.Item && recordOfItem(answer.Item);
  }

  async save(record: AliasRecord, expectedRevision: number | undefined): Promise<boolean> {
    const condition =
      expectedRevision === undefined
        ? { ConditionExpression: 'attribute_not_exists(pk)' }
        : {
            ConditionExpression: '#revision = :expected',
            ExpressionAttributeNames: { '#revision': 'revision' },
            ExpressionAttributeValues: { ':expected': { N: String(expectedRevision) } },
          };
    try {
      await withAwsRetries(() =>
        this.client.send(
          new PutItemCommand({
            TableName: this.table,
            Item: {
              ...key(record.name),
              conversationId: { N: String(record.conversationId) },
              updatedAt: { S: record.updatedAt },
              history: { S: JSON.stringify(record.history) },
              revision: { N: String(record.revision) },
            },
            ...condition,
          }),
        ),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async list(limit: number, afterName?: string): Promise<AliasPage> {
    // One more than asked tells whether another page follows, so the last page carries no cursor.
    const items: Item[] = [];
    let start: Item | undefined = afterName === undefined ? undefined : key(afterName);
    do {
      const answer = await withAwsRetries(() =>
        this.client.send(
          new QueryCommand({
            TableName: this.table,
            KeyConditionExpression: 'pk = :pk',
            ExpressionAttributeValues: { ':pk': { S: ALIAS_PARTITION } },
            ExclusiveStartKey: start,
            Limit: limit + 1 - items.length,
            ConsistentRead: true,
          }),
        ),
      );
      items.push(...(answer.Items ?? []));
      start = answer.LastEvaluatedKey;
    } while (start !== undefined && items.length <= limit);
    const aliases = items.slice(0, limit).map(recordOfItem);
    return items.length > limit ? { aliases, lastName: aliases.at(-1)!.name } : { aliases };
  }

  async delete(name: string): Promise<boolean> {
    const answer = await withAwsRetries(() =>
      this.client.send(
        new DeleteItemCommand({ TableName: this.table, Key: key(name), ReturnValues: 'ALL_OLD' }),
      ),
    );
    return answer.Attributes !== undefined;
  }
}
