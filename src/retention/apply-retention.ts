/**
 * Retention: which backups of one policy (on one storage target) stay and which go, with a human
 * reason for every decision. Pure: no I/O, and "now" comes from the caller.
 *
 * Semantics follow restic's `forget`:
 *  - keepLast n: the n newest backups.
 *  - keepHourly/Daily/Weekly/Monthly/Yearly n: walking from newest to oldest, the newest backup of each
 *    calendar bucket, for the n newest buckets that hold a backup (gaps do not use up the count).
 *  - keepWithin d: every backup created within d of the NEWEST backup (not of now, so a stalled
 *    schedule does not make retention eat the last good backups).
 *  - a count of -1 means unlimited; the rules combine by OR.
 * Buckets are taken on the wall clock of the policy's time zone; weeks are ISO weeks (Monday first,
 * numbered by the week-year); an hour bucket carries its UTC offset, so the hour repeated when clocks go
 * back counts as two hours and a 23- or 25-hour day is still one day.
 *
 * Safety rules on top of restic's:
 *  - a policy with no rule (everything zero or unset) keeps everything;
 *  - the newest verified backup is never removed;
 *  - while the newest backup is failing, nothing is removed;
 *  - a backup whose S3 Object Lock retain-until date is after now is kept (deleting it would fail);
 *  - a backup dated after now (clock skew) is kept and ignored by every rule, so that it cannot shift
 *    keepWithin's window past every real backup;
 *  - failed backups (the attempt or its verification failed) fill no slot of any rule.
 */
import { DrError } from '../core/errors.js';
import { formatOffset, isoWeek, localTime, pad, subtractDuration } from './calendar.js';
import { parseDuration, isZeroDuration } from './duration.js';

export type BackupStatus = 'ok' | 'verified' | 'failed';

export interface RetentionInput {
  id: string;
  createdAt: Date | string;
  /** ok: complete, not verified since; verified: re-read and checked; failed: attempt or verification failed */
  status: BackupStatus;
  /** S3 Object Lock retain-until date, when the storage reports one */
  retainUntil?: Date | string | null;
}

export interface RetentionPolicy {
  keepLast?: number;
  keepHourly?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  keepYearly?: number;
  /** a duration such as "7d", "36h", "1y6m" (see duration.ts) */
  keepWithin?: string;
}

export interface RetentionOptions {
  now: Date;
  /** IANA zone of the policy, for calendar buckets */
  timezone: string;
}

export interface RetentionResult {
  /** newest first */
  keep: { id: string; reasons: string[] }[];
  /** newest first */
  remove: { id: string; reason: string }[];
  /** set when removal is suspended (the newest backup failed); every backup is then in keep */
  suspended: string | null;
}

type CalendarRule = 'hourly' | 'daily' | 'weekly' | 'monthly' | 'yearly';
const CALENDAR_RULES: readonly { rule: CalendarRule; field: keyof RetentionPolicy }[] = [
  { rule: 'hourly', field: 'keepHourly' },
  { rule: 'daily', field: 'keepDaily' },
  { rule: 'weekly', field: 'keepWeekly' },
  { rule: 'monthly', field: 'keepMonthly' },
  { rule: 'yearly', field: 'keepYearly' },
];
const COUNT_FIELDS = [
  'keepLast',
  'keepHourly',
  'keepDaily',
  'keepWeekly',
  'keepMonthly',
  'keepYearly',
] as const;

interface Backup {
  id: string;
  at: Date;
  status: BackupStatus;
  retainUntil: Date | null;
}

