/**
 * The schedules core: validation (every error names its field), EventBridge cron forms, and next runs with
 * EventBridge Scheduler's DST semantics — a local time in the spring gap does not run that day, a local time that
 * occurs twice in autumn runs once (its first occurrence) — in America/New_York and America/Santiago, across both
 * changes of each. 2026: New York springs forward on 8 March (02:00 → 03:00) and falls back on 1 November
 * (02:00 → 01:00); Santiago falls back at midnight 4/5 April (00:00 → 23:00) and springs forward on 6 September
 * (00:00 → 01:00).
 */
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../lambdas/core/errors';
import {
  atInstant,
  checkTimezone,
  cronProblem,
  instantsOf,
  nextRuns,
  parseRunsQuery,
  parseSchedule,
  scheduledStartInput,
} from '../../lambdas/core/schedules';

const NOW = new Date('2026-03-01T00:00:00Z');
const runs = (cron: string, timezone: string, from: string, count = 4) =>
  nextRuns({ cron, timezone }, new Date(from), count).map((r) => `${r.local} ${r.utc}`);

describe('next runs across DST changes (Scheduler semantics)', () => {
  it('New York, spring: 02:30 does not exist on 8 March, so that day has no run', () => {
    expect(runs('cron(30 2 * * ? *)', 'America/New_York', '2026-03-06T12:00:00Z')).toEqual([
      '2026-03-07T02:30:00-05:00 2026-03-07T07:30:00.000Z',
      '2026-03-09T02:30:00-04:00 2026-03-09T06:30:00.000Z',
      '2026-03-10T02:30:00-04:00 2026-03-10T06:30:00.000Z',
      '2026-03-11T02:30:00-04:00 2026-03-11T06:30:00.000Z',
    ]);
  });

  it('New York, spring: an hourly cron skips the missing hour', () => {
    expect(runs('cron(30 * * * ? *)', 'America/New_York', '2026-03-08T05:00:00Z')).toEqual([
      '2026-03-08T00:30:00-05:00 2026-03-08T05:30:00.000Z',
      '2026-03-08T01:30:00-05:00 2026-03-08T06:30:00.000Z',
      '2026-03-08T03:30:00-04:00 2026-03-08T07:30:00.000Z',
      '2026-03-08T04:30:00-04:00 2026-03-08T08:30:00.000Z',
    ]);
  });

  it('New York, autumn: 01:30 occurs twice on 1 November and runs once, at the first', () => {
    expect(runs('cron(30 1 * * ? *)', 'America/New_York', '2026-10-30T12:00:00Z')).toEqual([
      '2026-10-31T01:30:00-04:00 2026-10-31T05:30:00.000Z',
      '2026-11-01T01:30:00-04:00 2026-11-01T05:30:00.000Z',
      '2026-11-02T01:30:00-05:00 2026-11-02T06:30:00.000Z',
      '2026-11-03T01:30:00-05:00 2026-11-03T06:30:00.000Z',
    ]);
  });

  it('New York, autumn: an hourly cron runs the repeated hour once', () => {
    expect(runs('cron(30 * * * ? *)', 'America/New_York', '2026-11-01T04:00:00Z')).toEqual([
      '2026-11-01T00:30:00-04:00 2026-11-01T04:30:00.000Z',
      '2026-11-01T01:30:00-04:00 2026-11-01T05:30:00.000Z',
      '2026-11-01T02:30:00-05:00 2026-11-01T07:30:00.000Z',
      '2026-11-01T03:30:00-05:00 2026-11-01T08:30:00.000Z',
    ]);
  });

  it('New York, autumn: asked from inside the second pass, the repeated time does not run again', () => {
    // 06:10Z is 01:10 EST, the second 01:10 of the night; 01:30 already ran at 05:30Z.
    expect(runs('cron(30 1 * * ? *)', 'America/New_York', '2026-11-01T06:10:00Z', 1)).toEqual([
      '2026-11-02T01:30:00-05:00 2026-11-02T06:30:00.000Z',
    ]);
  });

  it('Santiago, spring: 00:15 does not exist on 6 September', () => {
    expect(runs('cron(15 0 * * ? *)', 'America/Santiago', '2026-09-04T12:00:00Z', 3)).toEqual([
      '2026-09-05T00:15:00-04:00 2026-09-05T04:15:00.000Z',
      '2026-09-07T00:15:00-03:00 2026-09-07T03:15:00.000Z',
      '2026-09-08T00:15:00-03:00 2026-09-08T03:15:00.000Z',
    ]);
  });

  it('Santiago, autumn: 23:30 on 4 April occurs twice and runs once, at the first', () => {
    expect(runs('cron(30 23 * * ? *)', 'America/Santiago', '2026-04-03T12:00:00Z', 3)).toEqual([
      '2026-04-03T23:30:00-03:00 2026-04-04T02:30:00.000Z',
      '2026-04-04T23:30:00-03:00 2026-04-05T02:30:00.000Z',
      '2026-04-05T23:30:00-04:00 2026-04-06T03:30:00.000Z',
    ]);
  });

  it('one-time: a repeated local time is its first occurrence; a missing one has no instant', () => {
    expect(nextRuns({ at: '2026-11-01T01:30:00', timezone: 'America/New_York' }, NOW)).toEqual([
      { utc: '2026-11-01T05:30:00.000Z', local: '2026-11-01T01:30:00-04:00' },
    ]);
    expect(atInstant('2026-03-08T02:30:00', 'America/New_York')).toBeUndefined();
    expect(atInstant('2026-09-06T00:30:00', 'America/Santiago')).toBeUndefined();
    expect(nextRuns({ at: '2026-02-01T08:00:00', timezone: 'UTC' }, NOW)).toEqual([]);
  });

  it('instantsOf: none in a gap, two in a fold, one otherwise', () => {
    const wall = (s: string) => Date.parse(`${s}Z`);
    expect(instantsOf(wall('2026-03-08T02:30:00'), 'America/New_York')).toEqual([]);
    expect(
      instantsOf(wall('2026-11-01T01:30:00'), 'America/New_York').map((t) => new Date(t).toISOString()),
    ).toEqual(['2026-11-01T05:30:00.000Z', '2026-11-01T06:30:00.000Z']);
    expect(instantsOf(wall('2026-07-01T12:00:00'), 'America/Caracas')).toEqual([
      Date.parse('2026-07-01T16:00:00Z'),
    ]);
  });
});

