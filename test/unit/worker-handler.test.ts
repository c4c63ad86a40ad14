/**
 * The process-chunk doorway with a mocked SQS client (fast): what it does with each kind of worker answer.
 * The same handler against moto SQS is in test/integration/worker-sqs.test.ts.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { ChangeMessageVisibilityCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from 'vitest';
import type { ChunkMessage } from '../../lambdas/core/jobs';
import type { ChunkResult } from '../../lambdas/core/worker';
import {
  chunkBatchHandler,
  leaseFor,
  maxReceiveCountFromEnv,
  type ProcessFn,
} from '../../lambdas/process-chunk/handler';

const sqsMock = mockClient(SQSClient);

const message = (n: number): ChunkMessage => ({
  jobId: '0123456789abcdef0123456789abcdef',
  chunkId: `0123456789abcdef0123456789abcdef#00000000${n}`,
  operation: { kind: 'batch', conversationId: 1001 },
  rows: [{ row: n + 1, record: { EMAIL: `person${n}@example.com` } }],
});

const event = (bodies: string[], receiveCount = '1'): SQSEvent => ({
  Records: bodies.map((body, i) => ({
    messageId: `m-${i}`,
    receiptHandle: `rh-${i}`,
    body,
    attributes: {
      ApproximateReceiveCount: receiveCount,
      SentTimestamp: '0',
      SenderId: 'x',
      ApproximateFirstReceiveTimestamp: '0',
    },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:us-east-1:123456789012:chunks',
    awsRegion: 'us-east-1',
  })),
});

let writes: MockInstance[];
beforeEach(() => {
  sqsMock.reset();
  // The logger writes INFO to stdout and WARN/ERROR to stderr. Spied on, not replaced: the lines are still
  // printed (and reach the log audit).
  writes = [vi.spyOn(process.stdout, 'write'), vi.spyOn(process.stderr, 'write')];
});
afterEach(() => vi.restoreAllMocks());

/** Everything written to stdout and stderr since the test began. */
const output = () =>
  writes.flatMap((spy) =>
    spy.mock.calls.map(([chunk]) =>
      typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'),
    ),
  );

function setup(process: ProcessFn) {
  const metrics = new Metrics({ namespace: 'Test', serviceName: 'test' });
  const added: [string, number][] = [];
  vi.spyOn(metrics, 'addMetric').mockImplementation((name: string, _unit: unknown, value: number) => {
    added.push([name, value]);
    return metrics;
  });
  const handler = chunkBatchHandler({
    process,
    sqs: new SQSClient({ region: 'us-east-1' }),
    queueUrl: 'https://sqs.example/chunks',
    logger: new Logger({ serviceName: 'test', logLevel: 'INFO' }),
    metrics,
  });
  return { handler, added };
}

const logLines = () =>
  output()
    .flatMap((text) => text.split('\n'))
    .filter((l) => l.startsWith('{"level"'))
    .map((l) => JSON.parse(l));

