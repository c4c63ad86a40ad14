/**
 * Conversation aliases, the pure core (lambdas/core/aliases.ts): the name rule, resolution (id or alias, 404
 * naming an unknown alias), history, optimistic writes, the list cursor, the resolution cache; the memory twin;
 * the upload key's alias segment; the doorway's one resolution point (lambdas/http/conversation-ref.ts).
 */
import { describe, expect, it } from 'vitest';
import { MemoryAliasStore } from '../../lambdas/adapters/memory-alias-store';
import { MemoryJobStore } from '../../lambdas/adapters/memory-job-store';
import { ingestUpload, type IngestDeps } from '../../lambdas/core/ingest';
import { reportSegment, reportSummary } from '../../lambdas/core/reports';
import { MemoryBucket } from '../harness/memory-bucket';
import { RecordingQueue } from './upload-doubles';
import {
  ALIAS_HISTORY_KEPT,
  cachedAliasStore,
  decodeAliasCursor,
  deleteAlias,
  encodeAliasCursor,
  getAlias,
  isAliasName,
  listAliases,
  putAlias,
  putAliasFromBody,
  resolveConversation,
  UnknownAliasError,
  type AliasStore,
} from '../../lambdas/core/aliases';
import { errorAnswer, InvalidInputError } from '../../lambdas/core/errors';
import { parseUploadKey } from '../../lambdas/core/upload/key';
import { resolvePathConversation, takesConversationRef } from '../../lambdas/http/conversation-ref';
import type { HttpRequest } from '../../lambdas/http/request';
import { ROUTES } from '../../lambdas/http/routes';

/** A clock that moves one minute per call, so every change has its own instant. */
function ticking(start = Date.parse('2026-03-01T12:00:00Z')) {
  let t = start;
  return () => new Date((t += 60_000));
}

describe('alias names', () => {
  it.each(['a', 'newsletter', 'news-2026', 'a'.repeat(63), 'x0-'])('accepts %j', (name) => {
    expect(isAliasName(name)).toBe(true);
  });
  it.each(['', '1001', '1news', '-a', 'News', 'news_letter', 'news letter', 'a'.repeat(64), 'ñews', 'a/b'])(
    'refuses %j',
    (name) => {
      expect(isAliasName(name)).toBe(false);
    },
  );
});

describe('resolveConversation', () => {
  it('passes an id through without reading the store', async () => {
    const store: Pick<AliasStore, 'get'> = {
      get: () => Promise.reject(new Error('must not be read')),
    };
    expect(await resolveConversation('1001', store)).toEqual({ conversationId: 1001 });
    expect(await resolveConversation(1002, store)).toEqual({ conversationId: 1002 });
  });

  it('turns an alias into its current id, and follows a change at once', async () => {
    const store = new MemoryAliasStore();
    await putAlias(store, 'newsletter', 1001);
    expect(await resolveConversation('newsletter', store)).toEqual({
      conversationId: 1001,
      alias: 'newsletter',
    });
    await putAlias(store, 'newsletter', 1002);
    expect(await resolveConversation('newsletter', store)).toEqual({
      conversationId: 1002,
      alias: 'newsletter',
    });
  });

  it('answers an unknown alias 404, idError 9404, naming the alias', async () => {
    const error = await resolveConversation('ghost', new MemoryAliasStore()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnknownAliasError);
    expect(errorAnswer(error)).toEqual({
      status: 404,
      body: {
        wsError: {
          idError: 9404,
          errorDescription: 'No such resource: conversationId: no alias named "ghost"',
        },
      },
    });
  });

  it.each(['0', '-1', '01', '2147483648', '', 'News', '1a', 'a_b', 'a'.repeat(64)])(
    'refuses %j with 400 naming the parameter',
    async (ref) => {
      const error = await resolveConversation(ref, new MemoryAliasStore(), 'key').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidInputError);
      expect(error).not.toBeInstanceOf(UnknownAliasError);
      expect(errorAnswer(error).status).toBe(400);
      expect((error as InvalidInputError).target).toBe('key');
    },
  );
});

