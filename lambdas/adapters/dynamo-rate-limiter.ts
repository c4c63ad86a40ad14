/**
 * The rate limiter shared by every worker: one item in the jobs table (pk `ratelimit#dana`, sk `ratelimit`)
 * holding the last reserved slot. A reservation is an optimistic conditional write (`lastSlot` still what we
 * read); whoever loses reads the winner's slot from the failure and reserves the one after it. See core/pacing.
 * Passing AWS failures are retried (./aws-retry.ts); a reservation that acted but lost its answer is seen on the
 * repeat as someone else's slot, and costs one unused slot, never an extra call.
 */
import {
  ConditionalCheckFailedException,
  GetItemCommand,
  UpdateItemCommand,
  type AttributeValue,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import {
  DEFAULT_MAX_WAIT_MS,
  nextSlot,
  PacingBusyError,
  slotIntervalMs,
  type RateLimiter,
  type RateLimiterOptions,
} from '../core/pacing';
import { sleep } from '../core/retry';
import { withAwsRetries } from './aws-retry';

export const RATE_LIMIT_PK = 'ratelimit#dana';
/** After this many lost races in a row, give up for now (the worker hands its message back). */
const MAX_ROUNDS = 50;

export interface DynamoRateLimiterOptions extends RateLimiterOptions {
  client: DynamoDBClient;
  tableName: string;
  /** One limiter per upstream account: a different pk gives an independent budget. */
  pk?: string;
}

export class DynamoRateLimiter implements RateLimiter {
  private readonly client: DynamoDBClient;
  private readonly table: string;
  private readonly key: Record<string, AttributeValue>;
  private readonly intervalMs: number;
  private readonly maxWaitMs: number;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  /** The last slot this process saw; a guess that the conditional write checks. */
  private lastSeen: number | undefined;

  constructor(options: DynamoRateLimiterOptions) {
    this.client = options.client;
    this.table = options.tableName;
    this.key = { pk: { S: options.pk ?? RATE_LIMIT_PK }, sk: { S: 'ratelimit' } };
    this.intervalMs = slotIntervalMs(options.ratePerSecond);
    this.maxWaitMs = options.maxWaitMs ?? DEFAULT_MAX_WAIT_MS;
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? sleep;
  }

  async acquire(): Promise<void> {
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const now = this.now();
      const decision = nextSlot(this.lastSeen, now, this.intervalMs, this.maxWaitMs);
      if (decision.kind === 'busy') throw new PacingBusyError(decision.retryAt);
      if (await this.reserve(decision.at)) {
        // Wait until the slot itself, measured after the write: timing from before it would add the write's
        // (varying) latency to every call and bunch neighbouring calls together.
        const wait = decision.at - this.now();
        if (wait > 0) await this.sleep(wait);
        return;
      }
    }
    throw new PacingBusyError(this.now() + this.intervalMs);
  }

  /** Moves `lastSlot` from what we last saw to `slot`; false (and `lastSeen` updated) if someone was faster. */
  private async reserve(slot: number): Promise<boolean> {
    const seen = this.lastSeen;
    try {
      await withAwsRetries(() =>
        this.client.send(
          new UpdateItemCommand({
            TableName: this.table,
            Key: this.key,
            UpdateExpression: 'SET lastSlot = :slot',
            ConditionExpression: seen === undefined ? 'attribute_not_exists(lastSlot)' : 'lastSlot = :seen',
            ExpressionAttributeValues: {
              ':slot': { N: String(slot) },
              ...(seen !== undefined && { ':seen': { N: String(seen) } }),
            },
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        ),
      );
      this.lastSeen = slot;
      return true;
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      const item =
        error.Item ??
        (
          await withAwsRetries(() =>
            this.client.send(
              new GetItemCommand({ TableName: this.table, Key: this.key, ConsistentRead: true }),
            ),
          )
        ).Item;
      const current = item?.lastSlot?.N;
      this.lastSeen = current === undefined ? undefined : Number(current);
      return false;
    }
  }
}
