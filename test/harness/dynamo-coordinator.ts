/**
 * DynamoDB's concurrency semantics, put back in front of moto_server by the fault proxy.
 *
 * Real DynamoDB: each single-item write is atomic (a conditional write checks and writes as one step); a
 * TransactWriteItems that touches an item another ongoing transaction holds is cancelled with
 * `TransactionConflict`; a PutItem/UpdateItem/DeleteItem to such an item fails with
 * TransactionConflictException; a TransactGetItems that reads such an item is cancelled too.
 *
 * moto_server: serves each request on its own thread with no per-item atomicity and never reports a conflict.
 * It runs TransactWriteItems by deep-copying every table the transaction touches and, if a condition fails,
 * putting those copies back. With other requests writing the same table meanwhile, the copy crashes
 * (`RuntimeError: dictionary changed size during iteration`, an HTML 500 the SDK cannot parse — seen in these
 * tests), the put-back would undo their writes, and readers can see a half-applied transaction. So, besides
 * the item locks, a transaction runs in moto alone on its tables (an exclusive table lock, held only while
 * moto works) and every other data-plane request takes that table lock shared.
 */
import type { ItemLocks, TableLocks } from './dynamo-locks';
import { dynamoTransactionCanceled, dynamoTransactionConflict, type Reply } from './aws-fault-responses';

type AttributeMap = Record<string, unknown>;
interface ItemRequest {
  TableName?: string;
  Item?: AttributeMap;
  Key?: AttributeMap;
}
interface DynamoRequest extends ItemRequest {
  TransactItems?: Array<Record<string, ItemRequest | undefined>>;
  RequestItems?: Record<string, unknown>;
}
interface BatchWriteRequest {
  PutRequest?: { Item?: AttributeMap };
  DeleteRequest?: { Key?: AttributeMap };
}

/** What one request needs from the proxy: its moto forwarding, and a DescribeTable signed like it. */
export interface DynamoCall {
  operation: string;
  /** `accessKeyId/region`: moto keeps tables per account and region. */
  scope: string;
  body: Buffer;
  forward: () => Promise<Reply>;
  describeTable: (tableName: string) => Promise<Reply>;
}

export interface DynamoCoordinatorOptions {
  items: ItemLocks;
  tables: TableLocks;
  /** How long an admitted transaction holds its items before moto applies it (DynamoDB's commit window). */
  holdMs: () => number;
  delay: (ms: number) => Promise<void>;
  onConflict: (operation: string) => void;
}

export interface Outcome {
  reply: Reply;
  /** False when the proxy answered itself (a conflict): moto never saw the request. */
  forwarded: boolean;
}

const SINGLE_WRITES = new Set(['PutItem', 'UpdateItem', 'DeleteItem']);
const READS = new Set(['GetItem', 'Query', 'Scan']);

/** `arn:aws:dynamodb:region:account:table/NAME` or `NAME` → `NAME`. */
function tableNameOf(name: string): string {
  const at = name.indexOf(':table/');
  return at >= 0 ? name.slice(at + ':table/'.length) : name;
}

const sortedUnique = (values: string[]) => [...new Set(values)].sort();

function parse(body: Buffer): DynamoRequest | undefined {
  try {
    const value: unknown = JSON.parse(body.toString('utf8'));
    return value && typeof value === 'object' ? (value as DynamoRequest) : undefined;
  } catch {
    return undefined;
  }
}

export class DynamoCoordinator {
  /** Key attribute names per `scope/table`, hash key first; one DescribeTable per table. */
  private readonly schemas = new Map<string, Promise<string[] | undefined>>();

  constructor(private readonly opts: DynamoCoordinatorOptions) {}

  async run(call: DynamoCall): Promise<Outcome> {
    const request = parse(call.body);
    const op = call.operation;
    if (!request) return this.forwarded(call.forward());
    if (SINGLE_WRITES.has(op)) return this.singleWrite(call, request);
    if (op === 'TransactWriteItems') return this.transactWrite(call, request);
    if (op === 'TransactGetItems') return this.transactGet(call, request);
    if (op === 'BatchWriteItem') return this.batchWrite(call, request);
    if (READS.has(op) && request.TableName) return this.shared(call, [request.TableName]);
    if (op === 'BatchGetItem') return this.shared(call, Object.keys(request.RequestItems ?? {}));
    if (op === 'DeleteTable' && request.TableName) this.schemas.delete(this.tableId(call, request.TableName));
    return this.forwarded(call.forward());
  }

  private async forwarded(reply: Promise<Reply>): Promise<Outcome> {
    return { reply: await reply, forwarded: true };
  }

  private tableId(call: DynamoCall, tableName: string): string {
    return `${call.scope}/${tableNameOf(tableName)}`;
  }

  /** Reads and non-transactional writes share the table; only a transaction in moto excludes them. */
  private async shared(call: DynamoCall, tableNames: string[]): Promise<Outcome> {
    const tables = sortedUnique(tableNames.map((t) => this.tableId(call, t)));
    await this.opts.tables.acquire(tables, false);
    try {
      return await this.forwarded(call.forward());
    } finally {
      this.opts.tables.release(tables, false);
    }
  }

