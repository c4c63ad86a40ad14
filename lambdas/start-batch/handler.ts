/**
 * POST /api/1.0/rest/conversation/{conversationId}/start/list/data: start for a batch of 1 to 10 new records.
 * DANAConnect's answer, one envelope per record in input order, passes through unchanged. With
 * `Prefer: respond-async`: a job of one chunk (its rows numbered 1..n in body order), 202 with `Location`.
 */
import { aliasStoreFromEnv } from '../adapters/alias-deps';
import { danaClientFromEnv } from '../adapters/dana';
import { chunkQueueFromEnv, idempotencyStoreFromEnv, jobStoreFromEnv } from '../adapters/job-deps';
import { httpHandler } from '../http/doorway';
import { parseBatch, parseId } from '../core/validation';

export const handler = httpHandler(
  'start-batch',
  {
    parse: ({ path, body }) => ({
      conversationId: parseId('conversationId', path.conversationId),
      records: parseBatch('body', body),
    }),
    call: (client, { conversationId, records }, options) =>
      client.startBatch(conversationId, records, options),
    job: ({ conversationId, records }) => ({ operation: { kind: 'batch', conversationId }, records }),
  },
  {
    dana: danaClientFromEnv,
    aliases: aliasStoreFromEnv(process.env, { cached: true }),
    jobs: jobStoreFromEnv(),
    queue: chunkQueueFromEnv(),
    idempotency: idempotencyStoreFromEnv(),
  },
);
