/**
 * ObjectStore over a folder: the embedded twin of the S3 bucket for `npm start` (`LOCAL_BUCKET_DIR`, default
 * `.local/bucket`). Keys are paths under the folder; a write lands under a temporary name and is renamed into
 * place, so a reader or a folder watcher never sees half an object.
 */
import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ObjectStore } from '../core/jobs';

export const DEFAULT_LOCAL_BUCKET_DIR = '.local/bucket';

export class FolderObjectStore implements ObjectStore {
  readonly root: string;

  constructor(root: string = DEFAULT_LOCAL_BUCKET_DIR) {
    this.root = resolve(root);
  }

  /** The file of a key; refuses keys that would leave the folder (`..`, absolute paths). */
  pathOf(key: string): string {
    const path = resolve(this.root, key);
    if (!path.startsWith(this.root + sep)) throw new Error('object key leads outside the bucket folder');
    return path;
  }

  /** Folders have no versions: `versionId` is ignored. */
  async read(key: string): Promise<AsyncIterable<Uint8Array>> {
    const path = this.pathOf(key);
    await stat(path); // a missing object fails here, not on the first read
    return createReadStream(path);
  }

  async write(key: string, body: string | AsyncIterable<string>, _contentType: string): Promise<void> {
    const path = this.pathOf(key);
    await mkdir(dirname(path), { recursive: true });
    const temporary = `${path}.${randomUUID()}.tmp`;
    try {
      if (typeof body === 'string') await writeFile(temporary, body, 'utf8');
      else await pipeline(Readable.from(body), createWriteStream(temporary));
      await rename(temporary, path);
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
  }
}

export function folderObjectStoreFromEnv(env: NodeJS.ProcessEnv = process.env): FolderObjectStore {
  return new FolderObjectStore(env.LOCAL_BUCKET_DIR || DEFAULT_LOCAL_BUCKET_DIR);
}
