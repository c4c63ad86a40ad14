/**
 * The conversation aliases API, one function for its four routes (lambdas/http/routes.ts `aliasRoutes`):
 * PUT /aliases/{name} → 200, GET /aliases (paged: limit, cursor), GET /aliases/{name}, DELETE /aliases/{name} → 204.
 * One function because the four share one small store and one grant (the jobs table's `aliases` partition), and
 * an alias is changed rarely: four cold starts and four log groups would buy nothing. Each route is still a doorway
 * of its own (same logging, metrics and error envelope as every route); the event's resource and method pick it.
 * The rules live in ../core/aliases.ts; the store is uncached here, so an answer always shows the stored alias.
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { aliasStoreFromEnv } from '../adapters/alias-deps';
import { deleteAlias, getAlias, listAliases, putAliasFromBody } from '../core/aliases';
import { InvalidInputError } from '../core/errors';
import { httpHandler, type HttpHandler } from '../http/doorway';
import { ROUTES, type OperationName } from '../http/routes';

const store = aliasStoreFromEnv();
const ALIAS_ROUTES = ROUTES.filter((r) => r.function === 'aliases');

const HANDLERS: Partial<Record<OperationName, HttpHandler>> = {
  'put-alias': httpHandler('put-alias', {
    parse: ({ path, body }) => ({ name: path.name, body }),
    respond: async ({ name, body }) => ({ status: 200, body: await putAliasFromBody(store(), name, body) }),
  }),
  'list-aliases': httpHandler('list-aliases', {
    parse: ({ query }) => query,
    respond: async (query) => ({ status: 200, body: await listAliases(store(), query) }),
  }),
  'get-alias': httpHandler('get-alias', {
    parse: ({ path }) => path.name,
    respond: async (name) => ({ status: 200, body: await getAlias(store(), name) }),
  }),
  'delete-alias': httpHandler('delete-alias', {
    parse: ({ path }) => path.name,
    respond: async (name) => {
      await deleteAlias(store(), name);
      return { status: 204 };
    },
  }),
};

export async function handler(event: APIGatewayProxyEvent, context: Context): Promise<APIGatewayProxyResult> {
  // The same routes are also mounted under a prefix (the operator console's `/console/api/aliases/…`, same
  // function): the route is the alias route whose path ends the resource, with the event's method.
  const route = ALIAS_ROUTES.find((r) => event.resource?.endsWith(r.path) && r.method === event.httpMethod);
  const routed = route && HANDLERS[route.name];
  // API Gateway only sends this function its own routes; anything else is a wiring mistake.
  if (!routed)
    throw new InvalidInputError('route', `${event.httpMethod} ${event.resource} is not an alias route`);
  return routed(event, context);
}
