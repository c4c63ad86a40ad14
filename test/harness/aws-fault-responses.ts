/**
 * Error answers shaped exactly as each real service sends them, so the AWS SDK parses them into its real
 * exception classes (and its retry strategy treats them as it would in production).
 */
import { randomUUID } from 'node:crypto';

/** A complete HTTP answer: status, headers as a flat `[name, value, ...]` list, and body. */
export interface Reply {
  status: number;
  headers: string[];
  body: Buffer;
}

export type ErrorKind = 'throttle' | 'internalError';

const DYNAMO = 'com.amazonaws.dynamodb.v20120810#';

function json(status: number, contentType: string, body: object, extra: string[] = []): Reply {
  const text = Buffer.from(JSON.stringify(body));
  return {
    status,
    headers: ['Content-Type', contentType, 'x-amzn-RequestId', randomUUID(), ...extra],
    body: text,
  };
}

function dynamo(status: number, body: object): Reply {
  return json(status, 'application/x-amz-json-1.0', body);
}

/** DynamoDB throttles with either error, depending on the capacity mode and what ran out. */
export function dynamoThrottle(provisioned: boolean): Reply {
  return provisioned
    ? dynamo(400, {
        __type: `${DYNAMO}ProvisionedThroughputExceededException`,
        message:
          'The level of configured provisioned throughput for the table was exceeded. ' +
          'Consider increasing your provisioning level with the UpdateTable API.',
      })
    : dynamo(400, {
        __type: `${DYNAMO}ThrottlingException`,
        message: 'Rate of requests exceeds the allowed throughput.',
      });
}

export function dynamoTransactionConflict(): Reply {
  return dynamo(400, {
    __type: `${DYNAMO}TransactionConflictException`,
    message: 'Transaction is ongoing for the item',
  });
}

/** One reason per item, in request order; DynamoDB capitalises `Message` on this exception. */
export function dynamoTransactionCanceled(conflicting: boolean[]): Reply {
  const reasons = conflicting.map((c) =>
    c ? { Code: 'TransactionConflict', Message: 'Transaction is ongoing for the item' } : { Code: 'None' },
  );
  const codes = reasons.map((r) => r.Code).join(', ');
  return dynamo(400, {
    __type: `${DYNAMO}TransactionCanceledException`,
    CancellationReasons: reasons,
    Message: `Transaction cancelled, please refer cancellation reasons for specific reasons [${codes}]`,
  });
}

/**
 * SQS speaks AWS JSON 1.0 in "query compatible" mode: the SDK takes the error code from `x-amzn-query-error`
 * (`Code;Sender|Receiver`) and finds the modelled class by it. RequestThrottled is modelled with HTTP 403.
 */
function sqs(kind: ErrorKind): Reply {
  const [status, code, fault, message] =
    kind === 'throttle'
      ? [403, 'RequestThrottled', 'Sender', 'Request is throttled.']
      : [
          500,
          'InternalFailure',
          'Receiver',
          'The request processing has failed because of an unknown error.',
        ];
  return json(status, 'application/x-amz-json-1.0', { __type: `com.amazonaws.sqs#${code}`, message }, [
    'x-amzn-query-error',
    `${code};${fault}`,
  ]);
}

/** Secrets Manager (AWS JSON 1.1) sends bare type names. */
function secretsManager(kind: ErrorKind): Reply {
  return kind === 'throttle'
    ? json(400, 'application/x-amz-json-1.1', { __type: 'ThrottlingException', message: 'Rate exceeded' })
    : json(500, 'application/x-amz-json-1.1', {
        __type: 'InternalServiceError',
        message: 'An error occurred on the server side.',
      });
}

/** S3's XML error document. HEAD answers carry no body, so the SDK names those by status alone. */
function s3(kind: ErrorKind, head: boolean): Reply {
  const [status, code, message] =
    kind === 'throttle'
      ? [503, 'SlowDown', 'Please reduce your request rate.']
      : [500, 'InternalError', 'We encountered an internal error. Please try again.'];
  const requestId = randomUUID().replace(/-/g, '').slice(0, 16).toUpperCase();
  const hostId = Buffer.from(randomUUID()).toString('base64');
  const xml =
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Error><Code>${code}</Code><Message>${message}</Message>` +
    `<RequestId>${requestId}</RequestId><HostId>${hostId}</HostId></Error>`;
  const body = head ? Buffer.alloc(0) : Buffer.from(xml);
  return {
    status,
    headers: ['Content-Type', 'application/xml', 'x-amz-request-id', requestId, 'x-amz-id-2', hostId],
    body,
  };
}

/** The service's own throttling or internal error; `provisioned` picks DynamoDB's throttling flavour. */
export function serviceError(
  service: string,
  kind: ErrorKind,
  opts: { head: boolean; provisioned: boolean },
) {
  switch (service) {
    case 'dynamodb':
      return kind === 'throttle'
        ? dynamoThrottle(opts.provisioned)
        : dynamo(500, { __type: `${DYNAMO}InternalServerError`, message: 'Internal server error' });
    case 'sqs':
      return sqs(kind);
    case 's3':
      return s3(kind, opts.head);
    case 'secretsmanager':
      return secretsManager(kind);
    default:
      // Unknown service: a bare status the SDK's retry strategy still classifies (429 throttling, 500 transient).
      return { status: kind === 'throttle' ? 429 : 500, headers: [], body: Buffer.alloc(0) };
  }
}
