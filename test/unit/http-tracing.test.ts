/** Optional tracing (lambdas/http/tracing.ts): off unless asked for, loaded lazily once, never fatal. */
import { Logger } from '@aws-lambda-powertools/logger';
import middy from '@middy/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { lambdaContext } from '../fixtures/events';

const TRACER = '@aws-lambda-powertools/tracer';
const TRACER_MIDDLEWARE = '@aws-lambda-powertools/tracer/middleware';

afterEach(() => {
  vi.doUnmock(TRACER);
  vi.doUnmock(TRACER_MIDDLEWARE);
  vi.resetModules();
});

async function tracedHandler(env: NodeJS.ProcessEnv, logger = new Logger({ serviceName: 'tracing-test' })) {
  const { lazyTracing } = await import('../../lambdas/http/tracing');
  const tracing = lazyTracing('tracing-test', logger, env);
  const handler = middy(async (event: { n: number }) => ({ doubled: event.n * 2 }));
  if (tracing) handler.use(tracing);
  return { handler, tracing };
}

describe('lazyTracing', () => {
  it.each([{}, { POWERTOOLS_TRACE_ENABLED: 'false' }, { POWERTOOLS_TRACE_ENABLED: '1' }])(
    'adds nothing unless POWERTOOLS_TRACE_ENABLED=true (%o)',
    async (env) => {
      expect((await tracedHandler(env)).tracing).toBeUndefined();
    },
  );

  it('loads the tracer once, on the first invocation, and delegates to its middleware', async () => {
    const constructed = vi.fn();
    const before = vi.fn();
    const after = vi.fn();
    vi.doMock(TRACER, () => ({
      Tracer: class {
        constructor(options: unknown) {
          constructed(options);
        }
      },
    }));
    vi.doMock(TRACER_MIDDLEWARE, () => ({ captureLambdaHandler: () => ({ before, after }) }));
    const { handler, tracing } = await tracedHandler({ POWERTOOLS_TRACE_ENABLED: 'true' });
    expect(tracing).toBeDefined();
    expect(constructed).not.toHaveBeenCalled();
    expect(await handler({ n: 2 }, lambdaContext())).toEqual({ doubled: 4 });
    expect(await handler({ n: 3 }, lambdaContext())).toEqual({ doubled: 6 });
    expect(constructed).toHaveBeenCalledTimes(1);
    expect(constructed).toHaveBeenCalledWith(expect.objectContaining({ serviceName: 'tracing-test' }));
    expect(before).toHaveBeenCalledTimes(2);
    expect(after).toHaveBeenCalledTimes(2);
  });

  it('runs untraced, with one warning, when the tracer cannot be loaded', async () => {
    vi.doMock(TRACER, () => {
      throw new Error('Cannot find package');
    });
    const logger = new Logger({ serviceName: 'tracing-test' });
    const warn = vi.spyOn(logger, 'warn'); // spied on, not replaced: the warning is still printed
    const { handler } = await tracedHandler({ POWERTOOLS_TRACE_ENABLED: 'true' }, logger);
    expect(await handler({ n: 5 }, lambdaContext())).toEqual({ doubled: 10 });
    expect(await handler({ n: 1 }, lambdaContext())).toEqual({ doubled: 2 });
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]![0]).toMatch(/running untraced/);
  });

  it('works with the real Powertools Tracer', async () => {
    const { handler } = await tracedHandler({ POWERTOOLS_TRACE_ENABLED: 'true' });
    expect(await handler({ n: 21 }, lambdaContext())).toEqual({ doubled: 42 });
  });
});
