/**
 * The job store on one DynamoDB table (`JOBS_TABLE_NAME`; keys `pk`, `sk`; TTL attribute `expiresAt`):
 *
 * | item          | pk            | sk                         | attributes                                                   |
 * |---------------|---------------|----------------------------|--------------------------------------------------------------|
 * | job           | `job#<jobId>` | `job`                      | source, operation (JSON), name, state, total, started, rejected, failed, settled, startedAt, finishedAt |
 * | chunk         | `job#<jobId>` | `chunk#<index>`            | state (claimed/released/done/dead_lettered), claimedUntil (epoch ms), outcomes (JSON), rev |
 * | rejected rows | `job#<jobId>` | `rejected#<firstRow, 10 digits>` | outcomes (JSON, up to 100 rows)                        |
 *
 * Exactly-once rests on conditional writes: a claim succeeds only on a free chunk; a completion writes the chunk
 * (conditioned on the revision it read) and adds to the job's counts in one transaction, so a concurrent double
 * delivery counts once; `markDone` is conditioned on `state = running AND settled = total`, where `settled`
 * (= started + failed + rejected) is kept by the same atomic ADDs as the counts.
 */
import {
  BatchWriteItemCommand,
  ConditionalCheckFailedException,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  TransactionCanceledException,
  TransactWriteItemsCommand,
  UpdateItemCommand,
  type AttributeValue,
  type DynamoDBClient,
  type WriteRequest,
} from '@aws-sdk/client-dynamodb';
import {
  claimOfHeldChunk,
  countsDelta,
  type ChunkClaim,
  type JobOperation,
  type JobSource,
  type JobState,
  type JobStore,
  type JobSummary,
  type RowOutcome,
} from '../core/jobs';
import { sleep } from '../core/retry';

export const DEFAULT_TTL_DAYS = 30;
/** Rejected rows per item: about 20 KB, far below DynamoDB's 400 KB. */
const REJECTED_PER_ITEM = 100;
/** BatchWriteItem's limit. */
const BATCH_WRITE_MAX = 25;

type Item = Record<string, AttributeValue>;
type ChunkState = 'claimed' | 'released' | 'done' | 'dead_lettered';

export interface DynamoJobStoreOptions {
  client: DynamoDBClient;
  tableName: string;
  /** Items expire this long after their last write (TTL on `expiresAt`). */
  ttlDays?: number;
  now?: () => number;
}

const S = (value: string): AttributeValue => ({ S: value });
const N = (value: number): AttributeValue => ({ N: String(value) });
const num = (value: AttributeValue | undefined) => (value?.N === undefined ? 0 : Number(value.N));
const str = (value: AttributeValue | undefined) => value?.S;

const jobPk = (jobId: string) => `job#${jobId}`;
const JOB_SK = 'job';
/** `<jobId>#000000012` -> `chunk#000000012`, so chunk items sort in chunk order. */
const chunkSk = (jobId: string, chunkId: string) =>
  `chunk#${chunkId.startsWith(`${jobId}#`) ? chunkId.slice(jobId.length + 1) : chunkId}`;
const rejectedSk = (firstRow: number) => `rejected#${String(firstRow).padStart(10, '0')}`;

function summaryOf(jobId: string, item: Item): JobSummary {
  const finishedAt = str(item.finishedAt);
  return {
    jobId,
    source: str(item.source) as JobSource,
    operation: JSON.parse(str(item.operation) ?? '{}') as JobOperation,
    name: str(item.name) ?? '',
    state: str(item.state) as JobState,
    total: num(item.total),
    started: num(item.started),
    rejected: num(item.rejected),
    failed: num(item.failed),
    startedAt: str(item.startedAt) ?? '',
    ...(finishedAt !== undefined && { finishedAt }),
  };
}

const isConditionFailure = (error: unknown) => error instanceof ConditionalCheckFailedException;

export class DynamoJobStore implements JobStore {
  private readonly client: DynamoDBClient;
  private readonly table: string;
  private readonly ttlSeconds: number;
  private readonly now: () => number;

  constructor(options: DynamoJobStoreOptions) {
    this.client = options.client;
    this.table = options.tableName;
    this.ttlSeconds = (options.ttlDays ?? DEFAULT_TTL_DAYS) * 86_400;
    this.now = options.now ?? Date.now;
  }

  private expiresAt(): AttributeValue {
    return N(Math.floor(this.now() / 1000) + this.ttlSeconds);
  }

  private key(jobId: string, sk: string): Item {
    return { pk: S(jobPk(jobId)), sk: S(sk) };
  }

  private async get(jobId: string, sk: string): Promise<Item | undefined> {
    const answer = await this.client.send(
      new GetItemCommand({ TableName: this.table, Key: this.key(jobId, sk), ConsistentRead: true }),
    );
    return answer.Item;
  }

