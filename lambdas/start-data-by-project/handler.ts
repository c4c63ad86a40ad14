/**
 * POST /api/1.0/rest/conversation/ProjectID/{projectId}/start/data: start for one new record, addressed by the
 * project id, which stays the same when the conversation is reactivated.
 */
import { httpHandler } from '../http/doorway';
import { parseId, parseRecord } from '../core/validation';

export const handler = httpHandler('start-data-by-project', {
  parse: ({ path, body }) => ({
    projectId: parseId('projectId', path.projectId),
    record: parseRecord('body', body),
  }),
  call: (client, { projectId, record }, options) => client.startDataByProject(projectId, record, options),
});
