/**
 * GET /jobs?limit=1..100&cursor=…&state=ingesting|running|done: the jobs the caller may read (its own; for
 * operators and `jobReaders`, the uploads too), newest first, `{jobs, nextCursor?}` (../core/job-list.ts).
 * A Query on the jobs table's owner index, never a scan (../adapters/dynamo-job-list.ts). 400 for a bad limit,
 * state or cursor (an edited, made-up or another caller's cursor).
 */
import { cursorKeyFromEnv } from '../adapters/cursor-key';
import { jobStoreFromEnv } from '../adapters/job-deps';
import { jobReadersFromEnv } from '../core/job-access';
import { listJobsFor, parseJobListQuery } from '../core/job-list';
import { httpHandler } from '../http/doorway';

const cursorKey = cursorKeyFromEnv();

export const handler = httpHandler(
  'list-jobs',
  {
    parse: ({ query }) => parseJobListQuery(query),
    answer: async (jobs, params, { caller }) => ({
      status: 200,
      body: await listJobsFor(jobs, { caller, readers: jobReadersFromEnv() }, params, await cursorKey()),
    }),
  },
  { jobs: jobStoreFromEnv() },
);