  async createJob(job: {
    jobId: string;
    source: JobSource;
    operation: JobOperation;
    name: string;
  }): Promise<JobState | 'created'> {
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.table,
          Item: {
            ...this.key(job.jobId, JOB_SK),
            source: S(job.source),
            operation: S(JSON.stringify(job.operation)),
            name: S(job.name),
            state: S('ingesting'),
            total: N(0),
            started: N(0),
            rejected: N(0),
            failed: N(0),
            settled: N(0),
            startedAt: S(new Date(this.now()).toISOString()),
            expiresAt: this.expiresAt(),
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return 'created';
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const existing = await this.getJob(job.jobId);
      if (!existing) throw error;
      return existing.state;
    }
  }

  async recordRejected(jobId: string, outcomes: RowOutcome[]): Promise<void> {
    const sorted = [...outcomes].sort((a, b) => a.row - b.row);
    const puts: WriteRequest[] = [];
    for (let i = 0; i < sorted.length; i += REJECTED_PER_ITEM) {
      const group = sorted.slice(i, i + REJECTED_PER_ITEM);
      puts.push({
        PutRequest: {
          Item: {
            ...this.key(jobId, rejectedSk(group[0]!.row)),
            outcomes: S(JSON.stringify(group)),
            expiresAt: this.expiresAt(),
          },
        },
      });
    }
    for (let i = 0; i < puts.length; i += BATCH_WRITE_MAX) {
      await this.batchWrite(puts.slice(i, i + BATCH_WRITE_MAX));
    }
  }

