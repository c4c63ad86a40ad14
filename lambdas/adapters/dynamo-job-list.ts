/**
 * Listing jobs in the jobs table by creation time, without a scan: a global secondary index (JOBS_LIST_INDEX) on
 * every job item, partition `listPk = jobs#<owner>` (the API caller, or `jobs#shared` for uploads), sort
 * `listSk = <startedAt ISO>#<jobId>`, projecting `state` only.
 *
 * Why this shape:
 * - One partition per owner: a caller's list is one Query, newest first (`ScanIndexForward: false`), and the
 *   ownership rule (../core/job-access.ts) is the key condition itself; nobody's list can reach another's jobs.
 * - Projection of `state` alone (INCLUDE): the index is written when a job is created and when its state moves
 *   (twice more), never by the per-chunk count updates, which are the table's hottest writes. Projecting the
 *   counts would add an index write to every chunk completion and put every upload's completions on the one
 *   `jobs#shared` index partition (about 1,000 writes/s at the fastest pacing, an index partition's limit, and a
 *   throttled index slows the table's writes). The counts are read from the job items by one BatchGetItem.
 * - Hot partitions: an index partition takes a job's three writes (create and two state moves), so even the
 *   shared one stays far below 1,000 writes/s unless thousands of uploads a second arrive.
 * - `state` filters on the index: the Query reads at most `budget` entries per call, so a rare state among many
 *   others gives a short page and a position to go on from, instead of an unbounded read.
 * Items expire with the job (TTL): the index forgets them at the same time.
 */