describe('putAlias and its history', () => {
  it('records each change as a period, newest first, the current one open', async () => {
    const store = new MemoryAliasStore();
    const now = ticking();
    const first = await putAlias(store, 'newsletter', 1001, now);
    expect(first.history).toEqual([{ conversationId: 1001, from: first.updatedAt, to: null }]);
    const second = await putAlias(store, 'newsletter', 1002, now);
    expect(second.conversationId).toBe(1002);
    expect(second.history).toEqual([
      { conversationId: 1002, from: second.updatedAt, to: null },
      { conversationId: 1001, from: first.updatedAt, to: second.updatedAt },
    ]);
  });

  it('changes nothing when the alias already holds that id (a retried PUT adds no history)', async () => {
    const store = new MemoryAliasStore();
    const now = ticking();
    const first = await putAlias(store, 'newsletter', 1001, now);
    const again = await putAlias(store, 'newsletter', 1001, now);
    expect(again).toEqual(first);
  });

  it(`keeps the last ${ALIAS_HISTORY_KEPT} periods: at least the last 20 changes`, async () => {
    const store = new MemoryAliasStore();
    const now = ticking();
    for (let id = 1; id <= 40; id++) await putAlias(store, 'a', id, now);
    const { history } = (await store.get('a'))!;
    expect(history).toHaveLength(ALIAS_HISTORY_KEPT);
    expect(history.length - 1).toBeGreaterThanOrEqual(20);
    expect(history.map((h) => h.conversationId)).toEqual(
      Array.from({ length: ALIAS_HISTORY_KEPT }, (_, i) => 40 - i),
    );
    // Each period ends where the next one began.
    for (let i = 1; i < history.length; i++) expect(history[i]!.to).toBe(history[i - 1]!.from);
  });

  it('loses no change when two writers race: the loser reads again and writes on top', async () => {
    const store = new MemoryAliasStore();
    await putAlias(store, 'a', 1);
    await Promise.all([putAlias(store, 'a', 2), putAlias(store, 'a', 3)]);
    const record = (await store.get('a'))!;
    expect(record.history.map((h) => h.conversationId).sort()).toEqual([1, 2, 3]);
    expect(record.revision).toBe(3);
  });

  it('a save on a stale revision is refused', async () => {
    const store = new MemoryAliasStore();
    const first = await putAlias(store, 'a', 1);
    expect(await store.save({ ...first, conversationId: 9, revision: 2 }, undefined)).toBe(false);
    expect(await store.save({ ...first, conversationId: 9, revision: 2 }, 0)).toBe(false);
    expect(await store.save({ ...first, conversationId: 9, revision: 2 }, 1)).toBe(true);
  });
});

describe('the API operations', () => {
  it('PUT answers name, conversationId, updatedAt and history', async () => {
    const store = new MemoryAliasStore();
    const view = await putAliasFromBody(store, 'newsletter', { conversationId: 1001 });
    expect(Object.keys(view)).toEqual(['name', 'conversationId', 'updatedAt', 'history']);
    expect(view).toMatchObject({ name: 'newsletter', conversationId: 1001 });
    expect(await getAlias(store, 'newsletter')).toEqual(view);
  });

  it.each([
    ['Bad_Name', { conversationId: 1 }, 'name'],
    ['ok', undefined, 'body'],
    ['ok', [1], 'body'],
    ['ok', {}, 'conversationId'],
    ['ok', { conversationId: 0 }, 'conversationId'],
    ['ok', { conversationId: 'newsletter' }, 'conversationId'],
    ['ok', { conversationId: 1.5 }, 'conversationId'],
    ['ok', { conversationId: 1, extra: true }, 'body.extra'],
  ])('PUT %j %j → 400 naming %s', async (name, body, target) => {
    const store = new MemoryAliasStore();
    const error = await putAliasFromBody(store, name, body).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as InvalidInputError).target).toBe(target);
    expect(errorAnswer(error).status).toBe(400);
    expect((await store.list(10)).aliases).toEqual([]);
  });

  it('GET and DELETE of an unknown alias → 404 naming it', async () => {
    const store = new MemoryAliasStore();
    for (const call of [getAlias(store, 'ghost'), deleteAlias(store, 'ghost')]) {
      const error = await call.catch((e: unknown) => e);
      expect(errorAnswer(error)).toMatchObject({ status: 404, body: { wsError: { idError: 9404 } } });
      expect(JSON.stringify(errorAnswer(error).body)).toContain('ghost');
    }
  });

  it('DELETE removes it: resolution then answers 404', async () => {
    const store = new MemoryAliasStore();
    await putAlias(store, 'newsletter', 1001);
    await deleteAlias(store, 'newsletter');
    await expect(resolveConversation('newsletter', store)).rejects.toBeInstanceOf(UnknownAliasError);
  });
});

