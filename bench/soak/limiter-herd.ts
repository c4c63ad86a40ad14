/**
 * `npx tsx bench/soak/limiter-herd.ts`: how many conditional writes the DynamoDB rate limiter spends per slot
 * when N workers acquire at once (the soak's bottleneck; see docs/SOAK.md). N DynamoRateLimiter instances (one
 * per worker environment, as in Lambda) acquire slots in a loop on one table, through the fault proxy with no
 * faults (it gives moto DynamoDB's per-item atomicity). R is high, so the waits are nothing and only the
 * reservations count. Prints UpdateItem requests per acquired slot, and slots per second, for each N.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { awsClientConfig } from '../../lambdas/adapters/aws-clients';
import { DynamoRateLimiter } from '../../lambdas/adapters/dynamo-rate-limiter';
import { PacingBusyError } from '../../lambdas/core/pacing';
import { startAwsFaultProxy } from '../../test/harness/aws-fault-proxy';
import { createJobsTable } from '../../test/integration/job-store-table';
import { startMotoServer } from '../../test/moto-server';

const SECONDS = 10;

async function measure(endpoint: string, table: string, workers: number) {
  const client = new DynamoDBClient({
    ...awsClientConfig('dynamodb'),
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  });
  let writes = 0;
  client.middlewareStack.add(
    (next, context) => (args) => {
      if (context.commandName === 'UpdateItemCommand') writes++;
      return next(args);
    },
    { step: 'initialize', name: 'countWrites' },
  );
  const limiters = Array.from(
    { length: workers },
    () => new DynamoRateLimiter({ client, tableName: table, ratePerSecond: 1000, maxWaitMs: 5_000 }),
  );
  let slots = 0;
  let busy = 0;
  const end = Date.now() + SECONDS * 1000;
  await Promise.all(
    limiters.map(async (limiter) => {
      while (Date.now() < end) {
        try {
          await limiter.acquire();
          slots++;
        } catch (error) {
          if (!(error instanceof PacingBusyError)) throw error;
          busy++;
        }
      }
    }),
  );
  client.destroy();
  return {
    workers,
    slots,
    busy,
    writesPerSlot: writes / Math.max(1, slots),
    slotsPerSecond: slots / SECONDS,
  };
}

const moto = process.env.MOTO_ENDPOINT ? undefined : await startMotoServer();
const proxy = await startAwsFaultProxy({ target: process.env.MOTO_ENDPOINT ?? moto!.url });
try {
  for (const workers of [1, 5, 10, 20, 40]) {
    const table = `herd-${workers}-${Date.now()}`;
    await createJobsTable(
      new DynamoDBClient({
        endpoint: proxy.url,
        region: 'us-east-1',
        credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
      }),
      table,
    );
    const r = await measure(proxy.url, table, workers);
    console.log(
      `${String(r.workers).padStart(2)} workers: ${r.writesPerSlot.toFixed(1)} UpdateItem per slot, ` +
        `${r.slotsPerSecond.toFixed(1)} slots/s (${r.busy} gave up after ${50} lost races)`,
    );
  }
} finally {
  await proxy.close();
  await moto?.stop();
}
