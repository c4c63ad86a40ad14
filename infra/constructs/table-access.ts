/**
 * Who may do what in the jobs table: one entry per kind of function, each with exactly the DynamoDB actions its
 * code calls and the partition-key prefixes it may touch (`dynamodb:LeadingKeys`). The one place to read or change
 * a function's table rights; JobsTable.grantAccess turns an entry into the role's policy, and test/infra pins them.
 *
 * The items (lambdas/adapters/dynamo-*.ts) and their partition keys:
 * | pk prefix        | items                                     | written by                        |
 * |------------------|-------------------------------------------|-----------------------------------|
 * | `job#<jobId>`    | job, chunks, rejected rows                | async HTTP routes, ingest, worker |
 * | `idem#<scope>`   | Idempotency-Key records                   | async HTTP routes                 |
 * | `ratelimit#dana` | the rate limiter's slot (one item)        | worker                            |
 * | `aliases`        | every conversation alias (sk = its name)  | the alias API                     |
 *
 * A new kind of function (or a new item) adds an entry here, with the commands its adapter sends, and calls
 * `table.grantAccess(role, '<kind>')`; see docs/SECURITY.md "Least privilege in DynamoDB".
 *
 * A TransactWriteItems is authorized item by item (dynamodb:UpdateItem for its Update items, and so on), each
 * item under the same LeadingKeys condition.
 */
import { idempotencyPk } from '../../lambdas/adapters/dynamo-idempotency-store';
import { jobPk } from '../../lambdas/adapters/dynamo-job-store';
import { RATE_LIMIT_PK } from '../../lambdas/adapters/dynamo-rate-limiter';
import { ALIAS_PARTITION } from '../../lambdas/adapters/dynamo-alias-store';
import { JOBS_LIST_INDEX, listPkOf } from '../../lambdas/adapters/dynamo-job-list';

export type DynamoAction =
  | 'dynamodb:GetItem'
  | 'dynamodb:BatchGetItem'
  | 'dynamodb:Query'
  | 'dynamodb:PutItem'
  | 'dynamodb:UpdateItem'
  | 'dynamodb:BatchWriteItem'
  | 'dynamodb:ConditionCheckItem'
  | 'dynamodb:DeleteItem';

export interface TableAccess {
  /** Exactly the actions its code calls, by the commands of the adapters it uses. */
  actions: readonly DynamoAction[];
  /** Partition keys it may read or write: `StringLike` patterns (a prefix and `*`, or one exact key). */
  leadingKeys: readonly string[];
  /** A global secondary index: the grant is on that index alone (its LeadingKeys are the index's partition keys). */
  index?: string;
}

/** Every job's items: `job#*`. */
export const JOB_KEYS = `${jobPk('')}*`;
/** Every Idempotency-Key record: `idem#*`. */
export const IDEMPOTENCY_KEYS = `${idempotencyPk('')}*`;
/** The one rate-limiter item. */
export const RATE_LIMIT_KEY = RATE_LIMIT_PK;
/** The one partition every alias lives in (exact, no wildcard). */
export const ALIAS_KEY = ALIAS_PARTITION;
/** Every owner's partition of the jobs list index: `jobs#*`. */
export const JOB_LIST_KEYS = `${listPkOf('')}*`;

export const TABLE_ACCESS = {
  /** GET /jobs/{jobId}: getJob (GetItem) and outcomes (Query). */
  'job-reader': {
    actions: ['dynamodb:GetItem', 'dynamodb:Query'],
    leadingKeys: [JOB_KEYS],
  },
  /** GET /jobs: the job items of a page (BatchGetItem); its Query is on the list index ('job-list-index'). */
  'job-lister': {
    actions: ['dynamodb:BatchGetItem'],
    leadingKeys: [JOB_KEYS],
  },
  /** GET /jobs: a page of an owner's job ids (lambdas/adapters/dynamo-job-list.ts), Query on the list index only. */
  'job-list-index': {
    actions: ['dynamodb:Query'],
    leadingKeys: [JOB_LIST_KEYS],
    index: JOBS_LIST_INDEX,
  },
  /** GET /jobs/{jobId}/report: getJob (GetItem) alone. */
  'job-report': {
    actions: ['dynamodb:GetItem'],
    leadingKeys: [JOB_KEYS],
  },
  /**
   * The `Prefer: respond-async` routes (core/api-jobs.ts): the idempotency claim (PutItem, GetItem), createJob
   * (PutItem, GetItem), finishIngest and markDone (UpdateItem), getJob (GetItem). No Query, no batch writes.
   */
  'async-http': {
    actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
    leadingKeys: [JOB_KEYS, IDEMPOTENCY_KEYS],
  },
  /**
   * ingest-upload (core/ingest.ts): createJob (PutItem, GetItem), recordRejected (BatchWriteItem), finishIngest,
   * markDone and the report lease (UpdateItem), the report's outcomes (Query).
   */
  ingest: {
    actions: [
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
      'dynamodb:BatchWriteItem',
      'dynamodb:Query',
    ],
    leadingKeys: [JOB_KEYS],
  },
  /**
   * process-chunk (core/worker.ts): the job check and claims (GetItem, UpdateItem), completeChunk (a
   * TransactWriteItems of two Updates), release, markDone and the report lease (UpdateItem), the report's outcomes
   * (Query); the rate limiter (UpdateItem, GetItem on its one item). It creates nothing: no PutItem.
   */
  worker: {
    actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:Query'],
    leadingKeys: [JOB_KEYS, RATE_LIMIT_KEY],
  },
  /**
   * Every function that resolves an alias (lambdas/core/aliases.ts resolveConversation over DynamoAliasStore.get):
   * the routes with `{conversationId}` in their path, ingest-upload, and start-list for schedules. Reads only.
   */
  'alias-resolver': {
    actions: ['dynamodb:GetItem'],
    leadingKeys: [ALIAS_KEY],
  },
  /** The alias API (lambdas/aliases/handler.ts): get (GetItem), put (PutItem), list (Query), delete (DeleteItem). */
  'alias-admin': {
    actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:DeleteItem'],
    leadingKeys: [ALIAS_KEY],
  },
} as const satisfies Record<string, TableAccess>;

export type TableAccessKind = keyof typeof TABLE_ACCESS;
