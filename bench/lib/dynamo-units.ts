/**
 * DynamoDB request units as on-demand billing counts them, from the requests and answers the SDK sees (moto's own
 * ConsumedCapacity is a constant, so it cannot be used): a write is 1 WRU per started KB of the item (the larger of
 * before and after), a strongly consistent read 1 RRU per started 4 KB (half for an eventually consistent one),
 * a transaction twice that, and a write whose condition fails still pays. Item sizes follow DynamoDB's rules
 * (attribute names plus values). An item's size is remembered from every time it is seen (a put, a read, an
 * update's returned values); an update that returns nothing is charged at the size last seen: an estimate.
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';

type Item = Record<string, AttributeValue>;
const bytes = (s: string) => Buffer.byteLength(s, 'utf8');

function valueSize(v: AttributeValue): number {
  if (v.S !== undefined) return bytes(v.S);
  // A number is stored in about one byte per two significant digits, plus one.
  if (v.N !== undefined) return Math.ceil(v.N.replace(/[-.]|e.*$/gi, '').replace(/^0+/, '').length / 2) + 1;
  if (v.B !== undefined) return v.B.length;
  if (v.BOOL !== undefined || v.NULL !== undefined) return 1;
  if (v.SS) return v.SS.reduce((n, s) => n + bytes(s), 0);
  if (v.NS) return v.NS.reduce((n, s) => n + valueSize({ N: s }), 0);
  if (v.BS) return v.BS.reduce((n, b) => n + b.length, 0);
  if (v.L) return 3 + v.L.reduce((n, e) => n + 1 + valueSize(e), 0);
  if (v.M) return 3 + Object.entries(v.M).reduce((n, [k, e]) => n + bytes(k) + 1 + valueSize(e), 0);
  return 0;
}

export const itemSize = (item: Item): number =>
  Object.entries(item).reduce((n, [name, v]) => n + bytes(name) + valueSize(v), 0);

/** The jobs table's key (pk, sk) of an item or a key map, as a map key. */
const keyOf = (table: string | undefined, item: Item) => `${table}|${item.pk?.S}|${item.sk?.S}`;

const writeUnits = (size: number) => Math.max(1, Math.ceil(size / 1024));
const readUnits = (size: number, consistent: boolean) =>
  Math.max(1, Math.ceil(size / 4096)) * (consistent ? 1 : 0.5);

export interface Units {
  wru: number;
  rru: number;
}

type Input = Record<string, unknown>;
type Output = Record<string, unknown> | undefined;

interface TransactEntry {
  Put?: { TableName?: string; Item: Item };
  Update?: { TableName?: string; Key: Item };
  Delete?: { TableName?: string; Key: Item };
  ConditionCheck?: { TableName?: string; Key: Item };
}

/** Remembers item sizes across requests and prices each request in request units. */
export class DynamoUnits {
  private readonly sizes = new Map<string, number>();

  private seen(table: string | undefined, item: Item | undefined): number {
    if (!item) return 0;
    const size = itemSize(item);
    this.sizes.set(keyOf(table, item), size);
    return size;
  }

  private known = (table: string | undefined, key: Item) => this.sizes.get(keyOf(table, key)) ?? 0;

  /** The units of one request; `output` is undefined when it failed (a failed condition still pays). */
  units(operation: string, input: Input, output: Output): Units {
    const table = input.TableName as string | undefined;
    const consistent = input.ConsistentRead === true;
    switch (operation) {
      case 'GetItem':
        return { wru: 0, rru: readUnits(this.seen(table, output?.Item as Item), consistent) };
      case 'Query': {
        const items = (output?.Items as Item[] | undefined) ?? [];
        return {
          wru: 0,
          rru: readUnits(
            items.reduce((n, i) => n + this.seen(table, i), 0),
            consistent,
          ),
        };
      }
      case 'PutItem':
      case 'UpdateItem':
      case 'DeleteItem':
        return { wru: this.singleWrite(operation, input, output), rru: 0 };
      case 'TransactWriteItems':
        return { wru: this.transactWrite(input.TransactItems as TransactEntry[]), rru: 0 };
      default:
        return { wru: 0, rru: 0 };
    }
  }

  private singleWrite(operation: string, input: Input, output: Output): number {
    const table = input.TableName as string | undefined;
    const key = (input.Item ?? input.Key) as Item;
    const before = this.known(table, key);
    const returned = output?.Attributes as Item | undefined;
    let after = before;
    if (operation === 'PutItem') after = this.seen(table, input.Item as Item);
    else if (operation === 'DeleteItem') this.sizes.delete(keyOf(table, key));
    else if (returned && input.ReturnValues === 'ALL_NEW') after = this.seen(table, { ...key, ...returned });
    return writeUnits(Math.max(before, after));
  }

  private transactWrite(entries: TransactEntry[]): number {
    let units = 0;
    for (const entry of entries) {
      const op = entry.Put ?? entry.Update ?? entry.Delete ?? entry.ConditionCheck;
      if (!op) continue;
      const key = 'Item' in op ? op.Item : op.Key;
      const before = this.known(op.TableName, key);
      const after = entry.Put ? this.seen(op.TableName, entry.Put.Item) : before;
      units += 2 * writeUnits(Math.max(before, after));
    }
    return units;
  }
}