  /** Atomic per item: writes to one item queue behind each other; one inside a transaction conflicts. */
  private async singleWrite(call: DynamoCall, request: DynamoRequest): Promise<Outcome> {
    if (!request.TableName) return this.forwarded(call.forward());
    const key = await this.itemKey(call, request);
    if (key === undefined) return this.shared(call, [request.TableName]);
    if (this.opts.items.heldByTransaction(key)) {
      this.opts.onConflict(call.operation);
      return { reply: dynamoTransactionConflict(), forwarded: false };
    }
    await this.opts.items.acquire([key]);
    try {
      return await this.shared(call, [request.TableName]);
    } finally {
      this.opts.items.release([key]);
    }
  }

  /**
   * Cancelled at once if another transaction holds any of its items; otherwise it holds them (later writes
   * to them conflict), waits for writes already queued there, keeps them for the commit window, then runs
   * in moto alone on its tables.
   */
  private async transactWrite(call: DynamoCall, request: DynamoRequest): Promise<Outcome> {
    const perItem = await this.transactKeys(call, request);
    const conflicting = perItem.map((k) => k !== undefined && this.opts.items.heldByTransaction(k.key));
    if (conflicting.some(Boolean)) {
      this.opts.onConflict(call.operation);
      return { reply: dynamoTransactionCanceled(conflicting), forwarded: false };
    }
    const keys = sortedUnique(perItem.flatMap((k) => (k ? [k.key] : [])));
    const tables = sortedUnique(perItem.flatMap((k) => (k ? [k.table] : [])));
    this.opts.items.reserve(keys);
    try {
      await this.opts.items.acquire(keys);
      const hold = this.opts.holdMs();
      if (hold > 0) await this.opts.delay(hold);
      await this.opts.tables.acquire(tables, true);
      try {
        return await this.forwarded(call.forward());
      } finally {
        this.opts.tables.release(tables, true);
      }
    } finally {
      this.opts.items.release(keys, true);
    }
  }

  private async transactGet(call: DynamoCall, request: DynamoRequest): Promise<Outcome> {
    const perItem = await this.transactKeys(call, request);
    const conflicting = perItem.map((k) => k !== undefined && this.opts.items.heldByTransaction(k.key));
    if (conflicting.some(Boolean)) {
      this.opts.onConflict(call.operation);
      return { reply: dynamoTransactionCanceled(conflicting), forwarded: false };
    }
    const tables = (request.TransactItems ?? []).flatMap((t) => Object.values(t)[0]?.TableName ?? []);
    return this.shared(call, tables);
  }

  /** Each put or delete in the batch is atomic on its item (it waits its turn, as DynamoDB serialises it). */
  private async batchWrite(call: DynamoCall, request: DynamoRequest): Promise<Outcome> {
    const entries = Object.entries(request.RequestItems ?? {});
    const keys: string[] = [];
    for (const [tableName, writes] of entries) {
      for (const write of (writes ?? []) as BatchWriteRequest[]) {
        const item = write.PutRequest?.Item ?? write.DeleteRequest?.Key;
        const key = await this.itemKey(call, { TableName: tableName, Item: item });
        if (key !== undefined) keys.push(key);
      }
    }
    const sorted = sortedUnique(keys);
    const tableNames = entries.map(([tableName]) => tableName);
    await this.opts.items.acquire(sorted);
    try {
      return await this.shared(call, tableNames);
    } finally {
      this.opts.items.release(sorted);
    }
  }

  /** Each TransactItem's `{ table, key }` (`Put`, `Update`, `Delete`, `ConditionCheck`, `Get`), in order. */
  private async transactKeys(call: DynamoCall, request: DynamoRequest) {
    const result: Array<{ table: string; key: string } | undefined> = [];
    for (const entry of request.TransactItems ?? []) {
      const op = Object.values(entry)[0];
      const key = op?.TableName ? await this.itemKey(call, op) : undefined;
      result.push(
        key !== undefined && op?.TableName ? { table: this.tableId(call, op.TableName), key } : undefined,
      );
    }
    return result;
  }

  /** `scope/table` + the key attribute values; undefined if the table or a key attribute is missing. */
  private async itemKey(call: DynamoCall, request: ItemRequest): Promise<string | undefined> {
    const attributes = request.Item ?? request.Key;
    if (!request.TableName || !attributes) return undefined;
    const table = this.tableId(call, request.TableName);
    const names = await this.keyNames(call, table, request.TableName);
    if (!names || names.some((n) => attributes[n] === undefined)) return undefined;
    return `${table}\u0000${JSON.stringify(names.map((n) => attributes[n]))}`;
  }

  private keyNames(call: DynamoCall, table: string, tableName: string): Promise<string[] | undefined> {
    let names = this.schemas.get(table);
    if (!names) {
      names = this.describe(call, tableName);
      this.schemas.set(table, names);
      // A table that is not there yet (or a failed lookup) is asked about again next time.
      void names.then(
        (n) => n === undefined && this.schemas.get(table) === names && this.schemas.delete(table),
      );
    }
    return names;
  }

  private async describe(call: DynamoCall, tableName: string): Promise<string[] | undefined> {
    try {
      const reply = await call.describeTable(tableName);
      if (reply.status !== 200) return undefined;
      const schema = (
        JSON.parse(reply.body.toString('utf8')) as {
          Table?: { KeySchema?: Array<{ AttributeName: string; KeyType: string }> };
        }
      ).Table?.KeySchema;
      if (!schema) return undefined;
      const hash = schema.filter((k) => k.KeyType === 'HASH');
      return [...hash, ...schema.filter((k) => k.KeyType !== 'HASH')].map((k) => k.AttributeName);
    } catch {
      return undefined;
    }
  }
}
