/**
 * Optional X-Ray tracing, off by default and kept out of the bundle.
 *
 * Tracing is on only when `POWERTOOLS_TRACE_ENABLED=true`. The Powertools Tracer (and the X-Ray SDK under it) is
 * then imported on the first invocation through a specifier esbuild cannot see, so the bundle never contains it
 * and an untraced function never pays for it. A function that enables tracing must make the package resolvable
 * at run time (CDK `bundling.nodeModules: ['@aws-lambda-powertools/tracer']`). If it cannot be loaded, the
 * function logs one warning and runs untraced: tracing must never take a function down.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { MiddlewareObj } from '@middy/core';

type TracerModule = typeof import('@aws-lambda-powertools/tracer');
type TracerMiddlewareModule = typeof import('@aws-lambda-powertools/tracer/middleware');

export function tracingEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.POWERTOOLS_TRACE_ENABLED === 'true';
}

/** An import esbuild leaves alone: the specifier is only known at run time. */
const importAtRunTime = (specifier: string): Promise<unknown> => import(specifier);

async function loadTracerMiddleware(serviceName: string, logger: Logger): Promise<MiddlewareObj | undefined> {
  try {
    const names = ['@aws-lambda-powertools/tracer', '@aws-lambda-powertools/tracer/middleware'];
    const [tracerModule, middlewareModule] = (await Promise.all(names.map(importAtRunTime))) as [
      TracerModule,
      TracerMiddlewareModule,
    ];
    const tracer = new tracerModule.Tracer({ serviceName, captureHTTPsRequests: true });
    return middlewareModule.captureLambdaHandler(tracer, { captureResponse: false }) as MiddlewareObj;
  } catch (error) {
    logger.warn('tracing requested but the Powertools Tracer could not be loaded; running untraced', {
      errorName: error instanceof Error ? error.name : typeof error,
    });
    return undefined;
  }
}

/**
 * A middy middleware that loads the tracer's own middleware on first use and delegates to it, or undefined
 * when tracing is off (then nothing is added to the stack at all).
 */
export function lazyTracing(
  serviceName: string,
  logger: Logger,
  env: NodeJS.ProcessEnv = process.env,
): MiddlewareObj | undefined {
  if (!tracingEnabled(env)) return undefined;
  let loaded: Promise<MiddlewareObj | undefined> | undefined;
  const inner = () => (loaded ??= loadTracerMiddleware(serviceName, logger));
  return {
    name: 'lazyTracing',
    before: async (request) => (await inner())?.before?.(request),
    after: async (request) => (await inner())?.after?.(request),
    onError: async (request) => (await inner())?.onError?.(request),
  };
}
