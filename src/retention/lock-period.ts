/**
 * How long an S3 Object Lock must hold a new backup so that the lock never ends before retention would
 * let the backup go. Pure: rules and the schedule's interval in, a period (and why) out.
 *
 * Each rule bounds how long it keeps a backup on a regular schedule; the lock takes the longest bound:
 *  - keepLast n: n newer backups must arrive, so (n + 1) schedule intervals;
 *  - keepHourly/Daily/Weekly/Monthly/Yearly n: the backup stays while fewer than n newer buckets hold a
 *    backup; buckets are at least one schedule interval apart, so (n + 1) x max(bucket, interval), with
 *    a bucket taken at its longest (a 25-hour day, a 31-day month, a 366-day year);
 *  - keepWithin d: counted from the newest backup, which lags now by up to one interval: d + interval,
 *    d's calendar units taken at their longest too.
 * Every bound errs long: a lock that outlives retention only delays a removal (prune says so), a lock
 * that ends early leaves a backup unprotected while retention still counts on it.
 *
 * An unlimited rule (-1) or a policy without rules keeps backups forever; no lock can cover that, so
 * such a policy cannot ask for Object Lock (the config refuses it, checkLockable). Backups retention
 * keeps for other reasons (the newest verified one, everything while the newest backup fails) may stay
 * past their lock: the lock is the floor of their protection, not its end.
 */
import { DrError } from '../core/errors.js';
import type { RetentionPolicy } from './apply-retention.js';
import { parseDuration, type CalendarDuration } from './duration.js';

const HOUR = 3_600_000;
/** Calendar units at their longest (a day across a DST change lasts 25 hours). */
const LONGEST = {
  hour: HOUR,
  day: 25 * HOUR,
  week: 7 * 25 * HOUR,
  month: 31 * 25 * HOUR,
  year: 366 * 25 * HOUR,
};

const CALENDAR = [
  ['keepHourly', LONGEST.hour],
  ['keepDaily', LONGEST.day],
  ['keepWeekly', LONGEST.week],
  ['keepMonthly', LONGEST.month],
  ['keepYearly', LONGEST.year],
] as const;

export interface LockPeriod {
  ms: number;
  /** which rule set the period, e.g. "keepDaily 7 (8 x 25h)" */
  reason: string;
}

/** The longest span a duration can cover on the calendar. */
export function longestSpanMs(d: CalendarDuration): number {
  return (
    d.years * LONGEST.year +
    d.months * LONGEST.month +
    d.weeks * LONGEST.week +
    d.days * LONGEST.day +
    d.hours * LONGEST.hour
  );
}

/** Why a policy cannot be locked (unlimited or no retention), or null when it can. */
export function whyNotLockable(rules: RetentionPolicy): string | null {
  const counts = (['keepLast', ...CALENDAR.map(([f]) => f)] as const).map((f) => [f, rules[f] ?? 0] as const);
  const unlimited = counts.find(([, n]) => n === -1);
  if (unlimited)
    return `${unlimited[0]} -1 keeps backups forever, which no Object Lock period can cover; give a finite count`;
  const within = rules.keepWithin === undefined ? null : parseDuration(rules.keepWithin);
  if (counts.every(([, n]) => n === 0) && (within === null || longestSpanMs(within) === 0))
    return 'a policy without retention rules keeps backups forever, which no Object Lock period can cover; give retention rules';
  return null;
}

/**
 * The lock period of a policy's backups. intervalMs is the schedule's expected interval (the longest
 * gap between two firings); minRetain, when given, is a floor.
 */
export function lockPeriod(rules: RetentionPolicy, intervalMs: number, minRetain?: string): LockPeriod {
  const not = whyNotLockable(rules);
  if (not) throw new DrError('CONFIG_INVALID', `object lock: ${not}`);
  const candidates: LockPeriod[] = [];
  const last = rules.keepLast ?? 0;
  if (last > 0)
    candidates.push({
      ms: (last + 1) * intervalMs,
      reason: `keepLast ${last} (${last + 1} x the schedule interval)`,
    });
  for (const [field, bucket] of CALENDAR) {
    const n = rules[field] ?? 0;
    if (n <= 0) continue;
    const step = Math.max(bucket, intervalMs);
    candidates.push({ ms: (n + 1) * step, reason: `${field} ${n} (${n + 1} x ${hours(step)})` });
  }
  if (rules.keepWithin !== undefined) {
    const d = parseDuration(rules.keepWithin);
    if (d && longestSpanMs(d) > 0)
      candidates.push({
        ms: longestSpanMs(d) + intervalMs,
        reason: `keepWithin ${rules.keepWithin} (at its longest, plus one schedule interval)`,
      });
  }
  if (minRetain !== undefined) {
    const d = parseDuration(minRetain);
    if (d === null)
      throw new DrError(
        'CONFIG_INVALID',
        `object lock: minRetain "${minRetain}" is not a duration such as 30d`,
      );
    candidates.push({ ms: longestSpanMs(d), reason: `minRetain ${minRetain}` });
  }
  return candidates.reduce((a, b) => (b.ms > a.ms ? b : a));
}

/** The retain-until date of an object written at `at`: whole seconds, rounded up. */
export function retainUntil(at: Date, period: LockPeriod): Date {
  return new Date(Math.ceil((at.getTime() + period.ms) / 1000) * 1000);
}

function hours(ms: number): string {
  return ms % HOUR === 0 ? `${ms / HOUR}h` : `${Math.ceil(ms / 1000)}s`;
}
