import { describe, expect, it } from 'vitest';
import {
  applyRetention,
  type RetentionInput,
  type RetentionResult,
} from '../../src/retention/apply-retention.js';
import { isDrError } from '../../src/core/errors.js';

const ok = (id: string, createdAt: string, extra: Partial<RetentionInput> = {}): RetentionInput => ({
  id,
  createdAt,
  status: 'ok',
  ...extra,
});

const kept = (r: RetentionResult): string[] => r.keep.map((k) => k.id);
const removed = (r: RetentionResult): string[] => r.remove.map((k) => k.id);
const reasonsOf = (r: RetentionResult, id: string): string[] =>
  r.keep.find((k) => k.id === id)?.reasons ?? [];

const UTC = { now: new Date('2026-11-20T12:00:00Z'), timezone: 'UTC' };

describe('applyRetention: restic rules', () => {
  it('an empty policy keeps everything and says so', () => {
    const r = applyRetention([ok('a', '2026-11-01T00:00:00Z'), ok('b', '2020-01-01T00:00:00Z')], {}, UTC);
    expect(removed(r)).toEqual([]);
    expect(reasonsOf(r, 'b')).toEqual(['no retention rule: everything is kept']);
    const zeros = applyRetention(
      [ok('a', '2026-11-01T00:00:00Z')],
      { keepLast: 0, keepDaily: 0, keepWithin: '0d' },
      UTC,
    );
    expect(removed(zeros)).toEqual([]);
  });

  it('keepLast keeps the n newest, whatever the input order, and removes the rest with a reason', () => {
    const input = [
      ok('c', '2026-11-18T00:00:00Z'),
      ok('e', '2026-11-20T00:00:00Z'),
      ok('a', '2026-11-16T00:00:00Z'),
      ok('d', '2026-11-19T00:00:00Z'),
      ok('b', '2026-11-17T00:00:00Z'),
    ];
    const r = applyRetention(input, { keepLast: 3 }, UTC);
    expect(kept(r)).toEqual(['e', 'd', 'c']);
    expect(reasonsOf(r, 'c')).toEqual(['last 3']);
    expect(r.remove).toEqual([
      { id: 'b', reason: 'kept by no rule (keepLast 3)' },
      { id: 'a', reason: 'kept by no rule (keepLast 3)' },
    ]);
    expect(applyRetention([...input].reverse(), { keepLast: 3 }, UTC)).toEqual(r);
  });

  it('keepDaily takes the newest backup of each day and skips days without backups', () => {
    const r = applyRetention(
      [
        ok('d20-late', '2026-11-20T10:00:00Z'),
        ok('d20-early', '2026-11-20T01:00:00Z'),
        ok('d18', '2026-11-18T23:59:59Z'),
        ok('d15', '2026-11-15T12:00:00Z'),
        ok('d10', '2026-11-10T12:00:00Z'),
      ],
      { keepDaily: 3 },
      UTC,
    );
    expect(kept(r)).toEqual(['d20-late', 'd18', 'd15']);
    expect(reasonsOf(r, 'd15')).toEqual(['daily 2026-11-15']);
    expect(removed(r)).toEqual(['d20-early', 'd10']);
  });

  it('combines rules by OR and lists every reason', () => {
    const input = [
      ok('n1', '2026-11-20T11:00:00Z'),
      ok('n2', '2026-11-20T10:00:00Z'),
      ok('n3', '2026-11-19T12:00:00Z'),
      ok('n4', '2026-11-12T10:00:00Z'),
      ok('n5', '2026-10-30T10:00:00Z'),
      ok('n6', '2025-06-01T10:00:00Z'),
    ];
    const r = applyRetention(
      input,
      { keepLast: 2, keepDaily: 2, keepWeekly: 2, keepMonthly: 2, keepYearly: 2, keepWithin: '1d' },
      UTC,
    );
    expect(reasonsOf(r, 'n1')).toEqual([
      'last 2',
      'daily 2026-11-20',
      'weekly 2026-W47',
      'monthly 2026-11',
      'yearly 2026',
      'within 1d of newest',
    ]);
    expect(reasonsOf(r, 'n2')).toEqual(['last 2', 'within 1d of newest']);
    expect(reasonsOf(r, 'n3')).toEqual(['daily 2026-11-19', 'within 1d of newest']);
    expect(reasonsOf(r, 'n4')).toEqual(['weekly 2026-W46']);
    expect(reasonsOf(r, 'n5')).toEqual(['monthly 2026-10']);
    expect(reasonsOf(r, 'n6')).toEqual(['yearly 2025']);
    expect(removed(r)).toEqual([]);
  });

  it('-1 means unlimited buckets', () => {
    const input = ['01', '02', '03', '04', '05', '06'].map((m) => ok(`m${m}`, `2026-${m}-15T00:00:00Z`));
    const r = applyRetention(input, { keepMonthly: -1 }, UTC);
    expect(removed(r)).toEqual([]);
    expect(reasonsOf(r, 'm01')).toEqual(['monthly 2026-01']);
    expect(applyRetention(input, { keepLast: -1 }, UTC).remove).toEqual([]);
  });

  it('uses ISO weeks: 29 Dec 2025 and 1 Jan 2026 share week 2026-W01, 28 Dec 2025 is 2025-W52', () => {
    const r = applyRetention(
      [
        ok('thu', '2026-01-01T12:00:00Z'),
        ok('mon', '2025-12-29T12:00:00Z'),
        ok('sun', '2025-12-28T12:00:00Z'),
      ],
      { keepWeekly: 5 },
      UTC,
    );
    expect(reasonsOf(r, 'thu')).toEqual(['weekly 2026-W01']);
    expect(reasonsOf(r, 'sun')).toEqual(['weekly 2025-W52']);
    expect(removed(r)).toEqual(['mon']);
    const w53 = applyRetention(
      [ok('fri', '2027-01-01T12:00:00Z')],
      { keepWeekly: 1 },
      { ...UTC, now: new Date('2027-02-01T00:00:00Z') },
    );
    expect(reasonsOf(w53, 'fri')).toEqual(['weekly 2026-W53']);
  });

  it('keepWithin counts back from the newest backup, not from now', () => {
    // Backups stopped two weeks ago: a window relative to now would remove them all.
    const r = applyRetention(
      [ok('a', '2026-11-06T12:00:00Z'), ok('b', '2026-11-04T12:00:01Z'), ok('c', '2026-11-04T12:00:00Z')],
      { keepWithin: '2d' },
      UTC,
    );
    expect(kept(r)).toEqual(['a', 'b']);
    expect(reasonsOf(r, 'b')).toEqual(['within 2d of newest']);
    expect(removed(r)).toEqual(['c']);
  });
});

