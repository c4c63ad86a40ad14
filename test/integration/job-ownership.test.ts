/**
 * Issue 14.1, jobs belong to someone: the caller who created a job (the SigV4 principal, or the API key's id) is
 * stored with it, and `GET /jobs/{jobId}` answers another caller exactly as if the job did not exist (404, the
 * same body as an unknown id). Upload jobs belong to no API caller: operators (Cognito-authenticated console users)
 * and the principals named in `jobReaders` (JOB_READERS) read them; other callers get 404.
 *
 * Each case is an API Gateway event handed to the same handler modules that run in Lambda, over one in-memory job
 * store (the caller is whatever API Gateway put in `requestContext`).
 */
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { useLocalJobDeps } from '../../lambdas/adapters/job-deps';
import { MemoryJobStore } from '../../lambdas/adapters/memory-job-store';
import type { ChunkMessage, ChunkQueue } from '../../lambdas/core/jobs';
import { apiGatewayEvent, lambdaContext, withHeader } from '../fixtures/events';

const ALICE = 'arn:aws:iam::123456789012:user/alice';
const BOB = 'arn:aws:iam::123456789012:user/bob';
const READER_ROLE = 'arn:aws:iam::123456789012:role/ops/JobReader';
const READER_SESSION = 'arn:aws:sts::123456789012:assumed-role/JobReader/i-0abc';

class RecordingQueue implements ChunkQueue {
  readonly sent: ChunkMessage[] = [];
  async sendChunks(chunks: ChunkMessage[]): Promise<void> {
    this.sent.push(...structuredClone(chunks));
  }
}

type Result = { statusCode: number; body: string };

function asIam(event: APIGatewayProxyEvent, userArn: string): APIGatewayProxyEvent {
  event.requestContext.identity.userArn = userArn;
  return event;
}

function asApiKey(event: APIGatewayProxyEvent, apiKeyId: string): APIGatewayProxyEvent {
  event.requestContext.identity.userArn = null;
  event.requestContext.identity.apiKeyId = apiKeyId;
  return event;
}

/** As API Gateway fills it in behind a Cognito user pool authorizer. */
function asOperator(event: APIGatewayProxyEvent, sub: string): APIGatewayProxyEvent {
  event.requestContext.identity.userArn = null;
  event.requestContext.authorizer = {
    claims: {
      sub,
      iss: 'https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Example',
      token_use: 'id',
    },
  };
  return event;
}

let jobs: MemoryJobStore;
let queue: RecordingQueue;
let uninstall: () => void;

beforeEach(() => {
  jobs = new MemoryJobStore();
  queue = new RecordingQueue();
  uninstall = useLocalJobDeps({ jobs, queue, idempotency: undefined });
  vi.resetModules();
  vi.stubEnv('JOB_READERS', READER_ROLE);
});

afterEach(() => {
  uninstall();
  vi.unstubAllEnvs();
});

async function startAsync(as: (e: APIGatewayProxyEvent) => APIGatewayProxyEvent): Promise<string> {
  const { handler } = await import('../../lambdas/start-data/handler');
  const event = as(withHeader(apiGatewayEvent('start-data'), 'Prefer', 'respond-async'));
  const result = (await handler(event, lambdaContext())) as Result;
  expect(result.statusCode).toBe(202);
  return (JSON.parse(result.body) as { jobId: string }).jobId;
}

async function read(jobId: string, as: (e: APIGatewayProxyEvent) => APIGatewayProxyEvent): Promise<Result> {
  const { handler } = await import('../../lambdas/get-job/handler');
  const event = as(apiGatewayEvent('get-job'));
  event.pathParameters = { jobId };
  return (await handler(event, lambdaContext())) as Result;
}

const notFound = (jobId: string) => ({
  statusCode: 404,
  body: { wsError: { idError: 9404, errorDescription: `No such resource: jobId: no such job` } },
  jobId,
});

function expectNotFound(result: Result): void {
  expect({ statusCode: result.statusCode, body: JSON.parse(result.body), jobId: 'x' }).toEqual(notFound('x'));
}

describe('GET /jobs/{jobId}: a job belongs to the caller who created it', () => {
  it('caller B reads caller A’s job: 404, exactly as an unknown job', async () => {
    const jobId = await startAsync((e) => asIam(e, ALICE));
    expect((await read(jobId, (e) => asIam(e, ALICE))).statusCode).toBe(200);
    const bob = await read(jobId, (e) => asIam(e, BOB));
    expectNotFound(bob);
    const unknown = await read('f'.repeat(32), (e) => asIam(e, BOB));
    expect(JSON.parse(bob.body)).toEqual(JSON.parse(unknown.body));
  });

  it('API keys are callers too: another key gets 404; an IAM caller does not read a key’s job', async () => {
    const jobId = await startAsync((e) => asApiKey(e, 'key-crm'));
    expect((await read(jobId, (e) => asApiKey(e, 'key-crm'))).statusCode).toBe(200);
    expectNotFound(await read(jobId, (e) => asApiKey(e, 'key-billing')));
    expectNotFound(await read(jobId, (e) => asIam(e, ALICE)));
  });

  it('another session of the same role is the same caller; jobReaders and operators do not read API jobs', async () => {
    const jobId = await startAsync((e) => asIam(e, 'arn:aws:sts::123456789012:assumed-role/Crm/session-1'));
    const sameRole = (e: APIGatewayProxyEvent) =>
      asIam(e, 'arn:aws:sts::123456789012:assumed-role/Crm/session-2');
    expect((await read(jobId, sameRole)).statusCode).toBe(200);
    expectNotFound(await read(jobId, (e) => asIam(e, READER_SESSION)));
    expectNotFound(await read(jobId, (e) => asOperator(e, 'operator-1')));
  });

  it('upload jobs: read by operators and by jobReaders (a role, any session), 404 for any other caller', async () => {
    const jobId = 'a'.repeat(32);
    await jobs.createJob({
      jobId,
      source: 'upload',
      operation: { kind: 'batch', conversationId: 1001 },
      name: 'march',
    });
    expect((await read(jobId, (e) => asOperator(e, 'operator-1'))).statusCode).toBe(200);
    expect((await read(jobId, (e) => asIam(e, READER_SESSION))).statusCode).toBe(200);
    expectNotFound(await read(jobId, (e) => asIam(e, ALICE)));
    expectNotFound(await read(jobId, (e) => asApiKey(e, 'key-crm')));
  });

  it('a request that names no caller reads nothing', async () => {
    const jobId = await startAsync((e) => asIam(e, ALICE));
    expectNotFound(
      await read(jobId, (e) => {
        e.requestContext.identity.userArn = null;
        return e;
      }),
    );
  });
});
