import { describe, expect, it } from 'vitest';
import { instantOf, isoWeek, localTime, subtractDuration } from '../../src/retention/calendar.js';
import { parseDuration } from '../../src/retention/duration.js';

describe('parseDuration', () => {
  it('reads restic-style durations', () => {
    expect(parseDuration('7d')).toEqual({ years: 0, months: 0, weeks: 0, days: 7, hours: 0 });
    expect(parseDuration('1y6m2w3d12h')).toEqual({ years: 1, months: 6, weeks: 2, days: 3, hours: 12 });
    expect(parseDuration(' 36h ')).toEqual({ years: 0, months: 0, weeks: 0, days: 0, hours: 36 });
  });
  it('refuses anything else', () => {
    for (const bad of ['', '7', 'd', '7 d', '7days', '1d1d', '-1d', '1.5d', '30s', '7D'])
      expect(parseDuration(bad)).toBeNull();
  });
});

describe('calendar', () => {
  it('reads the wall clock and offset in a zone', () => {
    expect(localTime(new Date('2026-03-29T01:30:00Z'), 'Europe/Berlin')).toEqual({
      year: 2026,
      month: 3,
      day: 29,
      hour: 3,
      minute: 30,
      second: 0,
      offsetMinutes: 120,
    });
    expect(localTime(new Date('2026-01-01T04:59:59Z'), 'America/New_York')).toMatchObject({
      year: 2025,
      day: 31,
      hour: 23,
      offsetMinutes: -300,
    });
  });

  it('resolves DST gaps forward and overlaps to the earlier instant', () => {
    const wall = { year: 2026, month: 3, day: 29, hour: 2, minute: 30, second: 0 };
    expect(instantOf(wall, 'Europe/Berlin').toISOString()).toBe('2026-03-29T01:30:00.000Z'); // shows 03:30 CEST
    expect(instantOf({ ...wall, month: 10, day: 25 }, 'Europe/Berlin').toISOString()).toBe(
      '2026-10-25T00:30:00.000Z',
    );
    expect(instantOf({ ...wall, month: 7, day: 1 }, 'America/New_York').toISOString()).toBe(
      '2026-07-01T06:30:00.000Z',
    );
  });

  it('numbers ISO weeks', () => {
    expect(isoWeek(2026, 1, 1)).toEqual({ year: 2026, week: 1 });
    expect(isoWeek(2025, 12, 29)).toEqual({ year: 2026, week: 1 });
    expect(isoWeek(2027, 1, 1)).toEqual({ year: 2026, week: 53 });
    expect(isoWeek(2026, 11, 20)).toEqual({ year: 2026, week: 47 });
  });

  it('subtracts calendar units on the wall clock and hours as elapsed time', () => {
    const d = (s: string) => parseDuration(s)!;
    const at = new Date('2026-03-30T10:00:00Z'); // 12:00 CEST
    expect(subtractDuration(at, d('1d'), 'Europe/Berlin').toISOString()).toBe('2026-03-29T10:00:00.000Z');
    expect(subtractDuration(at, d('2d'), 'Europe/Berlin').toISOString()).toBe('2026-03-28T11:00:00.000Z'); // 12:00 CET
    expect(subtractDuration(at, d('48h'), 'Europe/Berlin').toISOString()).toBe('2026-03-28T10:00:00.000Z');
    expect(subtractDuration(new Date('2026-03-31T12:00:00Z'), d('1m'), 'UTC').toISOString()).toBe(
      '2026-02-28T12:00:00.000Z',
    );
    expect(subtractDuration(new Date('2028-02-29T12:00:00Z'), d('1y'), 'UTC').toISOString()).toBe(
      '2027-02-28T12:00:00.000Z',
    );
    expect(subtractDuration(new Date('2026-01-15T00:00:00Z'), d('1y13m1w'), 'UTC').toISOString()).toBe(
      '2023-12-08T00:00:00.000Z',
    );
  });
});