describe('applyRetention: time zones and DST', () => {
  it('Europe/Berlin spring forward: the 23-hour day of 29 March 2026 is one daily bucket', () => {
    const opts = { now: new Date('2026-04-01T00:00:00Z'), timezone: 'Europe/Berlin' };
    const r = applyRetention(
      [
        ok('30th-0030', '2026-03-29T22:30:00Z'), // 00:30 CEST on the 30th
        ok('29th-2330', '2026-03-29T21:30:00Z'), // 23:30 CEST on the 29th
        ok('29th-0030', '2026-03-28T23:30:00Z'), // 00:30 CET on the 29th (still the 28th in UTC)
      ],
      { keepDaily: 2 },
      opts,
    );
    expect(kept(r)).toEqual(['30th-0030', '29th-2330']);
    expect(reasonsOf(r, '29th-2330')).toEqual(['daily 2026-03-29']);
    expect(removed(r)).toEqual(['29th-0030']);
    // Evaluated in UTC the same three backups fall on three different days.
    const utc = applyRetention(
      [ok('x', '2026-03-29T22:30:00Z'), ok('y', '2026-03-29T21:30:00Z'), ok('z', '2026-03-28T23:30:00Z')],
      { keepDaily: 2 },
      { ...opts, timezone: 'UTC' },
    );
    expect(removed(utc)).toEqual(['y']);
  });

  it('Europe/Berlin spring forward: hourly buckets jump from 01:00 to 03:00', () => {
    const r = applyRetention(
      [ok('h3', '2026-03-29T01:10:00Z'), ok('h1', '2026-03-29T00:50:00Z'), ok('h1b', '2026-03-29T00:10:00Z')],
      { keepHourly: 5 },
      { now: new Date('2026-04-01T00:00:00Z'), timezone: 'Europe/Berlin' },
    );
    expect(reasonsOf(r, 'h3')).toEqual(['hourly 2026-03-29 03:00 +02:00']);
    expect(reasonsOf(r, 'h1')).toEqual(['hourly 2026-03-29 01:00 +01:00']);
    expect(removed(r)).toEqual(['h1b']);
  });

  it('Europe/Berlin fall back: the repeated 02:00 hour is two hourly buckets, the 25-hour day one daily bucket', () => {
    const opts = { now: new Date('2026-11-01T00:00:00Z'), timezone: 'Europe/Berlin' };
    const input = [
      ok('2330-cet', '2026-10-25T22:30:00Z'), // 23:30 CET on the 25th
      ok('0215-cet', '2026-10-25T01:15:00Z'), // 02:15 CET (second pass)
      ok('0215-cest', '2026-10-25T00:15:00Z'), // 02:15 CEST (first pass)
      ok('0030-cest', '2026-10-24T22:30:00Z'), // 00:30 CEST on the 25th
    ];
    const hourly = applyRetention(input, { keepHourly: 3 }, opts);
    expect(reasonsOf(hourly, '0215-cet')).toEqual(['hourly 2026-10-25 02:00 +01:00']);
    expect(reasonsOf(hourly, '0215-cest')).toEqual(['hourly 2026-10-25 02:00 +02:00']);
    expect(removed(hourly)).toEqual(['0030-cest']);
    const daily = applyRetention(input, { keepDaily: 2 }, opts);
    expect(kept(daily)).toEqual(['2330-cet']);
    expect(reasonsOf(daily, '2330-cet')).toEqual(['daily 2026-10-25']);
  });

  it('America/New_York spring forward: keepWithin 1d is a calendar day (23 hours elapsed)', () => {
    const opts = { now: new Date('2026-03-10T00:00:00Z'), timezone: 'America/New_York' };
    const r = applyRetention(
      [
        ok('newest', '2026-03-09T04:30:00Z'), // 00:30 EDT on the 9th
        ok('in', '2026-03-08T05:31:00Z'), // 00:31 EST on the 8th
        ok('out', '2026-03-08T05:00:00Z'), // 00:00 EST on the 8th: 23.5 h earlier, but before the calendar cutoff
      ],
      { keepWithin: '1d' },
      opts,
    );
    expect(kept(r)).toEqual(['newest', 'in']);
    expect(removed(r)).toEqual(['out']);
    // The same backups measured with a fixed 24 hours would keep 'out' too.
    expect(
      removed(
        applyRetention(
          [ok('newest', '2026-03-09T04:30:00Z'), ok('out', '2026-03-08T05:00:00Z')],
          { keepWithin: '24h' },
          opts,
        ),
      ),
    ).toEqual([]);
  });

  it('America/New_York fall back: daily buckets follow the local date, not UTC', () => {
    const opts = { now: new Date('2026-11-05T00:00:00Z'), timezone: 'America/New_York' };
    const r = applyRetention(
      [
        ok('nov2-0030', '2026-11-02T05:30:00Z'), // 00:30 EST on 2 Nov
        ok('nov1-2330', '2026-11-02T04:30:00Z'), // 23:30 EST on 1 Nov (2 Nov in UTC)
        ok('nov1-0130-edt', '2026-11-01T05:30:00Z'), // 01:30 EDT
        ok('oct31-2330', '2026-11-01T03:30:00Z'), // 23:30 EDT on 31 Oct
      ],
      { keepDaily: 3 },
      opts,
    );
    expect(kept(r)).toEqual(['nov2-0030', 'nov1-2330', 'oct31-2330']);
    expect(reasonsOf(r, 'oct31-2330')).toEqual(['daily 2026-10-31']);
    expect(removed(r)).toEqual(['nov1-0130-edt']);
  });
});

