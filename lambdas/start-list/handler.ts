/**
 * POST /api/1.0/rest/conversation/{conversationId}/start/list: start a conversation for its preloaded list.
 *
 * The same function is the target of EventBridge rules and Scheduler schedules, whose input is
 * `{ "scheduledStart": { "name": "...", "conversationId": 1001 } }`, or `"conversation": "<alias>"` instead of
 * the id (resolved when it fires). A failed scheduled start throws, so the
 * invocation lands in the schedule dead-letter queue and its alarm fires. Lambda never retries it (the stack sets
 * zero async retries): when the outcome is unknown (timeout after sending, 5xx) a retry could start the list
 * twice, so an operator checks DANAConnect instead (docs/RUNBOOK.md#alarms, "Schedule DLQ not empty").
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { aliasStoreFromEnv } from '../adapters/alias-deps';
import { danaClientFromEnv } from '../adapters/dana';
import { doorway } from '../http/doorway';
import { DanaError, describeError } from '../core/errors';
import { parseId } from '../core/validation';
import { resolveConversation } from '../core/aliases';
import type { ScheduledStartInput } from '../core/schedules';

/** What a schedule sends (../core/schedules.ts scheduledStartInput): an id, or an alias resolved here, now. */
export type ScheduledStartEvent = ScheduledStartInput;

const aliases = aliasStoreFromEnv(process.env, { cached: true });
const door = doorway('start-list', process.env, { dana: danaClientFromEnv, aliases });

const fromHttp = door.http({
  parse: ({ path }) => parseId('conversationId', path.conversationId),
  call: (client, conversationId, options) => client.startList(conversationId, options),
});

const fromSchedule = door.wrap(async (event: ScheduledStartEvent) => {
  const schedule = String(event.scheduledStart?.name ?? '').slice(0, 64) || '(unnamed)';
  door.metrics.addMetric('ScheduledStarts', MetricUnit.Count, 1);
  try {
    const start = event.scheduledStart;
    // An alias is resolved when the schedule fires, so it follows a reactivation with no change to the schedule.
    const { conversationId, alias } =
      start?.conversation !== undefined
        ? await resolveConversation(start.conversation, aliases(), 'scheduledStart.conversation')
        : {
            conversationId: parseId('scheduledStart.conversationId', start?.conversationId),
            alias: undefined,
          };
    const answer = await door.client().startList(conversationId);
    door.metrics.addMetric('Starts', MetricUnit.Count, 1);
    door.logger.info('scheduled start done', {
      schedule,
      conversationId,
      alias,
      upstreamStatus: answer.status,
    });
    return answer.body;
  } catch (error) {
    door.countError(error);
    const fields = { schedule, ...describeError(error) };
    const unknown = error instanceof DanaError && error.delivery === 'unknown';
    door.logger.error(
      unknown
        ? 'scheduled start outcome unknown: check DANAConnect before starting the list again'
        : 'scheduled start failed',
      fields,
    );
    throw error;
  }
});

function isScheduledStart(event: unknown): event is ScheduledStartEvent {
  return (
    typeof event === 'object' && event !== null && 'scheduledStart' in event && !('requestContext' in event)
  );
}

export async function handler(
  event: APIGatewayProxyEvent | ScheduledStartEvent,
  context: Context,
): Promise<APIGatewayProxyResult | unknown> {
  return isScheduledStart(event) ? fromSchedule(event, context) : fromHttp(event, context);
}
