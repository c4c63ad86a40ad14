/**
 * What the sandbox remembers: known conversations and projects, records and their link codes, every
 * request received, every contact started and how often each contact key was started (duplicates).
 */
import type { ReceivedRequest, SandboxOptions, StartedContact } from './types';

/** Canonical JSON of a record: keys sorted, so the same contact always gives the same key. */
export function canonical(fields: Record<string, string>): string {
  return JSON.stringify(
    Object.fromEntries(
      Object.keys(fields)
        .sort()
        .map((key) => [key, fields[key]]),
    ),
  );
}

export class SandboxState {
  readonly conversations: Set<number>;
  /** projectId -> conversationId. */
  readonly projects: Map<number, number>;
  private readonly recordsById = new Map<number, Record<string, string>>();
  private readonly linkCodes = new Map<string, number>();
  private nextRecordId: number;
  private receivedLog: ReceivedRequest[] = [];
  private startedLog: StartedContact[] = [];
  private counts = new Map<string, number>();

  constructor(options: Pick<SandboxOptions, 'conversations' | 'projects' | 'firstRecordId'> = {}) {
    this.conversations = new Set(options.conversations ?? [1001, 1002, 1003]);
    this.projects = new Map(
      Object.entries(options.projects ?? { 77: 1001 }).map(([p, c]) => [Number(p), c] as const),
    );
    this.nextRecordId = options.firstRecordId ?? 3663;
  }

  /** A new auto-numbered record with the link code `lc-<id>`; returns its id. */
  createRecord(fields: Record<string, string>): number {
    const id = this.nextRecordId++;
    this.recordsById.set(id, { ...fields });
    this.linkCodes.set(`lc-${id}`, id);
    return id;
  }

  /** The live record (updates through it are kept). */
  record(id: number): Record<string, string> | undefined {
    return this.recordsById.get(id);
  }

  recordByLinkCode(code: string): Record<string, string> | undefined {
    const id = this.linkCodes.get(code);
    return id === undefined ? undefined : this.recordsById.get(id);
  }

  addLinkCode(code: string, recordId: number): void {
    if (!this.recordsById.has(recordId)) throw new Error(`unknown record ${recordId}`);
    this.linkCodes.set(code, recordId);
  }

  logReceived(request: ReceivedRequest): void {
    this.receivedLog.push(request);
  }

  logStart(contact: StartedContact, key: string): void {
    this.startedLog.push(contact);
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  get startedCount(): number {
    return this.startedLog.length;
  }

  received(): ReceivedRequest[] {
    return this.receivedLog.map((r) => ({ ...r, query: { ...r.query } }));
  }

  started(): StartedContact[] {
    return this.startedLog.map((s) => ({ ...s, fields: { ...s.fields } }));
  }

  startCounts(): Map<string, number> {
    return new Map(this.counts);
  }

  duplicates(): string[] {
    return [...this.counts].filter(([, n]) => n > 1).map(([key]) => key);
  }

  records(): Map<number, Record<string, string>> {
    return new Map([...this.recordsById].map(([id, fields]) => [id, { ...fields }]));
  }

  /** Forgets received requests and started contacts; keeps records and link codes. */
  reset(): void {
    this.receivedLog = [];
    this.startedLog = [];
    this.counts = new Map();
  }
}
