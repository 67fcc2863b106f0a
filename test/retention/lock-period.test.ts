/**
 * The Object Lock period of a policy (src/retention/lock-period.ts): what each rule asks for, that
 * unlimited retention cannot be locked, and, simulated over months of regular schedules (one across the
 * DST changes of Europe/Berlin), that the lock never ends while retention still keeps the backup: every
 * backup retention lets go, it lets go no earlier than the retain-until date it was locked with. (A lock
 * that outlasts retention only delays the removal; prune then says "locked until".)
 */
import { describe, expect, it } from 'vitest';
import {
  applyRetention,
  type RetentionInput,
  type RetentionPolicy,
} from '../../src/retention/apply-retention.js';
import { lockPeriod, retainUntil, whyNotLockable } from '../../src/retention/lock-period.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

describe('lockPeriod', () => {
  it('takes the longest bound of the rules, each erring long', () => {
    expect(lockPeriod({ keepLast: 5 }, 6 * HOUR)).toEqual({
      ms: 36 * HOUR,
      reason: 'keepLast 5 (6 x the schedule interval)',
    });
    // a day at its longest (25 h), one bucket more than the count
    expect(lockPeriod({ keepDaily: 7 }, HOUR).ms).toBe(8 * 25 * HOUR);
    // buckets are never closer than the schedule: keepHourly on a daily schedule spans days
    expect(lockPeriod({ keepHourly: 3 }, DAY).ms).toBe(4 * DAY);
    const both = lockPeriod({ keepLast: 2, keepWeekly: 4, keepWithin: '3d' }, DAY);
    expect(both.reason).toMatch(/^keepWeekly 4/);
    expect(both.ms).toBe(5 * 7 * 25 * HOUR);
    expect(lockPeriod({ keepWithin: '10d' }, DAY).ms).toBe(10 * 25 * HOUR + DAY);
    expect(lockPeriod({ keepLast: 1 }, HOUR, '90d')).toEqual({ ms: 90 * 25 * HOUR, reason: 'minRetain 90d' });
  });

  it('refuses retention that never ends', () => {
    expect(whyNotLockable({ keepDaily: -1 })).toMatch(/keepDaily -1 keeps backups forever/);
    expect(whyNotLockable({})).toMatch(/without retention rules/);
    expect(whyNotLockable({ keepWithin: '0d' })).toMatch(/without retention rules/);
    expect(whyNotLockable({ keepLast: 3 })).toBeNull();
    expect(() => lockPeriod({ keepLast: -1 }, HOUR)).toThrow(/Object Lock/);
  });

  it('rounds retain-until up to a whole second', () => {
    const at = new Date('2026-12-02T10:00:00.250Z');
    expect(retainUntil(at, { ms: 1000, reason: '' }).toISOString()).toBe('2026-12-02T10:00:02.000Z');
  });
});

/** Runs a schedule for `days`, applying retention after each backup, and returns when each backup went. */
function simulate(
  rules: RetentionPolicy,
  everyMs: number,
  days: number,
  timezone: string,
): { id: string; createdAt: Date; removedAt: Date | null }[] {
  const start = Date.parse('2026-01-01T02:00:00Z');
  const live: RetentionInput[] = [];
  const all: { id: string; createdAt: Date; removedAt: Date | null }[] = [];
  for (let t = start; t < start + days * DAY; t += everyMs) {
    const createdAt = new Date(t);
    const id = `b${all.length}`;
    live.push({ id, createdAt, status: 'ok' });
    all.push({ id, createdAt, removedAt: null });
    const r = applyRetention(live, rules, { now: createdAt, timezone });
    for (const x of r.remove) {
      all.find((b) => b.id === x.id)!.removedAt = createdAt;
      live.splice(
        live.findIndex((b) => b.id === x.id),
        1,
      );
    }
  }
  return all;
}

describe('the lock never ends while retention keeps a backup (regular schedules)', () => {
  const cases: [string, RetentionPolicy, number, string][] = [
    [
      'hourly backups, keepLast 24 + keepDaily 7 + keepWeekly 4',
      { keepLast: 24, keepDaily: 7, keepWeekly: 4 },
      HOUR,
      'UTC',
    ],
    [
      '6-hourly backups, keepDaily 14 + keepMonthly 3 across DST',
      { keepDaily: 14, keepMonthly: 3 },
      6 * HOUR,
      'Europe/Berlin',
    ],
    ['daily backups, keepWithin 10d + keepHourly 48', { keepWithin: '10d', keepHourly: 48 }, DAY, 'UTC'],
    // one rule at a time, so that no longer rule hides a bound that is too short
    ['daily backups, keepDaily 7', { keepDaily: 7 }, DAY, 'UTC'],
    ['hourly backups, keepHourly 12', { keepHourly: 12 }, HOUR, 'UTC'],
    ['6-hourly backups, keepLast 8', { keepLast: 8 }, 6 * HOUR, 'UTC'],
    ['12-hourly backups, keepWeekly 2', { keepWeekly: 2 }, 12 * HOUR, 'Europe/Berlin'],
    ['daily backups, keepMonthly 2', { keepMonthly: 2 }, DAY, 'UTC'],
    ['daily backups, keepWithin 5d', { keepWithin: '5d' }, DAY, 'UTC'],
  ];
  for (const [name, rules, every, tz] of cases) {
    it(name, () => {
      const period = lockPeriod(rules, every);
      const runs = simulate(rules, every, 200, tz);
      const removed = runs.filter((b) => b.removedAt);
      expect(removed.length).toBeGreaterThan(10);
      for (const b of removed) {
        const until = retainUntil(b.createdAt, period);
        // the lock holds at least until retention lets the backup go
        expect(until.getTime(), `${b.id} created ${b.createdAt.toISOString()}`).toBeGreaterThanOrEqual(
          b.removedAt!.getTime(),
        );
      }
    });
  }
});
