/**
 * The job store on one DynamoDB table (`JOBS_TABLE_NAME`; keys `pk`, `sk`; TTL attribute `expiresAt`):
 *
 * | item          | pk            | sk                         | attributes                                                   |
 * |---------------|---------------|----------------------------|--------------------------------------------------------------|
 * | job           | `job#<jobId>` | `job`                      | source, operation (JSON), name, owner, uploadKey, alias, listPk, listSk (./dynamo-job-list.ts), state, total, started, rejected, failed, settled, startedAt, finishedAt, rev, reportedRev, reportOwner, reportUntil, eventPublished |
 * | chunk         | `job#<jobId>` | `chunk#<index>`            | state (claimed/released/done/dead_lettered), owner, claimedUntil (epoch ms), outcomes (JSON), rev |
 * | rejected rows | `job#<jobId>` | `rejected#<firstRow, 10 digits>` | outcomes (JSON, up to 100 rows)                        |
 *
 * Exactly-once rests on conditional writes: a claim succeeds only on a free chunk; a completion writes the chunk
 * (conditioned on the revision it read) and adds to the job's counts in one transaction, so a concurrent double
 * delivery counts once; `markDone` is conditioned on `state = running AND settled = total`, where `settled`
 * (= started + failed + rejected) is kept by the same atomic ADDs as the counts.
 *
 * Real DynamoDB cancels concurrent transactions on one item (the job item is hot: every completion adds to its
 * counts) and throttles; every write here goes through ./aws-retry.ts. Each is conditional, so a repeat of an
 * attempt that acted but lost its answer fails its condition and is read as done: a claim by the same `owner`,
 * a chunk whose revision moved on, a release of a claim no longer held.
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
  type JobListPage,
  type JobListQuery,
  type JobOperation,
  type JobSource,
  type JobState,
  type JobStore,
  type NewJob,
  type JobSummary,
  type RowOutcome,
} from '../core/jobs';
import { policyDelay, retryLoop } from '../core/retry';
import { AWS_WRITE_RETRY, withAwsRetries } from './aws-retry';
import { getJobItems, listedFields, listFromIndex, listingAttributes } from './dynamo-job-list';

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

/** The partition key of every item of a job (infra/constructs/table-access.ts grants by its prefix). */
export const jobPk = (jobId: string) => `job#${jobId}`;
const JOB_SK = 'job';
/** `<jobId>#000000012` -> `chunk#000000012`, so chunk items sort in chunk order. */
const chunkSk = (jobId: string, chunkId: string) =>
  `chunk#${chunkId.startsWith(`${jobId}#`) ? chunkId.slice(jobId.length + 1) : chunkId}`;
const rejectedSk = (firstRow: number) => `rejected#${String(firstRow).padStart(10, '0')}`;

