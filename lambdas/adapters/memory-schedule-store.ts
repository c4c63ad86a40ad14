/**
 * The schedule store of a local run (`npm start`, tests): schedules in memory, in name order, with a listener that
 * the local runner (local/schedule-runner.ts) uses to re-arm a schedule's timer whenever it changes.
 */
import type { SchedulePage, ScheduleStore } from '../core/schedule-api';
import type { Schedule } from '../core/schedules';

export type ScheduleChange = (name: string, schedule: Schedule | undefined) => void;

export class MemoryScheduleStore implements ScheduleStore {
  private readonly schedules = new Map<string, Schedule>();
  private readonly listeners = new Set<ScheduleChange>();

  /** Called after every change with the schedule as it now is (undefined: deleted). Returns the unsubscriber. */
  onChange(listener: ScheduleChange): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  all(): Schedule[] {
    return [...this.schedules.values()].map((s) => structuredClone(s));
  }

  async create(schedule: Schedule): Promise<boolean> {
    if (this.schedules.has(schedule.name)) return false;
    this.set(schedule.name, schedule);
    return true;
  }

  async get(name: string): Promise<Schedule | undefined> {
    const schedule = this.schedules.get(name);
    return schedule && structuredClone(schedule);
  }

  async list(limit: number, cursor?: string): Promise<SchedulePage | undefined> {
    let after: string | undefined;
    if (cursor !== undefined) {
      after = Buffer.from(cursor, 'base64url').toString('utf8');
      if (Buffer.from(after, 'utf8').toString('base64url') !== cursor) return undefined;
    }
    const names = [...this.schedules.keys()].sort().filter((name) => after === undefined || name > after);
    const page = names.slice(0, limit).map((name) => structuredClone(this.schedules.get(name)!));
    const last = page.at(-1)?.name;
    return names.length > limit && last !== undefined
      ? { schedules: page, cursor: Buffer.from(last, 'utf8').toString('base64url') }
      : { schedules: page };
  }

  async replace(schedule: Schedule): Promise<boolean> {
    if (!this.schedules.has(schedule.name)) return false;
    this.set(schedule.name, schedule);
    return true;
  }

  async delete(name: string): Promise<boolean> {
    if (!this.schedules.delete(name)) return false;
    this.notify(name, undefined);
    return true;
  }

  private set(name: string, schedule: Schedule): void {
    this.schedules.set(name, structuredClone(schedule));
    this.notify(name, structuredClone(schedule));
  }

  private notify(name: string, schedule: Schedule | undefined): void {
    for (const listener of this.listeners) listener(name, schedule);
  }
}