describe('process-chunk handler', () => {
  it('hands a retry back with its delay as visibility timeout and reports it as a batch item failure', async () => {
    sqsMock.on(ChangeMessageVisibilityCommand).resolves({});
    const results: Record<string, ChunkResult> = {
      '0123456789abcdef0123456789abcdef#000000000': {
        kind: 'done',
        outcomes: [
          { row: 1, status: 'started', idResult: 5 },
          { row: 2, status: 'failed', error: 'x' },
        ],
      },
      '0123456789abcdef0123456789abcdef#000000001': {
        kind: 'retry',
        delayMs: 7_001,
        reason: 'throttled (429)',
        errorClass: 'throttled',
        deadLettered: false,
        outcomes: [],
      },
    };
    const seen: number[] = [];
    const { handler, added } = setup(async (m, receiveCount) => {
      seen.push(receiveCount);
      return results[m.chunkId]!;
    });
    const answer = await handler(event([JSON.stringify(message(0)), JSON.stringify(message(1))], '3'));
    expect(answer).toEqual({ batchItemFailures: [{ itemIdentifier: 'm-1' }] });
    expect(seen).toEqual([3, 3]);
    const calls = sqsMock.commandCalls(ChangeMessageVisibilityCommand);
    expect(calls.map((c) => c.args[0].input)).toEqual([
      { QueueUrl: 'https://sqs.example/chunks', ReceiptHandle: 'rh-1', VisibilityTimeout: 8 },
    ]);
    expect(added.sort()).toEqual([
      ['ChunksRetried', 1],
      ['RowsFailed', 1],
      ['RowsStarted', 1],
    ]);
    const lines = logLines();
    expect(lines.map((l) => [l.correlation_id, l.message])).toEqual(
      expect.arrayContaining([
        ['m-0', 'chunk done'],
        ['m-1', 'chunk handed back for a later try'],
      ]),
    );
    // Nothing of the rows or of DANAConnect's wording reaches the log.
    expect(output().join('')).not.toMatch(/example\.com|429\)/);
  });

  it('a dead-lettered chunk is a failure with visibility 0, counted as such', async () => {
    sqsMock.on(ChangeMessageVisibilityCommand).resolves({});
    const { handler, added } = setup(async () => ({
      kind: 'retry',
      delayMs: 0,
      reason: 'x',
      errorClass: 'upstream_internal',
      deadLettered: true,
      outcomes: [{ row: 1, status: 'failed', error: 'dead-lettered: x' }],
    }));
    expect(await handler(event([JSON.stringify(message(0))], '5'))).toEqual({
      batchItemFailures: [{ itemIdentifier: 'm-0' }],
    });
    expect(sqsMock.commandCalls(ChangeMessageVisibilityCommand)[0]!.args[0].input.VisibilityTimeout).toBe(0);
    expect(added.sort()).toEqual([
      ['ChunksDeadLettered', 1],
      ['RowsFailed', 1],
    ]);
  });

  it('if the visibility cannot be changed, the message is still a failure (it returns after the default timeout)', async () => {
    sqsMock.on(ChangeMessageVisibilityCommand).rejects(new Error('throttled by SQS'));
    const { handler } = setup(async () => ({
      kind: 'retry',
      delayMs: 1_000,
      reason: 'x',
      errorClass: 'busy',
      deadLettered: false,
      outcomes: [],
    }));
    expect(await handler(event([JSON.stringify(message(0))]))).toEqual({
      batchItemFailures: [{ itemIdentifier: 'm-0' }],
    });
  });

  it('an error in one record fails that record only; a malformed body is refused without calling the worker', async () => {
    const processed: string[] = [];
    const { handler } = setup(async (m) => {
      processed.push(m.chunkId);
      if (m.chunkId.endsWith('1')) throw new Error('DynamoDB unavailable');
      return { kind: 'done', outcomes: [] };
    });
    const answer = await handler(
      event([JSON.stringify(message(0)), JSON.stringify(message(1)), '{"jobId":"job1","rows":"nope"']),
    );
    expect(answer.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual(['m-1', 'm-2']);
    expect(processed.sort()).toEqual([
      '0123456789abcdef0123456789abcdef#000000000',
      '0123456789abcdef0123456789abcdef#000000001',
    ]);
    expect(sqsMock.commandCalls(ChangeMessageVisibilityCommand)).toHaveLength(0);
  });
});

describe('handler settings', () => {
  it('a claim outlives the invocation that made it', () => {
    expect(leaseFor({ getRemainingTimeInMillis: () => 120_000 } as never)).toBe(180_000);
    expect(leaseFor(undefined)).toBe(15 * 60_000);
  });

  it('MAX_RECEIVE_COUNT defaults to 5 and must be a positive integer', () => {
    expect(maxReceiveCountFromEnv({})).toBe(5);
    expect(maxReceiveCountFromEnv({ MAX_RECEIVE_COUNT: '8' })).toBe(8);
    expect(() => maxReceiveCountFromEnv({ MAX_RECEIVE_COUNT: '0' })).toThrow(/MAX_RECEIVE_COUNT/);
    expect(() => maxReceiveCountFromEnv({ MAX_RECEIVE_COUNT: '2.5' })).toThrow(/MAX_RECEIVE_COUNT/);
  });
});