/** A job item of the table, read back as the JobSummary the store answers with. */
function jobSummaryOfItem(jobId: string, item: Item): JobSummary {
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
    rev: num(item.rev),
    ...(item.reportedRev !== undefined && { reportedRev: num(item.reportedRev) }),
    ...listedFields(item),
    ...(item.eventPublished?.BOOL === true && { eventPublished: true }),
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

  /** Every request goes through the retry of passing failures (./aws-retry.ts). */
  private send<T>(command: Parameters<DynamoDBClient['send']>[0]): Promise<T> {
    return withAwsRetries(() => this.client.send(command) as Promise<T>);
  }

  private key(jobId: string, sk: string): Item {
    return { pk: S(jobPk(jobId)), sk: S(sk) };
  }

  private async get(jobId: string, sk: string): Promise<Item | undefined> {
    const answer = await withAwsRetries(() =>
      this.client.send(
        new GetItemCommand({ TableName: this.table, Key: this.key(jobId, sk), ConsistentRead: true }),
      ),
    );
    return answer.Item;
  }

  async createJob(job: NewJob): Promise<JobState | 'created'> {
    const startedAt = new Date(this.now()).toISOString();
    try {
      // Retried like every write here: a repeat of a put that acted fails its condition and reads the job.
      await withAwsRetries(() =>
        this.client.send(
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
              startedAt: S(startedAt),
              expiresAt: this.expiresAt(),
              ...listingAttributes(job, startedAt),
            },
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
        ),
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

  /** BatchWriteItem until DynamoDB has taken every item; it hands some back when throttled. */
  private async batchWrite(requests: WriteRequest[]): Promise<void> {
    let pending = requests;
    const unprocessed = new Error('DynamoDB kept refusing rejected-row items (throttled)');
    await retryLoop(
      async () => {
        const answer = await withAwsRetries(() =>
          this.client.send(new BatchWriteItemCommand({ RequestItems: { [this.table]: pending } })),
        );
        pending = answer.UnprocessedItems?.[this.table] ?? [];
        if (pending.length > 0) throw unprocessed;
      },
      (error, n, elapsedMs) =>
        error === unprocessed ? policyDelay(n, elapsedMs, AWS_WRITE_RETRY) : undefined,
    );
  }

  async finishIngest(jobId: string, totals: { total: number; rejected: number }): Promise<JobSummary> {
    try {
      // A worker's completion transaction may hold the job item right now (TransactionConflictException):
      // retried; a repeat of an update that acted fails its condition and reads the job.
      const answer = await withAwsRetries(() =>
        this.client.send(
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
        ),
      );
      return jobSummaryOfItem(jobId, answer.Attributes ?? {});
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      return this.requireJob(jobId);
    }
  }

  async claimChunk(jobId: string, chunkId: string, leaseMs: number, owner: string): Promise<ChunkClaim> {
    const now = this.now();
    try {
      const answer = await withAwsRetries(() =>
        this.client.send(
          new UpdateItemCommand({
            TableName: this.table,
            Key: this.key(jobId, chunkSk(jobId, chunkId)),
            UpdateExpression:
              'SET #state = :claimed, #owner = :owner, #until = :until, #exp = :exp ADD #rev :one',
            // The same owner again: our earlier attempt acted and lost its answer; the claim is ours.
            ConditionExpression:
              'attribute_not_exists(pk) OR #state IN (:released, :dead) OR (#state = :claimed AND #owner = :owner)',
            ExpressionAttributeNames: {
              '#state': 'state',
              '#owner': 'owner',
              '#until': 'claimedUntil',
              '#exp': 'expiresAt',
              '#rev': 'rev',
            },
            ExpressionAttributeValues: {
              ':claimed': S('claimed'),
              ':released': S('released'),
              ':dead': S('dead_lettered'),
              ':owner': S(owner),
              ':until': N(now + leaseMs),
              ':exp': this.expiresAt(),
              ':one': N(1),
            },
            ReturnValues: 'ALL_OLD',
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        ),
      );
      return { kind: 'claimed', redriven: answer.Attributes?.outcomes !== undefined };
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const item = error.Item ?? (await this.get(jobId, chunkSk(jobId, chunkId)));
      const state = str(item?.state) as ChunkState | undefined;
      if (state !== 'done' && state !== 'claimed') return this.claimChunk(jobId, chunkId, leaseMs, owner); // changed meanwhile: try again
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
    try {
      // The same transaction, repeated on a conflict or a lost answer: it is conditioned on the revision read
      // above, so once one attempt has acted every repeat fails that condition (handled below).
      const transaction = this.completion(jobId, sk, chunk, outcomes, options.deadLettered === true);
      await withAwsRetries(() => this.client.send(transaction));
    } catch (error) {
      if (!(error instanceof TransactionCanceledException)) throw error;
      const reasons = error.CancellationReasons ?? [];
      if (reasons[1]?.Code === 'ConditionalCheckFailed') throw new Error(`job ${jobId} does not exist`);
      if (reasons[0]?.Code !== 'ConditionalCheckFailed') throw error;
      // Completed already: by another worker (theirs counts), or by our own attempt whose answer was lost.
    }
    return this.requireJob(jobId);
  }

  /** The chunk's outcomes and the job's counts, in one transaction (see the table at the top). */
  private completion(
    jobId: string,
    sk: string,
    chunk: Item | undefined,
    outcomes: RowOutcome[],
    deadLettered: boolean,
  ): TransactWriteItemsCommand {
    // Outcomes already counted (dead-lettered ones a redriven claim replaces) come off the counts.
    const old = JSON.parse(str(chunk?.outcomes) ?? '[]') as RowOutcome[];
    const { started, failed } = countsDelta(outcomes, old);
    const chunkUpdate = {
      TableName: this.table,
      Key: this.key(jobId, sk),
      UpdateExpression:
        'SET #state = :final, #outcomes = :outcomes, #exp = :exp REMOVE #until, #owner ADD #rev :one',
      // The revision we read: if anyone completed, released or re-claimed it since, we lose.
      ConditionExpression: chunk === undefined ? 'attribute_not_exists(pk)' : '#rev = :rev',
      ExpressionAttributeNames: {
        '#state': 'state',
        '#outcomes': 'outcomes',
        '#exp': 'expiresAt',
        '#until': 'claimedUntil',
        '#owner': 'owner',
        '#rev': 'rev',
      },
      ExpressionAttributeValues: {
        ':final': S(deadLettered ? 'dead_lettered' : 'done'),
        ':outcomes': S(JSON.stringify(outcomes)),
        ':exp': this.expiresAt(),
        ':one': N(1),
        ...(chunk !== undefined && { ':rev': N(num(chunk.rev)) }),
      },
    };
    const jobUpdate = {
      TableName: this.table,
      Key: this.key(jobId, JOB_SK),
      UpdateExpression: 'ADD #started :started, #failed :failed, #settled :settled, #rev :one',
      ConditionExpression: 'attribute_exists(pk)',
      ExpressionAttributeNames: {
        '#started': 'started',
        '#failed': 'failed',
        '#settled': 'settled',
        '#rev': 'rev',
      },
      ExpressionAttributeValues: {
        ':started': N(started),
        ':failed': N(failed),
        ':settled': N(outcomes.length - old.length),
        ':one': N(1),
      },
    };
    return new TransactWriteItemsCommand({ TransactItems: [{ Update: chunkUpdate }, { Update: jobUpdate }] });
  }

  async releaseChunk(jobId: string, chunkId: string, owner: string): Promise<void> {
    try {
      await withAwsRetries(() =>
        this.client.send(
          new UpdateItemCommand({
            TableName: this.table,
            Key: this.key(jobId, chunkSk(jobId, chunkId)),
            UpdateExpression: 'SET #state = :released REMOVE #until, #owner ADD #rev :one',
            ConditionExpression: '#state = :claimed AND #owner = :owner',
            ExpressionAttributeNames: {
              '#state': 'state',
              '#until': 'claimedUntil',
              '#owner': 'owner',
              '#rev': 'rev',
            },
            ExpressionAttributeValues: {
              ':released': S('released'),
              ':claimed': S('claimed'),
              ':owner': S(owner),
              ':one': N(1),
            },
          }),
        ),
      );
    } catch (error) {
      // Not ours any more: released by an earlier attempt whose answer was lost.
      if (!isConditionFailure(error)) throw error;
    }
  }

  async markDone(jobId: string): Promise<boolean> {
    try {
      await withAwsRetries(() =>
        this.client.send(
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
        ),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  async takeReportLease(jobId: string, owner: string, leaseMs: number): Promise<JobSummary | undefined> {
    const now = this.now();
    try {
      const answer = await withAwsRetries(() =>
        this.client.send(
          new UpdateItemCommand({
            TableName: this.table,
            Key: this.key(jobId, JOB_SK),
            UpdateExpression: 'SET #owner = :owner, #until = :until',
            ConditionExpression:
              '#state = :done AND (attribute_not_exists(#until) OR #until < :now OR #owner = :owner)',
            ExpressionAttributeNames: { '#state': 'state', '#owner': 'reportOwner', '#until': 'reportUntil' },
            ExpressionAttributeValues: {
              ':done': S('done'),
              ':owner': S(owner),
              ':until': N(now + leaseMs),
              ':now': N(now),
            },
            ReturnValues: 'ALL_NEW',
          }),
        ),
      );
      return jobSummaryOfItem(jobId, answer.Attributes ?? {});
    } catch (error) {
      if (isConditionFailure(error)) return undefined;
      throw error;
    }
  }

  async releaseReportLease(jobId: string, owner: string, reportedRev?: number): Promise<void> {
    const reported = reportedRev !== undefined;
    try {
      await withAwsRetries(() =>
        this.client.send(
          new UpdateItemCommand({
            TableName: this.table,
            Key: this.key(jobId, JOB_SK),
            UpdateExpression: `${reported ? 'SET #reported = :rev ' : ''}REMOVE #owner, #until`,
            ConditionExpression: '#owner = :owner',
            ExpressionAttributeNames: {
              ...(reported && { '#reported': 'reportedRev' }),
              '#owner': 'reportOwner',
              '#until': 'reportUntil',
            },
            ExpressionAttributeValues: { ...(reported && { ':rev': N(reportedRev) }), ':owner': S(owner) },
          }),
        ),
      );
    } catch (error) {
      // The lease ran out and another writer holds it now: it writes the report as it then stands.
      if (!isConditionFailure(error)) throw error;
    }
  }

  async markEventPublished(jobId: string): Promise<void> {
    // Conditional, so an expired job is not brought back as a stub item.
    await withAwsRetries(() =>
      this.client.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: this.key(jobId, JOB_SK),
          UpdateExpression: 'SET #published = :true',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeNames: { '#published': 'eventPublished' },
          ExpressionAttributeValues: { ':true': { BOOL: true } },
        }),
      ),
    );
  }

  async getJob(jobId: string): Promise<JobSummary | undefined> {
    const item = await this.get(jobId, JOB_SK);
    return item && jobSummaryOfItem(jobId, item);
  }

  /** Through the owners' index (./dynamo-job-list.ts): a Query per owner and one BatchGetItem, never a scan. */
  async listJobs(query: JobListQuery): Promise<JobListPage> {
    const page = await listFromIndex(this.client, this.table, query);
    const items = await getJobItems(
      this.client,
      this.table,
      page.jobIds.map((id) => this.key(id, JOB_SK)),
    );
    const jobs = page.jobIds.flatMap((jobId) => {
      const item = items.get(jobPk(jobId));
      return item ? [jobSummaryOfItem(jobId, item)] : []; // expired between the index and the read
    });
    return { jobs, ...(page.lastPosition !== undefined && { lastPosition: page.lastPosition }) };
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
      const page = await withAwsRetries(() =>
        this.client.send(
          new QueryCommand({
            TableName: this.table,
            KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
            ProjectionExpression: '#outcomes',
            ExpressionAttributeNames: { '#outcomes': 'outcomes' },
            ExpressionAttributeValues: { ':pk': S(jobPk(jobId)), ':prefix': S(prefix) },
            ConsistentRead: true,
            ExclusiveStartKey: start,
          }),
        ),
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
