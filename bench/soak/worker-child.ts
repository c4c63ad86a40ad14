/**
 * A soak worker process (`node --import tsx bench/soak/worker-child.ts`, started by ./fleet.ts): `loops` event
 * source loops, each one Lambda execution environment with its own process-chunk handler from the production
 * wiring (`chunkHandlerFromEnv`) and its own SDK clients, all pointed at the fault proxy.
 *
 * IPC from the parent: `kill` (die by SIGKILL at the next moment a DANAConnect request is at the vendor, see
 * ./instrument.ts; given up after a while if none comes) and `stop` (finish the running invocations, exit).
 * To the parent: `ready`, `stats` every second, `kill-skipped`.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { join } from 'node:path';
import { awsClientConfig } from '../../lambdas/adapters/aws-clients';
import { chunkHandlerFromEnv } from '../../lambdas/process-chunk/handler';
import type { RedeliveryPolicy } from '../../lambdas/core/worker';
import {
  emptyLoopStats,
  POLL_WAIT_SECONDS,
  pollLoop,
  type ChunkHandler,
  type LoopConfig,
  type LoopStats,
} from './event-source';
import { instrumentFetch, ProcessState, trackDynamo } from './instrument';

/** What the parent hands a worker process (JSON in SOAK_WORKER). */
export interface WorkerConfig extends LoopConfig {
  name: string;
  loops: number;
  awsEndpoint: string;
  logDir: string;
  leaseMarginMs: number;
  callWindowMs: number;
  redelivery: RedeliveryPolicy;
  /** The handler's environment (table, queue, bucket, DANAConnect, rate). */
  handlerEnv: Record<string, string>;
}

export type ParentMessage = { type: 'kill' } | { type: 'stop' };
export type ChildMessage =
  { type: 'ready' } | { type: 'stats'; stats: LoopStats } | { type: 'kill-skipped'; why: string };

/** A kill request not satisfied within this long is dropped (the process had no call at the vendor). */
const KILL_GIVE_UP_MS = 20_000;

const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };

/** One environment's clients, as awsClientConfig builds them, pointed at the fault proxy. */
function clientsFor(endpoint: string, state: ProcessState) {
  const common = { endpoint, region: 'us-east-1', credentials };
  const dynamo = new DynamoDBClient({ ...awsClientConfig('dynamodb'), ...common });
  trackDynamo(dynamo, state);
  return {
    dynamo,
    s3: new S3Client({ ...awsClientConfig('s3'), ...common, forcePathStyle: true }),
    sqs: new SQSClient({ ...awsClientConfig('sqs'), ...common }),
    // The event source's own client: its long polls outlast the functions' request timeout.
    poller: new SQSClient({
      ...common,
      // A failed poll is simply polled again.
      maxAttempts: 1,
      requestHandler: { connectionTimeout: 1_000, requestTimeout: (POLL_WAIT_SECONDS + 5) * 1000 },
    }),
  };
}

function send(message: ChildMessage): void {
  process.send?.(message);
}

/** Dies at the first safe moment (checked on every change and every millisecond), or gives up. */
function requestKill(state: ProcessState): void {
  const since = Date.now();
  let timer: NodeJS.Timeout | undefined = undefined;
  const check = () => {
    if (state.safeToKill()) state.die('kill');
    if (Date.now() - since < KILL_GIVE_UP_MS) return;
    clearInterval(timer);
    state.onChange = () => undefined;
    send({ type: 'kill-skipped', why: state.killBlockers() });
  };
  state.onChange = check;
  timer = setInterval(check, 1);
}

function sumStats(all: LoopStats[]): LoopStats {
  const total = emptyLoopStats();
  for (const stats of all) {
    for (const key of Object.keys(total) as (keyof LoopStats)[]) total[key] += stats[key];
  }
  return total;
}

async function main(): Promise<void> {
  const config = JSON.parse(process.env.SOAK_WORKER ?? '') as WorkerConfig;
  const state = new ProcessState(
    join(config.logDir, `${config.name}.wire.jsonl`),
    join(config.logDir, `${config.name}.kill.json`),
  );
  // Before any handler exists: each DanaClient keeps the fetch it finds when it is built.
  instrumentFetch(state);
  let running = true;
  const stats = Array.from({ length: config.loops }, emptyLoopStats);
  for (const loopStats of stats) {
    const { poller, ...clients } = clientsFor(config.awsEndpoint, state);
    const handler = chunkHandlerFromEnv(config.handlerEnv, {
      clients,
      worker: { callWindowMs: config.callWindowMs, redelivery: config.redelivery },
      leaseMarginMs: config.leaseMarginMs,
    }) as unknown as ChunkHandler;
    pollLoop(poller, handler, config, state, loopStats, () => running).catch((error: unknown) => {
      console.error('soak worker loop failed:', error);
      process.exit(1);
    });
  }
  const reporter = setInterval(() => send({ type: 'stats', stats: sumStats(stats) }), 1_000);
  process.on('message', (message: ParentMessage) => {
    if (message.type === 'kill') requestKill(state);
    if (message.type === 'stop') {
      running = false;
      // Once no invocation runs (a poll under way is dropped: its messages come back), say goodbye and leave;
      // kept-alive sockets would otherwise hold the process open.
      const leave = setInterval(() => {
        if (state.live.size > 0) return;
        clearInterval(leave);
        clearInterval(reporter);
        process.send?.({ type: 'stats', stats: sumStats(stats) } satisfies ChildMessage, () =>
          process.exit(0),
        );
      }, 50);
    }
  });
  // An orphan (the soak died) leaves at once rather than polling a queue nobody watches.
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready' });
}

main().catch((error: unknown) => {
  console.error('soak worker failed:', error);
  process.exit(1);
});
