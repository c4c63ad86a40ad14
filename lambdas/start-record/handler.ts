/**
 * POST /api/1.0/rest/conversation/{conversationId}/start/record/{recordUID}: start for an existing record,
 * updating the fields in the body first. The body is optional: none (or `{}`) updates nothing.
 */
import { aliasStoreFromEnv } from '../adapters/alias-deps';
import { danaClientFromEnv } from '../adapters/dana';
import { httpHandler } from '../http/doorway';
import { parseId, parseRecord } from '../core/validation';

export const handler = httpHandler(
  'start-record',
  {
    parse: ({ path, body }) => ({
      conversationId: parseId('conversationId', path.conversationId),
      recordUID: parseId('recordUID', path.recordUID),
      record: parseRecord('body', body === undefined ? {} : body, { allowEmpty: true }),
    }),
    call: (client, { conversationId, recordUID, record }, options) =>
      client.startRecord(conversationId, recordUID, record, options),
  },
  { dana: danaClientFromEnv, aliases: aliasStoreFromEnv(process.env, { cached: true }) },
);