  /** BatchWriteItem until DynamoDB has taken every item; it may hand some back when throttled. */
  private async batchWrite(requests: WriteRequest[]): Promise<void> {
    let pending = requests;
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt >= 10) throw new Error('DynamoDB kept refusing rejected-row items (throttled)');
      if (attempt > 0) await sleep(Math.min(2_000, 50 * 2 ** attempt));
      const answer = await this.client.send(
        new BatchWriteItemCommand({ RequestItems: { [this.table]: pending } }),
      );
      pending = answer.UnprocessedItems?.[this.table] ?? [];
    }
  }

  async finishIngest(jobId: string, totals: { total: number; rejected: number }): Promise<JobSummary> {
    try {
      const answer = await this.client.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: this.key(jobId, JOB_SK),
          UpdateExpression:
            'SET #total = :total, #rejected = :rejected, #state = :running ADD #settled :rejected',
          ConditionExpression: 'attribute_exists(pk) AND #state = :ingesting',
          ExpressionAttributeNames: {
            '#total': 'total',
            '#rejected': 'rejected',
            '#state': 'state',
            '#settled': 'settled',
          },
          ExpressionAttributeValues: {
            ':total': N(totals.total),
            ':rejected': N(totals.rejected),
            ':running': S('running'),
            ':ingesting': S('ingesting'),
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return summaryOf(jobId, answer.Attributes ?? {});
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      return this.requireJob(jobId);
    }
  }

  async claimChunk(jobId: string, chunkId: string, leaseMs: number): Promise<ChunkClaim> {
    const now = this.now();
    try {
      const answer = await this.client.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: this.key(jobId, chunkSk(jobId, chunkId)),
          UpdateExpression: 'SET #state = :claimed, #until = :until, #exp = :exp ADD #rev :one',
          ConditionExpression: 'attribute_not_exists(pk) OR #state IN (:released, :dead)',
          ExpressionAttributeNames: {
            '#state': 'state',
            '#until': 'claimedUntil',
            '#exp': 'expiresAt',
            '#rev': 'rev',
          },
          ExpressionAttributeValues: {
            ':claimed': S('claimed'),
            ':released': S('released'),
            ':dead': S('dead_lettered'),
            ':until': N(now + leaseMs),
            ':exp': this.expiresAt(),
            ':one': N(1),
          },
          ReturnValues: 'ALL_OLD',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { kind: 'claimed', redriven: answer.Attributes?.outcomes !== undefined };
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const item = error.Item ?? (await this.get(jobId, chunkSk(jobId, chunkId)));
      const state = str(item?.state) as ChunkState | undefined;
      if (state !== 'done' && state !== 'claimed') return this.claimChunk(jobId, chunkId, leaseMs); // changed meanwhile: try again
      return claimOfHeldChunk(state, num(item?.claimedUntil), now);
    }
  }

  async completeChunk(
    jobId: string,
    chunkId: string,
    outcomes: RowOutcome[],
    options: { deadLettered?: boolean } = {},
  ): Promise<JobSummary> {
    const sk = chunkSk(jobId, chunkId);
    const chunk = await this.get(jobId, sk);
    const state = str(chunk?.state) as ChunkState | undefined;
    if (state === 'done' || state === 'dead_lettered') return this.requireJob(jobId);
    // Outcomes already counted (dead-lettered ones a redriven claim replaces) come off the counts.
    const old = JSON.parse(str(chunk?.outcomes) ?? '[]') as RowOutcome[];
    const { started, failed } = countsDelta(outcomes, old);
    try {
      await this.client.send(
        new TransactWriteItemsCommand({
          TransactItems: [
            {
              Update: {
                TableName: this.table,
                Key: this.key(jobId, sk),
                UpdateExpression:
                  'SET #state = :final, #outcomes = :outcomes, #exp = :exp REMOVE #until ADD #rev :one',
                // The revision we read: if anyone completed, released or re-claimed it since, we lose.
                ConditionExpression: chunk === undefined ? 'attribute_not_exists(pk)' : '#rev = :rev',
                ExpressionAttributeNames: {
                  '#state': 'state',
                  '#outcomes': 'outcomes',
                  '#exp': 'expiresAt',
                  '#until': 'claimedUntil',
                  '#rev': 'rev',
                },
                ExpressionAttributeValues: {
                  ':final': S(options.deadLettered ? 'dead_lettered' : 'done'),
                  ':outcomes': S(JSON.stringify(outcomes)),
                  ':exp': this.expiresAt(),
                  ':one': N(1),
                  ...(chunk !== undefined && { ':rev': N(num(chunk.rev)) }),
                },
              },
            },
            {
              Update: {
                TableName: this.table,
                Key: this.key(jobId, JOB_SK),
                UpdateExpression: 'ADD #started :started, #failed :failed, #settled :settled',
                ConditionExpression: 'attribute_exists(pk)',
                ExpressionAttributeNames: {
                  '#started': 'started',
                  '#failed': 'failed',
                  '#settled': 'settled',
                },
                ExpressionAttributeValues: {
                  ':started': N(started),
                  ':failed': N(failed),
                  ':settled': N(outcomes.length - old.length),
                },
              },
            },
          ],
        }),
      );
    } catch (error) {
      if (!(error instanceof TransactionCanceledException)) throw error;
      const reasons = error.CancellationReasons ?? [];
      if (reasons[1]?.Code === 'ConditionalCheckFailed') throw new Error(`job ${jobId} does not exist`);
      if (reasons[0]?.Code !== 'ConditionalCheckFailed') throw error;
      // Someone else completed it first: theirs counts, ours is dropped.
    }
    return this.requireJob(jobId);
  }

  async releaseChunk(jobId: string, chunkId: string): Promise<void> {
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: this.key(jobId, chunkSk(jobId, chunkId)),
          UpdateExpression: 'SET #state = :released REMOVE #until ADD #rev :one',
          ConditionExpression: '#state = :claimed',
          ExpressionAttributeNames: { '#state': 'state', '#until': 'claimedUntil', '#rev': 'rev' },
          ExpressionAttributeValues: { ':released': S('released'), ':claimed': S('claimed'), ':one': N(1) },
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
  }

  async markDone(jobId: string): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: this.key(jobId, JOB_SK),
          UpdateExpression: 'SET #state = :done, #finishedAt = :now',
          ConditionExpression: '#state = :running AND #settled = #total',
          ExpressionAttributeNames: {
            '#state': 'state',
            '#finishedAt': 'finishedAt',
            '#settled': 'settled',
            '#total': 'total',
          },
          ExpressionAttributeValues: {
            ':done': S('done'),
            ':running': S('running'),
            ':now': S(new Date(this.now()).toISOString()),
          },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  async getJob(jobId: string): Promise<JobSummary | undefined> {
    const item = await this.get(jobId, JOB_SK);
    return item && summaryOf(jobId, item);
  }

  private async requireJob(jobId: string): Promise<JobSummary> {
    const job = await this.getJob(jobId);
    if (!job) throw new Error(`job ${jobId} does not exist`);
    return job;
  }

  /** The outcomes of the items under one sk prefix, item by item in sk order, each item's rows sorted. */
  private async *itemOutcomes(jobId: string, prefix: string): AsyncGenerator<RowOutcome> {
    let start: Item | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
          ProjectionExpression: '#outcomes',
          ExpressionAttributeNames: { '#outcomes': 'outcomes' },
          ExpressionAttributeValues: { ':pk': S(jobPk(jobId)), ':prefix': S(prefix) },
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }),
      );
      for (const item of page.Items ?? []) {
        const outcomes = JSON.parse(str(item.outcomes) ?? '[]') as RowOutcome[];
        yield* outcomes.sort((a, b) => a.row - b.row);
      }
      start = page.LastEvaluatedKey;
    } while (start);
  }

  async *outcomes(jobId: string): AsyncIterable<RowOutcome> {
    // Two sorted streams (chunks in chunk order = row order; rejected rows by first row), merged.
    const chunks = this.itemOutcomes(jobId, 'chunk#');
    const rejected = this.itemOutcomes(jobId, 'rejected#');
    let a = await chunks.next();
    let b = await rejected.next();
    let last: number | undefined;
    while (!a.done || !b.done) {
      let next: RowOutcome;
      if (b.done || (!a.done && a.value.row <= b.value.row)) {
        next = a.value as RowOutcome;
        a = await chunks.next();
      } else {
        next = b.value;
        b = await rejected.next();
      }
      if (next.row === last) continue; // a row recorded twice (a replayed ingest) appears once
      last = next.row;
      yield next;
    }
  }
}
