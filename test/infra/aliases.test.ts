/**
 * The alias API in the stack: one function behind PUT/GET/DELETE /aliases/{name} and GET /aliases, each method
 * authorized like every other; least privilege on the jobs table: the alias API reads and writes only the
 * `aliases` partition, and every function that resolves an alias (the `{conversationId}` routes, ingest-upload)
 * may only GetItem there. cdk-nag stays clean.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { ALIAS_PARTITION } from '../../lambdas/adapters/dynamo-alias-store';
import { takesConversationRef } from '../../lambdas/http/conversation-ref';
import { ROUTES } from '../../lambdas/http/routes';
import {
  callerMethods,
  logicalIdOf,
  props,
  reportedViolations,
  statementsOf,
  synthGateway,
  type Json,
  type Synthesized,
} from './synth';

let s: Synthesized;
beforeAll(() => {
  s = synthGateway({ scheduledStarts: [] });
});

const tableArn = () => ({ 'Fn::GetAtt': [logicalIdOf(s, s.stack.batch.table.table), 'Arn'] });
const aliasStatements = (fn: { role: Parameters<typeof logicalIdOf>[1] }) =>
  statementsOf(s, fn as never).filter((st) =>
    JSON.stringify(st.Condition ?? {}).includes(`"${ALIAS_PARTITION}"`),
  );
const envOf = (fn: { function: Parameters<typeof logicalIdOf>[1] }) =>
  (
    props(s.template.toJSON().Resources[logicalIdOf(s, fn.function)] as Json).Environment as {
      Variables: Json;
    }
  ).Variables;

describe('the alias API', () => {
  it('is one function for its four routes, every method authorized', () => {
    const aliasRoutes = ROUTES.filter((r) => r.function === 'aliases');
    expect(aliasRoutes.map((r) => `${r.method} ${r.path}`)).toEqual([
      'PUT /aliases/{name}',
      'GET /aliases',
      'GET /aliases/{name}',
      'DELETE /aliases/{name}',
    ]);
    const fns = new Set(aliasRoutes.map((r) => s.stack.functions[r.name]));
    expect(fns.size).toBe(1);
    const fnId = logicalIdOf(s, s.stack.functions['put-alias'].function);
    const methods = callerMethods(s.template).filter((m) =>
      JSON.stringify(props(m).Integration ?? {}).includes(fnId),
    );
    expect(methods.map((m) => props(m).HttpMethod).sort()).toEqual(['DELETE', 'GET', 'GET', 'PUT']);
    for (const m of methods) expect(props(m).AuthorizationType).not.toBe('NONE');
  });

  it('reads and writes only the aliases partition, with exactly the actions its adapter sends', () => {
    const fn = s.stack.functions['put-alias'];
    const table = statementsOf(s, fn).filter((st) => JSON.stringify(st).includes('dynamodb:'));
    expect(table).toEqual([
      {
        Effect: 'Allow',
        Action: ['dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query'],
        Resource: tableArn(),
        Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [ALIAS_PARTITION] } },
      },
    ]);
    expect(envOf(fn).JOBS_TABLE_NAME).toEqual({ Ref: logicalIdOf(s, s.stack.batch.table.table) });
    // No DANAConnect secret, no queue.
    expect(JSON.stringify(statementsOf(s, fn))).not.toMatch(/secretsmanager|sqs:/);
  });
});

describe('alias resolution', () => {
  const resolverGrant = () => ({
    Effect: 'Allow',
    Action: 'dynamodb:GetItem',
    Resource: tableArn(),
    Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [ALIAS_PARTITION] } },
  });

  it('every {conversationId} route may GetItem in the aliases partition, and nothing more there', () => {
    const routes = ROUTES.filter(takesConversationRef);
    expect(routes.length).toBe(4);
    for (const route of routes) {
      const fn = s.stack.functions[route.name];
      expect(aliasStatements(fn), route.name).toEqual([resolverGrant()]);
      expect(envOf(fn).JOBS_TABLE_NAME, route.name).toBeDefined();
    }
  });

  it('ingest-upload resolves upload keys the same way; functions that never resolve one get nothing', () => {
    expect(aliasStatements(s.stack.batch.ingest)).toEqual([resolverGrant()]);
    for (const name of ['start-data-by-project', 'get-contact-data', 'get-job'] as const) {
      expect(aliasStatements(s.stack.functions[name]), name).toEqual([]);
    }
    expect(aliasStatements(s.stack.batch.worker)).toEqual([]);
  });

  it('cdk-nag reports nothing', () => {
    expect(reportedViolations(s.assembly)).toEqual([]);
  });
});
