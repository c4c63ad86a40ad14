/**
 * POST /api/1.0/rest/conversation/{conversationId}/start/data: start for one new record created from the body.
 * With `Prefer: respond-async`: a job of one row, 202 with `Location: /jobs/{jobId}` (see ../http/doorway.ts).
 */
import { aliasStoreFromEnv } from '../adapters/alias-deps';
import { danaClientFromEnv } from '../adapters/dana';
import { chunkQueueFromEnv, idempotencyStoreFromEnv, jobStoreFromEnv } from '../adapters/job-deps';
import { httpHandler } from '../http/doorway';
import { parseId, parseRecord } from '../core/validation';

export const handler = httpHandler(
  'start-data',
  {
    parse: ({ path, body }) => ({
      conversationId: parseId('conversationId', path.conversationId),
      record: parseRecord('body', body),
    }),
    call: (client, { conversationId, record }, options) => client.startData(conversationId, record, options),
    job: ({ conversationId, record }) => ({ operation: { kind: 'data', conversationId }, records: [record] }),
  },
  {
    dana: danaClientFromEnv,
    aliases: aliasStoreFromEnv(process.env, { cached: true }),
    jobs: jobStoreFromEnv(),
    queue: chunkQueueFromEnv(),
    idempotency: idempotencyStoreFromEnv(),
  },
);
