/**
 * The one place that says how every AWS SDK client is built: connection and request timeouts per service, so
 * that no call can hang an invocation (an SDK client built with no timeout waits forever on a silent socket, and
 * the invocation dies at its own timeout holding a claim). No SDK import here: each adapter builds its client
 * with `new XClient(awsClientConfig('x'))`, so a function's bundle carries only the clients it uses.
 *
 * `requestTimeout` is the socket's idle time (no byte in either direction), not the whole call: a streamed S3
 * read or a large part upload keeps going as long as bytes move. The SDK only warns on it unless
 * `throwOnRequestTimeout` is set. The SDK retries a timeout, throttling and 5xx itself (`maxAttempts`); the
 * adapters' own loop (./aws-retry.ts) covers what it does not retry. The worker's timeout budgets the worst case
 * (infra/constructs/batch-pipeline.ts).
 */

export type AwsService = 'dynamodb' | 'sqs' | 's3' | 'secretsmanager' | 'eventbridge' | 'scheduler';

interface ServiceTimeouts {
  connectionTimeout: number;
  requestTimeout: number;
  maxAttempts: number;
}

export const AWS_CLIENT_TIMEOUTS: Record<AwsService, ServiceTimeouts> = {
  // Single-item reads and writes answer in milliseconds; a pause of 2 s means a stuck socket.
  dynamodb: { connectionTimeout: 1_000, requestTimeout: 2_000, maxAttempts: 3 },
  sqs: { connectionTimeout: 1_000, requestTimeout: 3_000, maxAttempts: 3 },
  // Idle time between bytes of a streamed object or a 5 MiB part.
  s3: { connectionTimeout: 1_000, requestTimeout: 10_000, maxAttempts: 3 },
  secretsmanager: { connectionTimeout: 1_000, requestTimeout: 2_000, maxAttempts: 2 },
  // One small PutEvents per finished job.
  eventbridge: { connectionTimeout: 1_000, requestTimeout: 2_000, maxAttempts: 3 },
  // The schedules API: one small control-plane call per request (a list reads each schedule).
  scheduler: { connectionTimeout: 1_000, requestTimeout: 3_000, maxAttempts: 3 },
};

/** The constructor options of a service's client (merge a test's endpoint and credentials over them). */
export function awsClientConfig(service: AwsService) {
  const { connectionTimeout, requestTimeout, maxAttempts } = AWS_CLIENT_TIMEOUTS[service];
  return {
    maxAttempts,
    requestHandler: { connectionTimeout, requestTimeout, throwOnRequestTimeout: true },
  };
}
