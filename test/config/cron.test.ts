import { afterEach, describe, expect, it, vi } from 'vitest';
import { createTask } from 'node-cron';
import { checkCron, cronIntervalSeconds, isValidTimezone } from '../../src/config/cron.js';

describe('checkCron', () => {
  it('accepts 5 and 6 fields and nicknames', () => {
    for (const ok of ['* * * * *', '*/15 * * * * *', '0 2 * * mon-fri', '@daily', '0 0 L * *']) {
      expect(checkCron(ok)).toEqual({ ok: true, message: '' });
    }
  });
  it('names the field at fault', () => {
    expect(checkCron('* * *').message).toBe(
      'invalid cron expression "* * *": expected 5 or 6 fields but got 3',
    );
    expect(checkCron('61 * * * *').message).toBe(
      'invalid cron expression "61 * * * *": minute: 61 is a invalid expression for minute',
    );
    expect(checkCron('0 0 31 4 *').ok).toBe(false);
  });
});

describe('isValidTimezone', () => {
  it('follows Intl', () => {
    expect(isValidTimezone('Europe/Berlin')).toBe(true);
    expect(isValidTimezone('UTC')).toBe(true);
    expect(isValidTimezone('Europe/Berlinn')).toBe(false);
    expect(isValidTimezone('')).toBe(false);
  });
});

describe('cronIntervalSeconds', () => {
  it.each([
    ['* * * * *', 60],
    ['*/15 * * * * *', 15],
    ['0 * * * *', 3600],
    ['*/30 * * * *', 1800],
    ['30 1,13 * * *', 12 * 3600],
    ['0 1,2,23 * * *', 21 * 3600], // 02:00 -> 23:00 is the longest gap
    ['0 2 * * *', 86400],
    ['0 3 * * mon-fri', 3 * 86400],
    ['0 9-17 * * mon-fri', 64 * 3600], // Friday 17:00 -> Monday 09:00
    ['0 0 * * 0', 7 * 86400],
    ['0 0 1 * *', 31 * 86400],
    ['0 0 L * *', 31 * 86400],
    ['0 0 * * 1#1', 35 * 86400],
    ['0 0 1 1 *', 366 * 86400],
    ['0 0 29 2 *', 1461 * 86400],
  ])('%s -> %i s', (expr, seconds) => {
    expect(cronIntervalSeconds(expr, 'UTC')).toBe(seconds);
  });

  it('measures wall-clock time, so a daily job stays 86400 s in a DST zone', () => {
    expect(cronIntervalSeconds('0 2 * * *', 'Europe/Berlin')).toBe(86400);
    expect(cronIntervalSeconds('30 2 * * *', 'America/New_York')).toBe(86400);
  });

  it('refuses bad expressions and zones', () => {
    expect(() => cronIntervalSeconds('* * *', 'UTC')).toThrow(/expected 5 or 6 fields/);
    expect(() => cronIntervalSeconds('* * * * *', 'Nowhere/Land')).toThrow(/unknown time zone/);
  });
});

describe('cronIntervalSeconds agrees with node-cron, the scheduler', () => {
  afterEach(() => vi.useRealTimers());

  // node-cron's getNextRuns() reads the clock; a fake clock makes it a reference implementation.
  it.each([
    ['0 0 1,15 * mon', 400],
    ['0 12 L-2 * *', 30],
    ['0 12 15W * *', 30],
    ['0 12 LW * *', 30],
    ['0 12 * * 5L', 30],
    ['0 12 * * 2#3', 30],
    ['0 */7 * * *', 200],
    ['*/20 * 9-10 * * 1-5', 2000],
  ])('%s', (expr, count) => {
    vi.useFakeTimers({ now: new Date('2024-01-01T00:00:00Z'), toFake: ['Date'] });
    const task = createTask(expr, () => undefined, { timezone: 'UTC' });
    try {
      const runs = task.getNextRuns(count).map((d) => d.getTime() / 1000);
      let longest = 0;
      for (let i = 1; i < runs.length; i++)
        longest = Math.max(longest, (runs[i] as number) - (runs[i - 1] as number));
      expect(cronIntervalSeconds(expr, 'UTC')).toBe(longest);
    } finally {
      void task.destroy();
    }
  });
});
