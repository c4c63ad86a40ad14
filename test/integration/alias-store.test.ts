/**
 * The AliasStore contract, run against DynamoAliasStore on moto_server (through the fault proxy) and against its
 * memory twin (both must behave the same); the item layout in the jobs table (one `aliases` partition, no TTL);
 * listing by Query among job items; and the IAM actions the adapter needs.
 */
import { DeleteTableCommand, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { TABLE_ACCESS } from '../../infra/constructs/table-access';
import { aliasStoreFromEnv } from '../../lambdas/adapters/alias-deps';
import { ALIAS_PARTITION, DynamoAliasStore } from '../../lambdas/adapters/dynamo-alias-store';
import { MemoryAliasStore } from '../../lambdas/adapters/memory-alias-store';
import {
  deleteAlias,
  listAliases,
  putAlias,
  resolveConversation,
  UnknownAliasError,
  type AliasStore,
} from '../../lambdas/core/aliases';
import { awsDynamo, createJobsTable } from './job-store-table';

const dynamo = awsDynamo(inject('awsEndpoint'));
const tableName = `jobs-aliases-${randomUUID()}`;

beforeAll(async () => {
  await createJobsTable(dynamo, tableName);
  // Job items around the alias partition: listing must return aliases only.
  for (const pk of ['job#00', 'job#ff', 'idem#ab', 'ratelimit#dana', 'aliasez', 'aliase']) {
    await dynamo.send(
      new PutItemCommand({ TableName: tableName, Item: { pk: { S: pk }, sk: { S: 'job' } } }),
    );
  }
});
afterAll(async () => {
  await dynamo.send(new DeleteTableCommand({ TableName: tableName }));
  dynamo.destroy();
});

const stores: [string, () => AliasStore][] = [
  ['DynamoAliasStore', () => new DynamoAliasStore({ client: dynamo, tableName })],
  ['MemoryAliasStore', () => new MemoryAliasStore()],
];

describe.each(stores)('%s', (kind, makeStore) => {
  // Each store kind gets its own names, so the two runs never see each other's aliases in the one table.
  const prefix = kind === 'DynamoAliasStore' ? 'd' : 'm';
  const store = makeStore();

  it('puts, reads, changes with history, and resolves', async () => {
    const name = `${prefix}-newsletter`;
    expect(await store.get(name)).toBeUndefined();
    const first = await putAlias(store, name, 1001);
    expect(await store.get(name)).toEqual(first);
    const second = await putAlias(store, name, 1002);
    expect(second.history.map((h) => h.conversationId)).toEqual([1002, 1001]);
    expect(await store.get(name)).toEqual(second);
    expect(await resolveConversation(name, store)).toEqual({ conversationId: 1002, alias: name });
  });

  it('refuses a save on a stale revision (two writers: no lost change)', async () => {
    const name = `${prefix}-race`;
    const first = await putAlias(store, name, 1);
    expect(await store.save({ ...first, conversationId: 5, revision: 2 }, undefined)).toBe(false);
    expect(await store.save({ ...first, conversationId: 5, revision: 2 }, 7)).toBe(false);
    await Promise.all([putAlias(store, name, 2), putAlias(store, name, 3), putAlias(store, name, 4)]);
    const record = (await store.get(name))!;
    expect(record.revision).toBe(4);
    expect(record.history.map((h) => h.conversationId).sort()).toEqual([1, 2, 3, 4]);
  });

  it('deletes: true once, then false; resolution then answers 404', async () => {
    const name = `${prefix}-gone`;
    await putAlias(store, name, 1003);
    expect(await store.delete(name)).toBe(true);
    expect(await store.delete(name)).toBe(false);
    await expect(deleteAlias(store, name)).rejects.toBeInstanceOf(UnknownAliasError);
    await expect(resolveConversation(name, store)).rejects.toBeInstanceOf(UnknownAliasError);
  });

  it('lists in name order, page by page, and the last page carries no cursor', async () => {
    const names = Array.from({ length: 7 }, (_, i) => `${prefix}-list-${String.fromCharCode(103 - i)}`);
    for (const [i, name] of names.entries()) await putAlias(store, name, 2000 + i);
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await listAliases(store, { limit: '3', ...(cursor && { cursor }) });
      expect(page.aliases.length).toBeLessThanOrEqual(3);
      seen.push(...page.aliases.map((a) => a.name));
      cursor = page.cursor;
      pages++;
    } while (cursor && pages < 20);
    const mine = seen.filter((n) => n.startsWith(`${prefix}-list-`));
    expect(mine).toEqual([...names].sort());
    expect(seen).toEqual([...seen].sort());
    // Nothing but aliases: the job items beside them never show.
    expect(seen.every((n) => /^[a-z][a-z0-9-]*$/.test(n) && !n.includes('#'))).toBe(true);
  });
});

describe('DynamoAliasStore on the jobs table', () => {
  const store = new DynamoAliasStore({ client: dynamo, tableName });

  it('keeps an alias as one item in the `aliases` partition, sk = its name, with no TTL attribute', async () => {
    await putAlias(store, 'layout', 1001);
    const { Item } = await dynamo.send(
      new GetItemCommand({ TableName: tableName, Key: { pk: { S: ALIAS_PARTITION }, sk: { S: 'layout' } } }),
    );
    expect(Item).toBeDefined();
    expect(Object.keys(Item!).sort()).toEqual([
      'conversationId',
      'history',
      'pk',
      'revision',
      'sk',
      'updatedAt',
    ]);
    expect(Item!.conversationId).toEqual({ N: '1001' });
    expect(Item!.expiresAt).toBeUndefined();
  });

  it('resolves through aliasStoreFromEnv (cached) on JOBS_TABLE_NAME', async () => {
    await putAlias(store, 'from-env', 1002);
    const aliases = aliasStoreFromEnv({ JOBS_TABLE_NAME: tableName }, { cached: true, client: dynamo });
    expect(await resolveConversation('from-env', aliases())).toEqual({
      conversationId: 1002,
      alias: 'from-env',
    });
  });

  it('sends only Get, Put, Query and Delete (never a Scan), each granted to the alias API; resolvers only read', () => {
    const source = readFileSync(
      new URL('../../lambdas/adapters/dynamo-alias-store.ts', import.meta.url),
      'utf8',
    );
    const commands = [...new Set([...source.matchAll(/new (\w+)Command\(/g)].map((m) => `dynamodb:${m[1]}`))];
    expect(commands.sort()).toEqual([
      'dynamodb:DeleteItem',
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:Query',
    ]);
    expect([...TABLE_ACCESS['alias-admin'].actions].sort()).toEqual(commands);
    expect(TABLE_ACCESS['alias-admin'].leadingKeys).toEqual([ALIAS_PARTITION]);
    expect(TABLE_ACCESS['alias-resolver']).toEqual({
      actions: ['dynamodb:GetItem'],
      leadingKeys: [ALIAS_PARTITION],
    });
  });
});
