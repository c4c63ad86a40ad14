/**
 * POST /api/1.0/rest/conversation/ProjectID/{projectId}/start/data: start for one new record, addressed by the
 * project id, which stays the same when the conversation is reactivated. With `Prefer: respond-async`: a job of one
 * row, 202 with `Location: /jobs/{jobId}` (see ../http/doorway.ts).
 */
import { danaClientFromEnv } from '../adapters/dana';
import { chunkQueueFromEnv, idempotencyStoreFromEnv, jobStoreFromEnv } from '../adapters/job-deps';
import { httpHandler } from '../http/doorway';
import { parseId, parseRecord } from '../core/validation';

export const handler = httpHandler(
  'start-data-by-project',
  {
    parse: ({ path, body }) => ({
      projectId: parseId('projectId', path.projectId),
      record: parseRecord('body', body),
    }),
    call: (client, { projectId, record }, options) => client.startDataByProject(projectId, record, options),
    job: ({ projectId, record }) => ({ operation: { kind: 'project', projectId }, records: [record] }),
  },
  {
    dana: danaClientFromEnv,
    jobs: jobStoreFromEnv(),
    queue: chunkQueueFromEnv(),
    idempotency: idempotencyStoreFromEnv(),
  },
);