describe('applyRetention: safety rules', () => {
  it('never removes the newest verified backup', () => {
    const r = applyRetention(
      [
        ok('new', '2026-11-20T10:00:00Z'),
        ok('ver', '2026-11-20T09:00:00Z', { status: 'verified' }),
        ok('old-ver', '2026-11-20T08:00:00Z', { status: 'verified' }),
      ],
      { keepLast: 1 },
      UTC,
    );
    expect(kept(r)).toEqual(['new', 'ver']);
    expect(reasonsOf(r, 'ver')).toEqual(['newest verified']);
    expect(removed(r)).toEqual(['old-ver']);
  });

  it('removes nothing while the newest backup is failing', () => {
    const r = applyRetention(
      [
        ok('failed', '2026-11-20T10:00:00Z', { status: 'failed' }),
        ok('good', '2026-11-20T09:00:00Z'),
        ok('older', '2026-11-19T09:00:00Z'),
      ],
      { keepLast: 1 },
      UTC,
    );
    expect(r.suspended).toMatch(
      /^newest backup failed \(2026-11-20T10:00:00.000Z\) failed: nothing is removed/,
    );
    expect(r.remove).toEqual([]);
    expect(reasonsOf(r, 'good')).toEqual(['last 1']);
    expect(reasonsOf(r, 'older')).toEqual(['removal suspended: the newest backup failed']);
  });

  it('failed backups below a good newest fill no slot and are removed', () => {
    const r = applyRetention(
      [
        ok('a', '2026-11-20T10:00:00Z'),
        ok('f', '2026-11-20T09:00:00Z', { status: 'failed' }),
        ok('b', '2026-11-20T08:00:00Z'),
        ok('c', '2026-11-20T07:00:00Z'),
      ],
      { keepLast: 2 },
      UTC,
    );
    expect(r.suspended).toBeNull();
    expect(kept(r)).toEqual(['a', 'b']);
    expect(r.remove).toEqual([
      { id: 'f', reason: 'failed backup (not restorable), kept by no rule' },
      { id: 'c', reason: 'kept by no rule (keepLast 2)' },
    ]);
  });

  it('keeps backups under S3 Object Lock until their retain-until date', () => {
    const r = applyRetention(
      [
        ok('a', '2026-11-20T10:00:00Z'),
        ok('locked', '2026-11-01T00:00:00Z', { retainUntil: '2026-12-01T00:00:00Z' }),
        ok('expired', '2026-10-01T00:00:00Z', { retainUntil: new Date('2026-11-01T00:00:00Z') }),
      ],
      { keepLast: 1 },
      UTC,
    );
    expect(reasonsOf(r, 'locked')).toEqual(['locked until 2026-12-01T00:00:00.000Z (S3 Object Lock)']);
    expect(removed(r)).toEqual(['expired']);
  });

  it('keeps future-dated backups and does not let them move the keepWithin window', () => {
    const r = applyRetention(
      [
        ok('skewed', '2030-01-01T00:00:00Z'),
        ok('real', '2026-11-20T11:00:00Z'),
        ok('real-1d', '2026-11-19T12:00:00Z'),
        ok('old', '2026-11-10T00:00:00Z'),
      ],
      { keepWithin: '2d', keepLast: 1 },
      UTC,
    );
    expect(reasonsOf(r, 'skewed')).toEqual(['future-dated: created 2030-01-01T00:00:00.000Z, after now']);
    expect(reasonsOf(r, 'real')).toEqual(['last 1', 'within 2d of newest']);
    expect(reasonsOf(r, 'real-1d')).toEqual(['within 2d of newest']);
    expect(removed(r)).toEqual(['old']);
  });

  it('refuses malformed policies and inputs', () => {
    const bad = (fn: () => unknown, code: string): void => {
      try {
        fn();
        expect.unreachable();
      } catch (err) {
        expect(isDrError(err) && err.code).toBe(code);
      }
    };
    bad(() => applyRetention([], { keepLast: 1.5 }, UTC), 'CONFIG_INVALID');
    bad(() => applyRetention([], { keepDaily: -2 }, UTC), 'CONFIG_INVALID');
    bad(() => applyRetention([], { keepWithin: '7 days' }, UTC), 'CONFIG_INVALID');
    bad(
      () => applyRetention([ok('a', '2026-01-01T00:00:00Z'), ok('a', '2026-01-02T00:00:00Z')], {}, UTC),
      'INTERNAL',
    );
    expect(() => applyRetention([], {}, { ...UTC, timezone: 'Mars/Olympus' })).toThrow(RangeError);
  });
});