describe('listing', () => {
  it('pages in name order with an opaque cursor; the last page has none', async () => {
    const store = new MemoryAliasStore();
    const names = ['d', 'a', 'c', 'e', 'b'];
    for (const [i, name] of names.entries()) await putAlias(store, name, 1000 + i);
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await listAliases(store, { limit: '2', ...(cursor && { cursor }) });
      seen.push(...page.aliases.map((a) => a.name));
      cursor = page.cursor;
      pages++;
    } while (cursor);
    expect(seen).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(pages).toBe(3);
  });

  it('a cursor is opaque and refuses tampering with 400 naming `cursor`', () => {
    const cursor = encodeAliasCursor('newsletter');
    expect(cursor).not.toContain('newsletter');
    expect(decodeAliasCursor(cursor)).toBe('newsletter');
    const forged = Buffer.from('other.0000000000000000').toString('base64url');
    const edited = encodeAliasCursor('newsletter').slice(0, -2) + 'AA';
    for (const bad of [
      forged,
      edited,
      'not a cursor',
      '',
      'x'.repeat(300),
      Buffer.from('job#1').toString('base64url'),
    ]) {
      expect(() => decodeAliasCursor(bad)).toThrow(expect.objectContaining({ target: 'cursor' }) as Error);
    }
  });

  it.each(['0', '101', '-1', 'ten', '1.5'])('limit %j → 400 naming `limit`', async (limit) => {
    await expect(listAliases(new MemoryAliasStore(), { limit })).rejects.toMatchObject({ target: 'limit' });
  });
});

describe('the resolution cache', () => {
  it('serves a read for ALIAS_CACHE_TTL_MS, then reads again; its own writes drop the entry', async () => {
    const backing = new MemoryAliasStore();
    let reads = 0;
    const counting: AliasStore = {
      get: (name) => {
        reads++;
        return backing.get(name);
      },
      save: (r, e) => backing.save(r, e),
      list: (l, a) => backing.list(l, a),
      delete: (n) => backing.delete(n),
    };
    let clock = 0;
    const cached = cachedAliasStore(counting, 15_000, () => clock);
    await putAlias(backing, 'newsletter', 1001);
    expect((await cached.get('newsletter'))?.conversationId).toBe(1001);
    // Another function changes it: this one sees the old id until the entry expires, never longer.
    await putAlias(backing, 'newsletter', 1002);
    clock = 14_999;
    expect((await cached.get('newsletter'))?.conversationId).toBe(1001);
    clock = 15_000;
    expect((await cached.get('newsletter'))?.conversationId).toBe(1002);
    expect(reads).toBe(2);
    // Unknown names are cached too (bounded), and a write through the cache is seen at once.
    expect(await cached.get('ghost')).toBeUndefined();
    await putAlias(cached, 'ghost', 7);
    expect((await cached.get('ghost'))?.conversationId).toBe(7);
  });
});

describe('upload keys', () => {
  it('an alias segment names the alias; the ingest resolves it', () => {
    expect(parseUploadKey('uploads/newsletter/march.csv')).toEqual({
      kind: 'upload',
      alias: 'newsletter',
      segment: 'newsletter',
      name: 'march.csv',
      format: 'csv',
    });
    expect(parseUploadKey('uploads/1001/march.csv')).toMatchObject({ kind: 'upload', conversationId: 1001 });
  });

  it('a segment that is neither an id nor an alias name is rejected as before', () => {
    expect(parseUploadKey('uploads/news_letter/march.csv')).toMatchObject({
      kind: 'rejected',
      segment: '_invalid',
    });
    expect(parseUploadKey('uploads/News/march.csv')).toMatchObject({ kind: 'rejected', segment: '_invalid' });
  });
});

