/**
 * The DynamoDB rate limiter (one item in the jobs table) on moto_server: concurrent acquirers in several
 * "workers" (limiter instances, each with its own stale view) race with real conditional writes. The clock is
 * frozen, so every slot shows up as the wait the limiter asks for: slot = now + wait.
 */
import { DeleteTableCommand, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DynamoRateLimiter, RATE_LIMIT_PK } from '../../lambdas/adapters/dynamo-rate-limiter';
import { PacingBusyError, slotIntervalMs } from '../../lambdas/core/pacing';
import { createJobsTable, awsDynamo } from './job-store-table';

const dynamo = awsDynamo(inject('awsEndpoint'));
const tableName = `jobs-limiter-${randomUUID()}`;

beforeAll(() => createJobsTable(dynamo, tableName));
afterAll(async () => {
  await dynamo.send(new DeleteTableCommand({ TableName: tableName }));
  dynamo.destroy();
});

function workers(count: number, rate: number, pk: string, now: number, maxWaitMs = 60_000) {
  const slots: number[] = [];
  const limiters = Array.from(
    { length: count },
    () =>
      new DynamoRateLimiter({
        client: dynamo,
        tableName,
        pk,
        ratePerSecond: rate,
        maxWaitMs,
        now: () => now,
        sleep: async (ms) => void slots.push(now + ms),
      }),
  );
  return { limiters, slots };
}

describe('DynamoRateLimiter', () => {
  it.each([
    [10, 3, 24],
    [3, 4, 12],
    [50, 5, 40],
  ])(
    'R = %i: %i workers, %i concurrent acquirers, never two slots closer than 1000/R ms',
    async (rate, count, n) => {
      const now = Date.UTC(2026, 0, 1);
      const pk = `ratelimit#${randomUUID()}`;
      const { limiters, slots } = workers(count, rate, pk, now);
      await Promise.all(Array.from({ length: n }, (_, i) => limiters[i % count]!.acquire()));
      // The first slot is `now` itself (no wait, so no sleep call); the rest were slept for.
      expect(slots).toHaveLength(n - 1);
      const all = [now, ...slots].sort((a, b) => a - b);
      for (let i = 1; i < all.length; i++)
        expect(all[i]! - all[i - 1]!).toBeGreaterThanOrEqual(1000 / rate - 1e-6);
      expect(all.at(-1)).toBeCloseTo(now + (n - 1) * slotIntervalMs(rate), 3); // and no slot was wasted
    },
  );

  it('keeps the budget across calls that come later, and across limiters', async () => {
    const pk = `ratelimit#${randomUUID()}`;
    const start = Date.UTC(2026, 0, 1);
    const interval = slotIntervalMs(4);
    const first = workers(1, 4, pk, start);
    await first.limiters[0]!.acquire();
    await first.limiters[0]!.acquire();
    expect(first.slots).toEqual([start + interval]);
    const later = workers(1, 4, pk, start + 100); // a fresh worker, knowing nothing
    await later.limiters[0]!.acquire();
    expect(later.slots).toEqual([start + 2 * interval]);
    const idle = workers(1, 4, pk, start + 10_000); // long after: no burst credit piles up
    await idle.limiters[0]!.acquire();
    await idle.limiters[0]!.acquire();
    expect(idle.slots).toEqual([start + 10_000 + interval]);
  });

  it('refuses callers that would wait longer than maxWait, and reserves nothing for them', async () => {
    const pk = `ratelimit#${randomUUID()}`;
    const now = Date.UTC(2026, 0, 1);
    const interval = slotIntervalMs(10);
    const { limiters, slots } = workers(2, 10, pk, now, 2 * interval + interval / 2);
    const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => limiters[i % 2]!.acquire()));
    const refused = results.filter((r) => r.status === 'rejected');
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3); // now, +1, +2 intervals
    for (const r of refused) expect((r as PromiseRejectedResult).reason).toBeInstanceOf(PacingBusyError);
    expect(slots.sort()).toEqual([now + interval, now + 2 * interval]);
    const item = await dynamo.send(
      new GetItemCommand({ TableName: tableName, Key: { pk: { S: pk }, sk: { S: 'ratelimit' } } }),
    );
    expect(Number(item.Item?.lastSlot?.N)).toBe(now + 2 * interval);
  });

  it('spends about one write per slot when many workers acquire at once (no herd of lost races)', async () => {
    // 20 workers (one limiter each, as 20 Lambda environments) each take 10 slots while all the others do.
    // An optimistic "still what I read" write cost about N/2 writes per slot here: every loser retried.
    const pk = `ratelimit#${randomUUID()}`;
    const now = Date.UTC(2026, 0, 1);
    const { limiters, slots } = workers(20, 1000, pk, now);
    let writes = 0;
    const count =
      (next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) => (args: unknown) => {
        if (context.commandName === 'UpdateItemCommand') writes++;
        return next(args);
      };
    dynamo.middlewareStack.add(count as never, { step: 'initialize', name: 'countLimiterWrites' });
    try {
      await Promise.all(
        limiters.map(async (limiter) => {
          for (let i = 0; i < 10; i++) await limiter.acquire();
        }),
      );
    } finally {
      dynamo.middlewareStack.remove('countLimiterWrites');
    }
    const all = [now, ...slots].sort((a, b) => a - b);
    expect(all).toHaveLength(200);
    for (let i = 1; i < all.length; i++)
      expect(all[i]! - all[i - 1]!).toBeGreaterThanOrEqual(1000 / 1000 - 1e-6);
    // One write per slot, plus at most one wrong guess per worker when the regime changes (idle → queueing).
    expect(writes).toBeLessThanOrEqual(200 + 20);
  });

  it('uses the documented item by default', () => {
    expect(RATE_LIMIT_PK).toBe('ratelimit#dana');
  });
});