export function applyRetention(
  backups: readonly RetentionInput[],
  policy: RetentionPolicy,
  opts: RetentionOptions,
): RetentionResult {
  const { now, timezone } = opts;
  checkPolicy(policy);
  localTime(now, timezone); // throws RangeError early for an unknown zone
  const within = policy.keepWithin === undefined ? null : parseDuration(policy.keepWithin);

  const all = normalise(backups);
  const reasons = new Map<string, string[]>(all.map((b) => [b.id, []]));
  const add = (id: string, reason: string): void => void reasons.get(id)?.push(reason);

  for (const b of all) {
    if (b.at > now) add(b.id, `future-dated: created ${b.at.toISOString()}, after now`);
    if (b.retainUntil && b.retainUntil > now)
      add(b.id, `locked until ${b.retainUntil.toISOString()} (S3 Object Lock)`);
  }
  const dated = all.filter((b) => b.at <= now);
  const restorable = dated.filter((b) => b.status !== 'failed');
  const newest = dated[0];
  const suspended =
    newest?.status === 'failed'
      ? `newest backup ${newest.id} (${newest.at.toISOString()}) failed: nothing is removed until a backup succeeds`
      : null;

  const counts = COUNT_FIELDS.map((f) => policy[f] ?? 0);
  const empty = counts.every((n) => n === 0) && (within === null || isZeroDuration(within));

  if (empty) {
    for (const b of all) add(b.id, 'no retention rule: everything is kept');
  } else {
    const newestVerified = restorable.find((b) => b.status === 'verified');
    if (newestVerified) add(newestVerified.id, 'newest verified');

    const last = policy.keepLast ?? 0;
    restorable.forEach((b, i) => {
      if (last === -1 || i < last) add(b.id, last === -1 ? 'last (unlimited)' : `last ${last}`);
    });

    for (const { rule, field } of CALENDAR_RULES) {
      let remaining = (policy[field] as number | undefined) ?? 0;
      if (remaining === 0) continue;
      let previous: string | null = null;
      for (const b of restorable) {
        if (remaining === 0) break;
        const bucket = bucketOf(rule, b.at, timezone);
        if (bucket === previous) continue;
        previous = bucket;
        add(b.id, `${rule} ${bucket}`);
        if (remaining > 0) remaining--;
      }
    }

    const newestRestorable = restorable[0];
    if (within && !isZeroDuration(within) && newestRestorable) {
      const cutoff = subtractDuration(newestRestorable.at, within, timezone);
      for (const b of restorable) if (b.at > cutoff) add(b.id, `within ${policy.keepWithin} of newest`);
    }
  }

  const result: RetentionResult = { keep: [], remove: [], suspended };
  const rules = describeRules(policy);
  for (const b of all) {
    const why = reasons.get(b.id) as string[];
    if (why.length > 0) result.keep.push({ id: b.id, reasons: why });
    else if (suspended)
      result.keep.push({ id: b.id, reasons: ['removal suspended: the newest backup failed'] });
    else if (b.status === 'failed')
      result.remove.push({ id: b.id, reason: 'failed backup (not restorable), kept by no rule' });
    else result.remove.push({ id: b.id, reason: `kept by no rule (${rules})` });
  }
  return result;
}

function checkPolicy(policy: RetentionPolicy): void {
  for (const f of COUNT_FIELDS) {
    const n = policy[f];
    if (n !== undefined && !(Number.isInteger(n) && n >= -1)) {
      throw new DrError(
        'CONFIG_INVALID',
        `retention: ${f} must be an integer >= -1 (-1: unlimited), got ${String(n)}`,
      );
    }
  }
  if (policy.keepWithin !== undefined && parseDuration(policy.keepWithin) === null) {
    throw new DrError(
      'CONFIG_INVALID',
      `retention: keepWithin "${policy.keepWithin}" is not a duration such as 7d, 36h or 1y6m`,
    );
  }
}

function normalise(backups: readonly RetentionInput[]): Backup[] {
  const seen = new Set<string>();
  const out = backups.map((b) => {
    if (seen.has(b.id))
      throw new DrError('INTERNAL', `retention: backup id ${b.id} appears twice in the input`);
    seen.add(b.id);
    const at = new Date(b.createdAt);
    if (Number.isNaN(at.getTime()))
      throw new DrError('INTERNAL', `retention: backup ${b.id} has an invalid createdAt`);
    const retainUntil = b.retainUntil == null ? null : new Date(b.retainUntil);
    return { id: b.id, at, status: b.status, retainUntil };
  });
  // Newest first; ids break ties so that the outcome never depends on the input order.
  return out.sort((a, b) => b.at.getTime() - a.at.getTime() || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
}

function bucketOf(rule: CalendarRule, at: Date, tz: string): string {
  const l = localTime(at, tz);
  switch (rule) {
    case 'hourly':
      return `${l.year}-${pad(l.month)}-${pad(l.day)} ${pad(l.hour)}:00 ${formatOffset(l.offsetMinutes)}`;
    case 'daily':
      return `${l.year}-${pad(l.month)}-${pad(l.day)}`;
    case 'weekly': {
      const w = isoWeek(l.year, l.month, l.day);
      return `${w.year}-W${pad(w.week)}`;
    }
    case 'monthly':
      return `${l.year}-${pad(l.month)}`;
    case 'yearly':
      return `${l.year}`;
  }
}

function describeRules(policy: RetentionPolicy): string {
  const parts: string[] = [];
  for (const f of COUNT_FIELDS) {
    const n = policy[f];
    if (n !== undefined && n !== 0) parts.push(`${f} ${n === -1 ? 'unlimited' : n}`);
  }
  if (policy.keepWithin !== undefined) parts.push(`keepWithin ${policy.keepWithin}`);
  return parts.join(', ');
}
