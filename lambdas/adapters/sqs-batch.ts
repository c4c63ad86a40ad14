/**
 * What every SQS-fed function (ReportBatchItemFailures) does the same way: the records of one event handled
 * concurrently, the ones to come back reported as batch item failures, a message handed back after a delay, and
 * the middy wrapping with Powertools' context and metrics.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { ChangeMessageVisibilityCommand, type SQSClient } from '@aws-sdk/client-sqs';
import middy from '@middy/core';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { describeError } from '../core/errors';

/** Handles one record; true when it must come back (a batch item failure). */
export type RecordHandler = (record: SQSRecord, context?: Context) => Promise<boolean>;

/** The batch handler, without middy: what a test or a local runner drives with an SQS event. */
export function sqsBatchHandler(handleRecord: RecordHandler) {
  return async (event: SQSEvent, context?: Context): Promise<SQSBatchResponse> => {
    const failures = await Promise.all(event.Records.map((record) => handleRecord(record, context)));
    return {
      batchItemFailures: event.Records.filter((_, i) => failures[i]).map((r) => ({
        itemIdentifier: r.messageId,
      })),
    };
  };
}

/**
 * Makes the message visible again after `delaySeconds`. A failure here is only logged: the message still comes
 * back (it is reported as a batch item failure), after the queue's own visibility timeout instead.
 */
export async function changeVisibility(
  sqs: SQSClient,
  queueUrl: string,
  record: SQSRecord,
  delaySeconds: number,
  log: Logger,
  where: object,
): Promise<void> {
  try {
    await sqs.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: queueUrl,
        ReceiptHandle: record.receiptHandle,
        VisibilityTimeout: delaySeconds,
      }),
    );
  } catch (error) {
    log.warn('could not change the message visibility', { ...where, ...describeError(error) });
  }
}

/** The Lambda handler around a batch handler: the invocation's context in every log line, metrics flushed. */
export function sqsLambda(
  logger: Logger,
  metrics: Metrics,
  batch: (event: SQSEvent, context?: Context) => Promise<SQSBatchResponse>,
) {
  return middy<SQSEvent, SQSBatchResponse>()
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics))
    .handler(batch);
}
