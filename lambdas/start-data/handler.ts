/** POST /api/1.0/rest/conversation/{conversationId}/start/data: start for one new record created from the body. */
import { httpHandler } from '../http/doorway';
import { parseId, parseRecord } from '../core/validation';

export const handler = httpHandler('start-data', {
  parse: ({ path, body }) => ({
    conversationId: parseId('conversationId', path.conversationId),
    record: parseRecord('body', body),
  }),
  call: (client, { conversationId, record }, options) => client.startData(conversationId, record, options),
});
