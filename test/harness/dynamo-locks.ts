/**
 * The two lock tables the fault proxy keeps for DynamoDB: item locks (DynamoDB's own semantics — which items
 * an ongoing transaction holds, and one write at a time per item) and table locks (moto's limits — a
 * TransactWriteItems in moto must run alone on its tables, see ./dynamo-coordinator.ts).
 * Both grant in arrival order and forget an entry once nobody holds or waits for it, so a long soak does not
 * accumulate state. Callers take item locks before table locks, each set in sorted order: no deadlock.
 */

interface ItemLock {
  /** Some request (write or transaction) is at this item now; later ones queue in `waiters`. */
  busy: boolean;
  /** An ongoing TransactWriteItems holds the item, from the moment it is admitted until moto answers it. */
  transaction: boolean;
  waiters: Array<() => void>;
}

export class ItemLocks {
  private readonly locks = new Map<string, ItemLock>();

  get size(): number {
    return this.locks.size;
  }

  heldByTransaction(key: string): boolean {
    return this.locks.get(key)?.transaction === true;
  }

  /** Marks the items as held by a transaction at once, before it queues for them: later writes conflict. */
  reserve(keys: string[]): void {
    for (const key of keys) this.entry(key).transaction = true;
  }

  /** One at a time per item, first come first served. `keys` sorted, without duplicates. */
  async acquire(keys: string[]): Promise<void> {
    for (const key of keys) {
      const lock = this.entry(key);
      if (!lock.busy) lock.busy = true;
      else await new Promise<void>((resolve) => lock.waiters.push(resolve));
    }
  }

  release(keys: string[], transaction = false): void {
    for (const key of keys) {
      const lock = this.locks.get(key);
      if (!lock) continue;
      if (transaction) lock.transaction = false;
      const next = lock.waiters.shift();
      // Handed straight to the next in line, so nobody can slip in between.
      if (next) next();
      else {
        lock.busy = false;
        if (!lock.transaction) this.locks.delete(key);
      }
    }
  }

  private entry(key: string): ItemLock {
    let lock = this.locks.get(key);
    if (!lock) this.locks.set(key, (lock = { busy: false, transaction: false, waiters: [] }));
    return lock;
  }
}

interface TableLock {
  readers: number;
  writer: boolean;
  queue: Array<{ exclusive: boolean; grant: () => void }>;
}

/** Readers-writer locks per table, strictly in arrival order so a waiting writer is never starved. */
export class TableLocks {
  private readonly locks = new Map<string, TableLock>();

  get size(): number {
    return this.locks.size;
  }

  /** `tables` sorted, without duplicates. */
  async acquire(tables: string[], exclusive: boolean): Promise<void> {
    for (const table of tables) {
      let lock = this.locks.get(table);
      if (!lock) this.locks.set(table, (lock = { readers: 0, writer: false, queue: [] }));
      const free = lock.queue.length === 0 && !lock.writer && (!exclusive || lock.readers === 0);
      if (free) this.take(lock, exclusive);
      else await new Promise<void>((grant) => lock.queue.push({ exclusive, grant }));
    }
  }

  release(tables: string[], exclusive: boolean): void {
    for (const table of tables) {
      const lock = this.locks.get(table);
      if (!lock) continue;
      if (exclusive) lock.writer = false;
      else lock.readers--;
      this.drain(lock);
      if (lock.readers === 0 && !lock.writer && lock.queue.length === 0) this.locks.delete(table);
    }
  }

  private take(lock: TableLock, exclusive: boolean): void {
    if (exclusive) lock.writer = true;
    else lock.readers++;
  }

  /** Grants the head of the queue while it fits: a run of readers together, or one writer alone. */
  private drain(lock: TableLock): void {
    for (let head = lock.queue[0]; head; head = lock.queue[0]) {
      if (lock.writer || (head.exclusive && lock.readers > 0)) return;
      lock.queue.shift();
      this.take(lock, head.exclusive);
      head.grant();
      if (head.exclusive) return;
    }
  }
}
