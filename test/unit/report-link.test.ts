/**
 * GET /jobs/{jobId}/report's link: only for a done upload whose report is written. A job is marked done before its
 * report is written (lambdas/core/reports.ts settleJob), so "done" alone would hand out a link that answers 404.
 */
import { describe, expect, it } from 'vitest';
import type { JobSummary } from '../../lambdas/core/jobs';
import { reportLink } from '../../lambdas/core/uploads';

const JOB = 'b'.repeat(32);
const READER = 'arn:aws:iam::123456789012:user/reader';

const doneUpload: JobSummary = {
  jobId: JOB,
  source: 'upload',
  operation: { kind: 'batch', conversationId: 1001 },
  name: 'march.csv',
  state: 'done',
  total: 2,
  started: 1,
  rejected: 1,
  failed: 0,
  startedAt: '2026-12-01T10:00:00.000Z',
  finishedAt: '2026-12-01T10:05:00.000Z',
  rev: 1,
  reportedRev: 1,
};

const linkTo = (job: JobSummary) =>
  reportLink(
    { getJob: async (jobId) => (jobId === job.jobId ? job : undefined) },
    { presignGet: async (key) => `https://bucket.example/${key}?signed` },
    JOB,
    { caller: READER, readers: new Set([READER]) },
  );

describe('reportLink', () => {
  it('a done upload whose report is written: a link to its report.csv', async () => {
    await expect(linkTo(doneUpload)).resolves.toBe(
      'https://bucket.example/reports/1001/march.csv.report.csv?signed',
    );
  });

  it('a done upload whose report is not written yet: not found, like a job still running', async () => {
    const { reportedRev: _, ...unreported } = doneUpload;
    await expect(linkTo(unreported)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(linkTo({ ...doneUpload, state: 'running' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});