describe('EventBridge cron forms', () => {
  const utc = (cron: string, count = 3) =>
    runs(cron, 'UTC', '2026-03-01T00:00:00Z', count).map((r) => r.slice(0, 16));

  it('weekdays by name and by number (1 = SUN … 7 = SAT)', () => {
    expect(utc('cron(0 9 ? * MON-FRI *)')).toEqual([
      '2026-03-02T09:00',
      '2026-03-03T09:00',
      '2026-03-04T09:00',
    ]);
    expect(utc('cron(0 9 ? * 2-6 *)')).toEqual(utc('cron(0 9 ? * MON-FRI *)'));
  });

  it('start/step, L, LW, nW, nL, n#m and the year', () => {
    expect(utc('cron(0/20 9 * * ? *)')).toEqual(['2026-03-01T09:00', '2026-03-01T09:20', '2026-03-01T09:40']);
    expect(utc('cron(0 9 L * ? *)')).toEqual(['2026-03-31T09:00', '2026-04-30T09:00', '2026-05-31T09:00']);
    expect(utc('cron(0 9 LW * ? *)')).toEqual(['2026-03-31T09:00', '2026-04-30T09:00', '2026-05-29T09:00']);
    expect(utc('cron(0 9 15W * ? *)')).toEqual(['2026-03-16T09:00', '2026-04-15T09:00', '2026-05-15T09:00']);
    expect(utc('cron(0 9 ? * 6L *)')).toEqual(['2026-03-27T09:00', '2026-04-24T09:00', '2026-05-29T09:00']);
    expect(utc('cron(0 9 ? * 2#1 *)')).toEqual(['2026-03-02T09:00', '2026-04-06T09:00', '2026-05-04T09:00']);
    expect(utc('cron(0 9 ? * L *)')).toEqual(['2026-03-07T09:00', '2026-03-14T09:00', '2026-03-21T09:00']);
    expect(utc('cron(0 9 1 JAN ? 2028)')).toEqual(['2028-01-01T09:00']);
  });

  it('malformed crons name the field', () => {
    expect(cronProblem('cron(61 9 * * ? *)')).toMatch(/^minutes "61"/);
    expect(cronProblem('cron(0 25 * * ? *)')).toMatch(/^hours "25"/);
    expect(cronProblem('cron(0 9 * * MON *)')).toMatch(/exactly one of day-of-month and day-of-week/);
    expect(cronProblem('cron(0 9 * * ?)')).toMatch(/has 5 fields/);
    expect(cronProblem('0 9 * * ? *')).toMatch(/must look like cron/);
    expect(cronProblem('cron(0 9 ? * 8 *)')).toMatch(/^day-of-week "8"/);
  });
});

