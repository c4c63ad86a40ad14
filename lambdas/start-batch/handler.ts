/**
 * POST /api/1.0/rest/conversation/{conversationId}/start/list/data: start for a batch of 1 to 10 new records.
 * DANAConnect's answer, one envelope per record in input order, passes through unchanged.
 */
import { httpHandler } from '../http/doorway';
import { parseBatch, parseId } from '../core/validation';

export const handler = httpHandler('start-batch', {
  parse: ({ path, body }) => ({
    conversationId: parseId('conversationId', path.conversationId),
    records: parseBatch('body', body),
  }),
  call: (client, { conversationId, records }, options) => client.startBatch(conversationId, records, options),
});
