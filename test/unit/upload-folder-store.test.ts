/** FolderObjectStore, the local twin of the bucket: round trips, streamed writes, no half objects, no escapes. */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FolderObjectStore, folderObjectStoreFromEnv } from '../../lambdas/adapters/folder-object-store';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'bucket-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function readAll(stream: AsyncIterable<Uint8Array>): Promise<string> {
  const parts: Uint8Array[] = [];
  for await (const part of stream) parts.push(part);
  return Buffer.concat(parts).toString('utf8');
}

describe('FolderObjectStore', () => {
  it('writes a string and a stream under nested keys (spaces, accents) and reads them back as bytes', async () => {
    const store = new FolderObjectStore(root);
    await store.write('reports/1001/lista de marzo é.summary.json', '{"total":0}', 'application/json');
    async function* lines() {
      for (let i = 0; i < 1000; i++) yield `${i},started,${i},\r\n`;
    }
    await store.write('reports/1001/big.report.csv', lines(), 'text/csv');
    expect(await readAll(await store.read('reports/1001/lista de marzo é.summary.json'))).toBe('{"total":0}');
    const csv = await readAll(await store.read('reports/1001/big.report.csv'));
    expect(csv.split('\r\n')).toHaveLength(1001);
    expect(await readFile(join(root, 'reports/1001/big.report.csv'), 'utf8')).toBe(csv);
    // No temporary file left behind.
    expect((await readdir(join(root, 'reports/1001'))).sort()).toEqual([
      'big.report.csv',
      'lista de marzo é.summary.json',
    ]);
  });

  it('replaces an object whole, and leaves the old one when a streamed write fails', async () => {
    const store = new FolderObjectStore(root);
    await store.write('k.txt', 'old', 'text/plain');
    async function* failing() {
      yield 'new part';
      throw new Error('source failed');
    }
    await expect(store.write('k.txt', failing(), 'text/plain')).rejects.toThrow('source failed');
    expect(await readAll(await store.read('k.txt'))).toBe('old');
    expect(await readdir(root)).toEqual(['k.txt']);
  });

  it('fails on a missing object when asked for it, not later', async () => {
    await expect(new FolderObjectStore(root).read('uploads/1/none.csv')).rejects.toThrow(/ENOENT/);
  });

  it('refuses keys that lead outside the folder', async () => {
    const store = new FolderObjectStore(join(root, 'bucket'));
    await expect(store.write('../outside.txt', 'x', 'text/plain')).rejects.toThrow(
      'outside the bucket folder',
    );
    await expect(store.read('/etc/passwd')).rejects.toThrow('outside the bucket folder');
    expect(await readdir(root)).toEqual([]);
  });

  it('uses LOCAL_BUCKET_DIR, else .local/bucket', () => {
    expect(folderObjectStoreFromEnv({ LOCAL_BUCKET_DIR: root }).root).toBe(root);
    expect(folderObjectStoreFromEnv({}).root).toBe(join(process.cwd(), '.local/bucket'));
  });
});