import {
  BatchGetItemCommand,
  QueryCommand,
  type AttributeValue,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { SHARED_OWNER } from '../core/job-access';
import type { JobListQuery, JobSummary, NewJob } from '../core/jobs';
import { policyDelay, retryLoop } from '../core/retry';
import { AWS_WRITE_RETRY, withAwsRetries } from './aws-retry';

type Item = Record<string, AttributeValue>;

export const JOBS_LIST_INDEX = 'ByOwner';
export const LIST_PK = 'listPk';
export const LIST_SK = 'listSk';
/** Index entries read per listJobs call at most (about 100 KB of index reads). */
export const DEFAULT_LIST_BUDGET = 1000;
/** BatchGetItem's limit, and the largest page. */
const BATCH_GET_MAX = 100;

export const listPkOf = (owner: string | undefined) => `jobs#${owner ?? SHARED_OWNER}`;

/** The job item's own listing attributes: who owns it, where it came from, its place in its owner's list. */
export function listingAttributes(job: NewJob, startedAt: string): Item {
  return {
    ...(job.owner !== undefined && { owner: { S: job.owner } }),
    ...(job.uploadKey !== undefined && { uploadKey: { S: job.uploadKey } }),
    ...(job.alias !== undefined && { alias: { S: job.alias } }),
    [LIST_PK]: { S: listPkOf(job.owner) },
    [LIST_SK]: { S: `${startedAt}#${job.jobId}` },
  };
}

/** The summary fields listingAttributes stored. */
export function listedFields(item: Item): Pick<JobSummary, 'owner' | 'uploadKey' | 'alias'> {
  return {
    ...(item.owner?.S !== undefined && { owner: item.owner.S }),
    ...(item.uploadKey?.S !== undefined && { uploadKey: item.uploadKey.S }),
    ...(item.alias?.S !== undefined && { alias: item.alias.S }),
  };
}

/** One owner's partition, read newest first from `before` until `limit` matches, its end, or `budget` entries. */
async function readOwner(
  client: DynamoDBClient,
  table: string,
  owner: string,
  query: JobListQuery,
  budget: number,
): Promise<{ positions: string[]; bound?: string }> {
  const positions: string[] = [];
  let start: Item | undefined;
  let read = 0;
  let last: string | undefined;
  do {
    const want = query.state === undefined ? query.limit - positions.length : Math.min(200, budget - read);
    const page = await withAwsRetries(() =>
      client.send(
        new QueryCommand({
          TableName: table,
          IndexName: JOBS_LIST_INDEX,
          KeyConditionExpression: `#pk = :pk${query.before === undefined ? '' : ' AND #sk < :before'}`,
          ...(query.state !== undefined && { FilterExpression: '#state = :state' }),
          ExpressionAttributeNames: {
            '#pk': LIST_PK,
            ...(query.before !== undefined && { '#sk': LIST_SK }),
            ...(query.state !== undefined && { '#state': 'state' }),
          },
          ExpressionAttributeValues: {
            ':pk': { S: listPkOf(owner) },
            ...(query.before !== undefined && { ':before': { S: query.before } }),
            ...(query.state !== undefined && { ':state': { S: query.state } }),
          },
          ScanIndexForward: false,
          Limit: Math.max(1, want),
          ExclusiveStartKey: start,
        }),
      ),
    );
    read += page.ScannedCount ?? 0;
    for (const item of page.Items ?? []) positions.push(item[LIST_SK]!.S!);
    start = page.LastEvaluatedKey;
    last = start?.[LIST_SK]?.S ?? last;
  } while (start && positions.length < query.limit && read < budget);
  // Complete down to `bound` (the last entry examined) when it stopped early; to the end otherwise.
  return start ? { positions, bound: last } : { positions };
}

/**
 * The job ids of one page, newest first, and where the next starts. Several owners (a reader's own jobs and the
 * shared ones) are merged; the page only goes as deep as every owner was read, so nothing is skipped.
 */
export async function listFromIndex(
  client: DynamoDBClient,
  table: string,
  query: JobListQuery,
): Promise<{ jobIds: string[]; lastPosition?: string }> {
  const budget = Math.max(1, Math.floor((query.budget ?? DEFAULT_LIST_BUDGET) / query.owners.length));
  const reads = await Promise.all(
    query.owners.map((owner) => readOwner(client, table, owner, query, budget)),
  );
  const bounds = reads.flatMap((r) => (r.bound === undefined ? [] : [r.bound]));
  const floor = bounds.length === 0 ? undefined : bounds.reduce((a, b) => (a > b ? a : b));
  const merged = reads
    .flatMap((r) => r.positions)
    .filter((position) => floor === undefined || position >= floor)
    .sort((a, b) => (a < b ? 1 : -1));
  const page = merged.slice(0, Math.min(query.limit, BATCH_GET_MAX));
  const more = merged.length > page.length || floor !== undefined;
  const lastPosition = page.length === merged.length && floor !== undefined ? floor : page[page.length - 1];
  return {
    jobIds: page.map((position) => position.slice(position.lastIndexOf('#') + 1)),
    ...(more && lastPosition !== undefined && { lastPosition }),
  };
}

/** The job items by key, in one BatchGetItem (up to 100), asking again for keys DynamoDB hands back. */
export async function getJobItems(
  client: DynamoDBClient,
  table: string,
  keys: Item[],
): Promise<Map<string, Item>> {
  const found = new Map<string, Item>();
  let pending = keys;
  const unprocessed = new Error('DynamoDB kept handing back job items (throttled)');
  if (pending.length === 0) return found;
  await retryLoop(
    async () => {
      const answer = await withAwsRetries(() =>
        client.send(
          new BatchGetItemCommand({ RequestItems: { [table]: { Keys: pending, ConsistentRead: true } } }),
        ),
      );
      for (const item of answer.Responses?.[table] ?? []) found.set(item.pk!.S!, item);
      pending = answer.UnprocessedKeys?.[table]?.Keys ?? [];
      if (pending.length > 0) throw unprocessed;
    },
    (error, n, elapsedMs) => (error === unprocessed ? policyDelay(n, elapsedMs, AWS_WRITE_RETRY) : undefined),
  );
  return found;
}
