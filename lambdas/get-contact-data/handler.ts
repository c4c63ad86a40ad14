/**
 * GET /api/1.0/rest/conversation/data/{danaparam}?fields=A,B: a contact's data from the link code DANAConnect put
 * in its message. The link code is validated here and URL-encoded by the client, so it can never change the
 * upstream path; it is never logged (it grants access to the contact's data).
 */
import { danaClientFromEnv } from '../adapters/dana';
import { httpHandler } from '../http/doorway';
import { parseDanaparam, parseFieldList } from '../core/validation';

export const handler = httpHandler(
  'get-contact-data',
  {
    parse: ({ path, query }) => ({
      danaparam: parseDanaparam(path.danaparam),
      fields: parseFieldList(query.fields),
    }),
    call: (client, { danaparam, fields }, options) => client.getContactData(danaparam, fields, options),
  },
  { dana: danaClientFromEnv },
);
