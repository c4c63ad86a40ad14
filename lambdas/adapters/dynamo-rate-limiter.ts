/**
 * The rate limiter shared by every worker: one item in the jobs table (pk `ratelimit#dana`, sk `ratelimit`)
 * holding the last reserved slot (see core/pacing for the slot math).
 *
 * One write per slot, however many workers acquire at once. While calls queue (the last slot is at or after
 * `now - interval`), a worker reserves the slot after it with an atomic `ADD lastSlot :interval`: DynamoDB
 * applies concurrent ADDs one after the other, so every worker gets its own slot and nobody loses a race. The
 * write's condition keeps the new slot within `[now, now + maxWait]`. When nothing is queued (the last slot is
 * older, or absent), the slot is `now` itself, taken with a conditional SET. A worker tries the kind of write the
 * last answer it saw calls for; a wrong guess (the regime changed) costs one failed conditional write whose
 * answer, the current item, says which is right. An optimistic "lastSlot still what I read" write, as this was
 * before, cost N writes per slot when N workers acquired together (bench/soak/limiter-herd.ts: 15 with 20).
 *
 * Passing AWS failures are retried (./aws-retry.ts); an ADD that acted but lost its answer is repeated and costs
 * one unused slot, never an extra call.
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
/** After this many wrong guesses in a row (the regime flipping under us), give up for now. */
const MAX_ROUNDS = 50;

export interface DynamoRateLimiterOptions extends RateLimiterOptions {
  client: DynamoDBClient;
  tableName: string;
  /** One limiter per upstream account: a different pk gives an independent budget. */
  pk?: string;
}

/** A write's result: our slot, or the item's `lastSlot` (undefined: none yet) when the guess was wrong. */
type Attempt = { won: true; slot: number } | { won: false; lastSlot: number | undefined };

export class DynamoRateLimiter implements RateLimiter {
  private readonly client: DynamoDBClient;
  private readonly table: string;
  private readonly key: Record<string, AttributeValue>;
  private readonly intervalMs: number;
  private readonly maxWaitMs: number;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  /** Whether the last answer seen showed calls queueing (ADD after the last slot) or none (take `now`). */
  private expectQueue = false;

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
      const attempt = this.expectQueue ? await this.queueBehind(now) : await this.takeNow(now);
      if (attempt.won) {
        this.expectQueue = attempt.slot > now;
        // Wait until the slot itself, measured after the write: timing from before it would add the write's
        // (varying) latency to every call and bunch neighbouring calls together.
        const wait = attempt.slot - this.now();
        if (wait > 0) await this.sleep(wait);
        return;
      }
      const decision = nextSlot(attempt.lastSlot, now, this.intervalMs, this.maxWaitMs);
      if (decision.kind === 'busy') throw new PacingBusyError(decision.retryAt);
      this.expectQueue = decision.at > now;
    }
    throw new PacingBusyError(this.now() + this.intervalMs);
  }

  /** The slot after the last one, if that lies within `[now, now + maxWait]`. */
  private async queueBehind(now: number): Promise<Attempt> {
    return this.write(
      {
        UpdateExpression: 'ADD lastSlot :interval',
        ConditionExpression: 'lastSlot >= :floor AND lastSlot <= :ceiling',
        ExpressionAttributeValues: {
          ':interval': { N: String(this.intervalMs) },
          ':floor': { N: String(now - this.intervalMs) },
          ':ceiling': { N: String(now + this.maxWaitMs - this.intervalMs) },
        },
        ReturnValues: 'UPDATED_NEW',
      },
      (attributes) => Number(attributes?.lastSlot?.N),
    );
  }

  /** `now` itself, if no slot was reserved within the last interval. */
  private async takeNow(now: number): Promise<Attempt> {
    return this.write(
      {
        UpdateExpression: 'SET lastSlot = :now',
        ConditionExpression: 'attribute_not_exists(lastSlot) OR lastSlot < :floor',
        ExpressionAttributeValues: {
          ':now': { N: String(now) },
          ':floor': { N: String(now - this.intervalMs) },
        },
      },
      () => now,
    );
  }

  private async write(
    update: Pick<
      ConstructorParameters<typeof UpdateItemCommand>[0],
      'UpdateExpression' | 'ConditionExpression' | 'ExpressionAttributeValues' | 'ReturnValues'
    >,
    slotOf: (attributes: Record<string, AttributeValue> | undefined) => number,
  ): Promise<Attempt> {
    try {
      const output = await withAwsRetries(() =>
        this.client.send(
          new UpdateItemCommand({
            TableName: this.table,
            Key: this.key,
            ...update,
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        ),
      );
      return { won: true, slot: slotOf(output.Attributes) };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      return { won: false, lastSlot: await this.lastSlotFrom(error.Item) };
    }
  }

  /** The item's `lastSlot` from a failed condition's answer, or read when the answer did not carry it. */
  private async lastSlotFrom(item: Record<string, AttributeValue> | undefined): Promise<number | undefined> {
    const current =
      item ??
      (
        await withAwsRetries(() =>
          this.client.send(
            new GetItemCommand({ TableName: this.table, Key: this.key, ConsistentRead: true }),
          ),
        )
      ).Item;
    const value = current?.lastSlot?.N;
    return value === undefined ? undefined : Number(value);
  }
}
