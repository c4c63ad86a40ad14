/**
 * GET /jobs/{jobId}/report: 302 to a link to the job's `report.csv` that works for 5 minutes, for a done upload
 * job this caller may read (../core/job-access.ts). 404 otherwise, alike (another caller's job, an API job, a job
 * not done yet, no such job); 400 for a malformed id. Needs JOBS_TABLE_NAME and BUCKET_NAME; no DANAConnect client.
 */
import { jobStoreFromEnv } from '../adapters/job-deps';
import { lazySigner, uploadSignerFromEnv } from '../adapters/upload-signer';
import { jobReadersFromEnv } from '../core/job-access';
import { reportLink } from '../core/uploads';
import { parseJobId } from '../core/validation';
import { httpHandler } from '../http/doorway';

const signer = lazySigner(uploadSignerFromEnv());

export const handler = httpHandler(
  'get-job-report',
  {
    parse: ({ path }) => parseJobId(path.jobId),
    answer: async (jobs, jobId, { caller }) => {
      const location = await reportLink(jobs, signer, jobId, { caller, readers: jobReadersFromEnv() });
      return {
        status: 302,
        body: { location },
        headers: { Location: location, 'Cache-Control': 'no-store' },
      };
    },
  },
  { jobs: jobStoreFromEnv() },
);