describe('parseSchedule', () => {
  const valid = {
    name: 'weekday-reminders',
    conversation: 'newsletter',
    cron: 'cron(0 9 ? * MON-FRI *)',
    timezone: 'America/Caracas',
    flexibleWindowMinutes: 0,
    enabled: true,
    description: 'Weekdays at 9:00 Caracas time',
  };
  const refusal = (body: unknown, pathName?: string) => {
    try {
      parseSchedule(body, NOW, pathName);
    } catch (error) {
      expect(error).toBeInstanceOf(InvalidInputError);
      const e = error as InvalidInputError;
      return { target: e.target, status: e.code };
    }
    throw new Error('accepted');
  };

  it('accepts the issue example, and defaults timezone, window, enabled and description', () => {
    expect(parseSchedule(valid, NOW)).toEqual(valid);
    expect(parseSchedule({ name: 'x', conversation: 1001, at: '2026-12-24T08:00:00' }, NOW)).toEqual({
      name: 'x',
      conversation: 1001,
      at: '2026-12-24T08:00:00',
      timezone: 'UTC',
      flexibleWindowMinutes: 0,
      enabled: true,
      description: '',
    });
    expect(parseSchedule({ ...valid, conversation: '1002' }, NOW).conversation).toBe(1002);
  });

  it.each([
    [{ ...valid, timezone: 'Mars/Olympus' }, 'timezone'],
    [{ ...valid, timezone: '+01:00' }, 'timezone'],
    [{ ...valid, cron: 'cron(0 9 * * MON-FRI *)' }, 'cron'],
    [{ ...valid, cron: 'cron(0 9 ? * MON-FRI 2020)' }, 'cron'],
    [{ ...valid, at: '2026-12-24T08:00:00' }, 'at'],
    [{ ...valid, cron: undefined }, 'cron'],
    [{ ...valid, cron: undefined, at: '2026-02-24T08:00:00' }, 'at'],
    [{ ...valid, cron: undefined, at: '2026-12-24 08:00' }, 'at'],
    [{ ...valid, cron: undefined, at: '2026-12-24T08:00:00Z' }, 'at'],
    [{ ...valid, cron: undefined, at: '2026-02-30T08:00:00' }, 'at'],
    [{ ...valid, cron: undefined, at: '2026-03-08T02:30:00', timezone: 'America/New_York' }, 'at'],
    [{ ...valid, name: 'no spaces' }, 'name'],
    [{ ...valid, name: 'x'.repeat(65) }, 'name'],
    [{ ...valid, conversation: 'Newsletter' }, 'conversation'],
    [{ ...valid, conversation: 0 }, 'conversation'],
    [{ ...valid, conversation: undefined }, 'conversation'],
    [{ ...valid, flexibleWindowMinutes: 1441 }, 'flexibleWindowMinutes'],
    [{ ...valid, flexibleWindowMinutes: 1.5 }, 'flexibleWindowMinutes'],
    [{ ...valid, enabled: 'yes' }, 'enabled'],
    [{ ...valid, description: 'two\nlines' }, 'description'],
    [{ ...valid, colour: 'red' }, 'colour'],
    [[valid], 'body'],
  ])('refuses %j naming %s', (body, target) => {
    expect(refusal(body)).toEqual({ target, status: 'INVALID_INPUT' });
  });

  it('a PUT may repeat its name but not change it', () => {
    expect(parseSchedule({ ...valid, name: undefined }, NOW, 'weekday-reminders').name).toBe(
      'weekday-reminders',
    );
    expect(refusal(valid, 'other')).toEqual({ target: 'name', status: 'INVALID_INPUT' });
  });

  it('time zones keep their canonical spelling', () => {
    expect(checkTimezone('america/new_york')).toEqual({ timezone: 'America/New_York' });
    expect(checkTimezone('UTC')).toEqual({ timezone: 'UTC' });
  });

  it('?from and ?count', () => {
    expect(parseRunsQuery({ from: '2026-03-08T00:00:00Z', count: '50' }, NOW)).toEqual({
      from: new Date('2026-03-08T00:00:00Z'),
      count: 50,
    });
    for (const bad of [
      { count: '0' },
      { count: '51' },
      { count: '5x' },
      { from: 'yesterday' },
      { from: '2026-03-08' },
    ]) {
      expect(() => parseRunsQuery(bad, NOW)).toThrow(InvalidInputError);
    }
  });

  it('the input start-list gets: an id as conversationId, an alias passed through unresolved', () => {
    expect(scheduledStartInput('a', 1001)).toEqual({ scheduledStart: { name: 'a', conversationId: 1001 } });
    expect(scheduledStartInput('b', 'newsletter')).toEqual({
      scheduledStart: { name: 'b', conversation: 'newsletter' },
    });
  });
});
