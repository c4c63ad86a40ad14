/**
 * GET /jobs/{jobId}: a job's state, counts and per-row outcomes, for jobs made by `Prefer: respond-async` and
 * for uploads alike. Answered from the jobs table alone (JOBS_TABLE_NAME): no DANAConnect client, no secret.
 * 200 with the JobView (../core/api-jobs.ts; at most 1000 outcomes, `truncated`/`nextRow` when there are more),
 * 404 NOT_FOUND for an unknown (or expired) job and for a job this caller may not read (../core/job-access.ts:
 * another caller's), 400 for an id that is not 32 lowercase hex digits.
 */
import { jobStoreFromEnv } from '../adapters/job-deps';
import { jobView } from '../core/api-jobs';
import { jobReadersFromEnv, readableJob } from '../core/job-access';
import { parseJobId } from '../core/validation';
import { httpHandler } from '../http/doorway';

export const handler = httpHandler(
  'get-job',
  {
    parse: ({ path }) => parseJobId(path.jobId),
    answer: async (jobs, jobId, { caller }) => {
      const job = await readableJob(jobs, jobId, { caller, readers: jobReadersFromEnv() });
      return { status: 200, body: await jobView(jobs, job) };
    },
  },
  { jobs: jobStoreFromEnv() },
);
