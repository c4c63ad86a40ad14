/**
 * How every function of the house logs and counts, said once: the Powertools Logger (structured JSON) and
 * Metrics (EMF), named from the environment the stack gives every function (POWERTOOLS_SERVICE_NAME,
 * POWERTOOLS_METRICS_NAMESPACE) and tagged with the function's operation, and the one way an error is counted.
 * The handlers add the middy middleware themselves: each decides what it flushes (ingest-upload has no metrics).
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { errorClass } from '../core/errors';

/** Without the stack's environment (tests, local runs): the names the stack gives its production stage. */
const DEFAULT_SERVICE_NAME = 'dana-gateway';
const DEFAULT_METRICS_NAMESPACE = 'DanaGateway';

export interface Observability {
  serviceName: string;
  logger: Logger;
  metrics: Metrics;
}

export function serviceNameFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  return env.POWERTOOLS_SERVICE_NAME || DEFAULT_SERVICE_NAME;
}

/** A logger whose every line names the operation (a route's name, `process-chunk`, `ingest-upload`). */
export function loggerFor(operation: string, env: NodeJS.ProcessEnv = process.env): Logger {
  return new Logger({ serviceName: serviceNameFromEnv(env), persistentKeys: { operation } });
}

/** Metrics with the operation as their default dimension, so each function's numbers stand apart. */
export function metricsFor(operation: string, env: NodeJS.ProcessEnv = process.env): Metrics {
  return new Metrics({
    serviceName: serviceNameFromEnv(env),
    namespace: env.POWERTOOLS_METRICS_NAMESPACE || DEFAULT_METRICS_NAMESPACE,
    defaultDimensions: { operation },
  });
}

/** The logger and metrics of one function (with the service name, for the tracer). */
export function observabilityFor(operation: string, env: NodeJS.ProcessEnv = process.env): Observability {
  return {
    serviceName: serviceNameFromEnv(env),
    logger: loggerFor(operation, env),
    metrics: metricsFor(operation, env),
  };
}

/**
 * One `Errors` data point by error class. A single metric, flushed on its own, so the `errorClass` dimension
 * does not stick to the function's other metrics.
 */
export function countError(metrics: Metrics, error: unknown): void {
  const single = metrics.singleMetric();
  single.addDimension('errorClass', errorClass(error));
  single.addMetric('Errors', MetricUnit.Count, 1);
}
