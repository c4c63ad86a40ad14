/**
 * Counts every AWS request a benchmark's code makes, by who made it (a label set with `meter.run`), service and
 * operation, with what the request is billed in: SQS payload chunks of 64 KB, S3 request classes, DynamoDB request
 * units (./dynamo-units.ts). It is an SDK middleware, added to every client of the four services the first time
 * the client sends (product code builds some of its own clients), in the benchmark's process only.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoUnits } from './dynamo-units';

export interface MeterEntry {
  label: string;
  service: 'dynamodb' | 's3' | 'sqs' | 'secretsmanager';
  operation: string;
  requests: number;
  /** Billed requests: SQS 64 KB chunks, else the requests themselves. */
  billed: number;
  wru: number;
  rru: number;
}

type Service = MeterEntry['service'];
const SQS_CHUNK = 64 * 1024;
const labels = new AsyncLocalStorage<string>();
const entries = new Map<string, MeterEntry>();
const dynamoUnits = new DynamoUnits();

/** Bytes of SQS payload a request carries (sent bodies, or received ones). */
function sqsPayload(
  operation: string,
  input: Record<string, unknown>,
  output: Record<string, unknown> | undefined,
) {
  const body = (m: { MessageBody?: string; Body?: string }) =>
    Buffer.byteLength(m.MessageBody ?? m.Body ?? '');
  if (operation === 'SendMessage') return body(input as { MessageBody?: string });
  if (operation === 'SendMessageBatch')
    return (input.Entries as { MessageBody: string }[]).reduce((n, e) => n + body(e), 0);
  if (operation === 'ReceiveMessage')
    return ((output?.Messages as { Body: string }[]) ?? []).reduce((n, m) => n + body(m), 0);
  return 0;
}

function record(
  service: Service,
  command: string,
  input: Record<string, unknown>,
  output?: Record<string, unknown>,
) {
  let operation = command.replace(/Command$/, '');
  // An empty receive is a request like any other, but it is the event source's idle polling, not per contact.
  if (operation === 'ReceiveMessage' && !(output?.Messages as unknown[] | undefined)?.length)
    operation += ' (empty)';
  const label = labels.getStore() ?? 'unlabelled';
  const id = `${label}|${service}|${operation}`;
  const entry = entries.get(id) ?? { label, service, operation, requests: 0, billed: 0, wru: 0, rru: 0 };
  entry.requests++;
  entry.billed +=
    service === 'sqs' ? Math.max(1, Math.ceil(sqsPayload(operation, input, output) / SQS_CHUNK)) : 1;
  if (service === 'dynamodb') {
    const units = dynamoUnits.units(operation, input, output);
    entry.wru += units.wru;
    entry.rru += units.rru;
  }
  entries.set(id, entry);
}

interface Stack {
  add(mw: unknown, options: { step: string; name: string }): void;
}
type Next = (args: { input: Record<string, unknown> }) => Promise<{ output: Record<string, unknown> }>;
type Context = { commandName?: string };

function attach(client: { middlewareStack: Stack }, service: Service): void {
  const counting = (next: Next, context: Context) => async (args: { input: Record<string, unknown> }) => {
    try {
      const result = await next(args);
      record(service, context.commandName ?? 'Unknown', args.input, result.output);
      return result;
    } catch (error) {
      record(service, context.commandName ?? 'Unknown', args.input);
      throw error;
    }
  };
  client.middlewareStack.add(counting, { step: 'initialize', name: 'benchAwsMeter' });
}

const CLIENTS: [{ prototype: { send: (...args: never[]) => unknown } }, Service][] = [
  [DynamoDBClient, 'dynamodb'],
  [S3Client, 's3'],
  [SQSClient, 'sqs'],
  [SecretsManagerClient, 'secretsmanager'],
];

let installed = false;

export const meter = {
  /** Adds the counting middleware to every client of the four services (once per process). */
  install(): void {
    if (installed) return;
    installed = true;
    const metered = new WeakSet<object>();
    for (const [Client, service] of CLIENTS) {
      const send = Client.prototype.send;
      Client.prototype.send = function (this: { middlewareStack: Stack }, ...args: never[]) {
        if (!metered.has(this)) {
          metered.add(this);
          attach(this, service);
        }
        return send.apply(this, args);
      };
    }
  },
  /** Runs `fn` with its AWS requests counted under `label`. */
  run<T>(label: string, fn: () => Promise<T>): Promise<T> {
    return labels.run(label, fn);
  },
  label: (): string | undefined => labels.getStore(),
  entries: (): MeterEntry[] => [...entries.values()],
};
