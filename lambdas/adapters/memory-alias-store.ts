/**
 * Aliases in memory: the embedded twin of DynamoAliasStore for `npm start` and tests, installed beside the
 * in-process job store (useLocalJobDeps `aliases`), with the same semantics: a save lands only on the revision it
 * expects, listing is in name order. Each call reads and writes between two awaits, so concurrent writers in one
 * process never interleave.
 */
import type { AliasPage, AliasRecord, AliasStore } from '../core/aliases';

const copy = (record: AliasRecord): AliasRecord => ({
  ...record,
  history: record.history.map((change) => ({ ...change })),
});

export class MemoryAliasStore implements AliasStore {
  private readonly records = new Map<string, AliasRecord>();

  async get(name: string): Promise<AliasRecord | undefined> {
    const record = this.records.get(name);
    return record && copy(record);
  }

  async save(record: AliasRecord, expectedRevision: number | undefined): Promise<boolean> {
    if (this.records.get(record.name)?.revision !== expectedRevision) return false;
    this.records.set(record.name, copy(record));
    return true;
  }

  async list(limit: number, afterName?: string): Promise<AliasPage> {
    const names = [...this.records.keys()].filter((n) => afterName === undefined || n > afterName).sort();
    const aliases = names.slice(0, limit).map((n) => copy(this.records.get(n)!));
    return names.length > limit ? { aliases, lastName: aliases.at(-1)!.name } : { aliases };
  }

  async delete(name: string): Promise<boolean> {
    return this.records.delete(name);
  }
}
