/**
 * The runtime schedules API, one function for its five routes (lambdas/http/routes.ts `scheduleRoutes`):
 * POST /schedules → 201, GET /schedules, GET /schedules/{name}, PUT /schedules/{name}, DELETE /schedules/{name}
 * → 204. Each route is a doorway of its own (same logging, metrics and error envelope as every route); the event's
 * resource and method pick it. The rules are ../core/schedules.ts, the operations ../core/schedule-api.ts, the
 * store EventBridge Scheduler (../adapters/scheduler-schedule-store.ts) or a local run's memory store.
 * Nothing here calls DANAConnect: a schedule's start goes through start-list when it fires.
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { scheduleStoreFromEnv } from '../adapters/schedule-deps';
import { InvalidInputError } from '../core/errors';
import {
  createSchedule,
  deleteSchedule,
  getSchedule,
  listSchedules,
  replaceSchedule,
} from '../core/schedule-api';
import { httpHandler, type HttpHandler } from '../http/doorway';
import { ROUTES, type OperationName } from '../http/routes';

const store = scheduleStoreFromEnv();
const now = () => new Date();

const HANDLERS: Partial<Record<OperationName, HttpHandler>> = {
  'create-schedule': httpHandler('create-schedule', {
    parse: ({ body }) => body,
    respond: async (body) => ({ status: 201, body: await createSchedule(store, body, now()) }),
  }),
  'list-schedules': httpHandler('list-schedules', {
    parse: ({ query }) => query,
    respond: async (query) => ({ status: 200, body: await listSchedules(store, query, now()) }),
  }),
  'get-schedule': httpHandler('get-schedule', {
    parse: ({ path, query }) => ({ name: path.name, query }),
    respond: async ({ name, query }) => ({ status: 200, body: await getSchedule(store, name, query, now()) }),
  }),
  'replace-schedule': httpHandler('replace-schedule', {
    parse: ({ path, body }) => ({ name: path.name, body }),
    respond: async ({ name, body }) => ({
      status: 200,
      body: await replaceSchedule(store, name, body, now()),
    }),
  }),
  'delete-schedule': httpHandler('delete-schedule', {
    parse: ({ path }) => path.name,
    respond: async (name) => {
      await deleteSchedule(store, name);
      return { status: 204 };
    },
  }),
};

export async function handler(event: APIGatewayProxyEvent, context: Context): Promise<APIGatewayProxyResult> {
  const route = ROUTES.find((r) => r.path === event.resource && r.method === event.httpMethod);
  const routed = route && HANDLERS[route.name];
  // API Gateway only sends this function its own routes; anything else is a wiring mistake.
  if (!routed)
    throw new InvalidInputError('route', `${event.httpMethod} ${event.resource} is not a schedules route`);
  return routed(event, context);
}