describe('the doorway resolves {conversationId} in one place', () => {
  const request = (conversationId: string): HttpRequest => ({
    requestId: 'r',
    path: { conversationId },
    query: {},
    body: undefined,
    debug: undefined,
    preferAsync: false,
    idempotencyKey: undefined,
    caller: undefined,
    routePath: `/api/1.0/rest/conversation/${conversationId}/start/list`,
    basePath: '',
  });

  it('covers every …/conversation/{conversationId}/… route', () => {
    expect(
      ROUTES.filter(takesConversationRef)
        .map((r) => r.name)
        .sort(),
    ).toEqual(['start-batch', 'start-data', 'start-list', 'start-record']);
  });

  it('replaces an alias by its id and leaves ids alone', async () => {
    const store = new MemoryAliasStore();
    await putAlias(store, 'newsletter', 1003);
    const resolved = await resolvePathConversation(request('newsletter'), () => store);
    expect(resolved.request.path.conversationId).toBe('1003');
    expect(resolved.alias).toBe('newsletter');
    const plain = request('1001');
    expect(await resolvePathConversation(plain, undefined)).toEqual({ request: plain });
  });

  it('an unknown alias is refused before anything else runs', async () => {
    await expect(
      resolvePathConversation(request('ghost'), () => new MemoryAliasStore()),
    ).rejects.toBeInstanceOf(UnknownAliasError);
  });
});

describe('the ingest resolves an alias in the upload key', () => {
  const setup = (aliases?: AliasStore) => {
    const jobs = new MemoryJobStore();
    const bucket = new MemoryBucket(64);
    const queue = new RecordingQueue();
    const deps: IngestDeps = { jobs, bucket, queue, ...(aliases && { aliases }) };
    return { jobs, bucket, queue, deps };
  };
  const upload = (key: string) => ({ bucket: 'b', key, etag: 'e1' });

  it('starts the id the alias holds when the file is read; the job and its summary hold both', async () => {
    const aliases = new MemoryAliasStore();
    await putAlias(aliases, 'newsletter', 1002);
    const { jobs, bucket, queue, deps } = setup(aliases);
    bucket.put('uploads/newsletter/march.csv', 'NAME\nAna\n');
    const job = (await ingestUpload(deps, upload('uploads/newsletter/march.csv'))) as { jobId: string };
    expect(queue.sent.map((c) => c.operation)).toEqual([{ kind: 'batch', conversationId: 1002 }]);
    expect(await jobs.getJob(job.jobId)).toMatchObject({
      alias: 'newsletter',
      operation: { kind: 'batch', conversationId: 1002 },
    });
    expect(reportSummary((await jobs.getJob(job.jobId))!)).toMatchObject({
      alias: 'newsletter',
      conversationId: 1002,
    });
    expect(reportSegment((await jobs.getJob(job.jobId))!)).toBe('newsletter');
  });

  it('an unknown alias rejects the file as a whole, naming it, beside the alias; nothing is queued', async () => {
    const { bucket, queue, deps } = setup(new MemoryAliasStore());
    bucket.put('uploads/ghost/x.csv', 'NAME\nAna\n');
    expect(await ingestUpload(deps, upload('uploads/ghost/x.csv'))).toEqual({
      rejectedFile: 'conversationId: no alias named "ghost"',
    });
    expect(JSON.parse(bucket.text('reports/ghost/x.csv.summary.json')!)).toMatchObject({
      total: 0,
      error: 'conversationId: no alias named "ghost"',
    });
    expect(queue.sent).toEqual([]);
  });

  it('an ingest without an alias store rejects an alias key rather than guessing', async () => {
    const { bucket, queue, deps } = setup();
    bucket.put('uploads/newsletter/x.csv', 'NAME\nAna\n');
    expect(await ingestUpload(deps, upload('uploads/newsletter/x.csv'))).toEqual({
      rejectedFile: expect.stringContaining('aliases are not available'),
    });
    expect(queue.sent).toEqual([]);
  });
});
