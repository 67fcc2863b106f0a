/**
 * Cron schedules: node-cron (the daemon's scheduler) parses and validates them; this file only adds what
 * node-cron does not offer: the expected interval between two firings, computed without a clock.
 *
 * node-cron v4 semantics, which we follow so that the number matches what the scheduler does:
 *  - 5 fields (minute hour day-of-month month day-of-week) or 6 with a leading seconds field;
 *  - day-of-month AND day-of-week must both match (Vixie cron would OR them when both are restricted);
 *  - tokens L, L-n, nW, LW in day-of-month and nL, n#k in day-of-week.
 * node-cron's own getNextRuns() reads the system clock, hence this small calendar walk instead.
 *
 * Observed node-cron v4 behaviour around DST (Europe/Berlin, "30 2 * * *"): no run on the spring-forward
 * day (02:30 does not exist), one run on the fall-back day. The real gap is then 47 hours once a year,
 * still below the default stale threshold of twice the 24-hour wall-clock interval.
 */
import { validateDetailed, type ParsedFields } from 'node-cron';

export interface CronCheck {
  ok: boolean;
  /** why the expression is refused, naming the field at fault; empty when ok */
  message: string;
}

export function checkCron(expression: string): CronCheck {
  const v = validateDetailed(expression);
  if (v.valid) return { ok: true, message: '' };
  const why = v.errors.map((e) => (e.field === 'expression' ? e.message : `${e.field}: ${e.message}`));
  return { ok: false, message: `invalid cron expression "${expression}": ${why.join('; ')}` };
}

/** True when tz is an IANA zone name this runtime knows (Intl is the source of truth). */
export function isValidTimezone(tz: string): boolean {
  if (tz.trim() === '') return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

const DAY_S = 86_400;
// The walk starts on a leap year's first day; eight years cover every ordinary pattern (including
// 29 February) and 28 years every weekday/leap-year combination.
const WALK_START = Date.UTC(2024, 0, 1);
const SHORT_WALK_DAYS = 8 * 366;
const LONG_WALK_DAYS = 28 * 366;

/**
 * The longest gap, in seconds, between two consecutive firings of `expression`, measured in wall-clock
 * time: a daily job is 86400 even across DST changes (the 23- and 25-hour days would otherwise shift
 * staleness thresholds by an hour twice a year), a Monday-to-Friday job is three days (its weekend gap),
 * so alerts at a multiple of it never fire just because it is Sunday.
 *
 * `timezone` is validated but cannot change a wall-clock gap; it is part of the signature because the
 * schedule is only meaningful with it.
 */
export function cronIntervalSeconds(expression: string, timezone: string): number {
  const check = checkCron(expression);
  if (!check.ok) throw new RangeError(check.message);
  if (!isValidTimezone(timezone)) throw new RangeError(`unknown time zone "${timezone}"`);
  const fields = validateDetailed(expression).fields as ParsedFields;

  // Every matching day fires at the same times of day: the product of hours, minutes and seconds.
  const times: number[] = [];
  for (const h of fields.hour)
    for (const m of fields.minute) for (const s of fields.second) times.push(h * 3600 + m * 60 + s);
  times.sort((a, b) => a - b);
  const first = times[0] as number;
  const last = times[times.length - 1] as number;
  let longest = 0;
  for (let i = 1; i < times.length; i++)
    longest = Math.max(longest, (times[i] as number) - (times[i - 1] as number));

  const walk = (days: number): number => {
    let previousDay: number | null = null;
    let matchingDays = 0;
    let gap = longest;
    for (let i = 0; i < days; i++) {
      const d = new Date(WALK_START + i * DAY_S * 1000);
      if (!dayMatches(fields, d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCDay()))
        continue;
      matchingDays++;
      if (previousDay !== null) gap = Math.max(gap, (i - previousDay) * DAY_S - last + first);
      previousDay = i;
    }
    return matchingDays >= 2 ? gap : -1;
  };
  const gap = walk(SHORT_WALK_DAYS);
  if (gap > 0) return gap;
  const rare = walk(LONG_WALK_DAYS);
  if (rare > 0) return rare;
  throw new RangeError(`cron expression "${expression}" fires less than twice in 28 years`);
}

function dayMatches(f: ParsedFields, year: number, month: number, day: number, weekday: number): boolean {
  if (!f.month.includes(month)) return false;
  const lastDay = new Date(Date.UTC(year, month, 0)).getUTCDate();
  const domOk = f.dayOfMonth.some((v) => domTokenMatches(v, year, month, day, lastDay));
  if (!domOk) return false;
  return f.dayOfWeek.some((v) => dowTokenMatches(v, day, weekday, lastDay));
}

function domTokenMatches(
  v: number | string,
  year: number,
  month: number,
  day: number,
  lastDay: number,
): boolean {
  if (typeof v === 'number') return v === day;
  if (v === 'L') return day === lastDay;
  const offset = /^L-(\d{1,2})$/.exec(v);
  if (offset) return day === lastDay - Number(offset[1]);
  const weekdayNear = /^(\d{1,2}|L)W$/.exec(v);
  if (weekdayNear) {
    const target = weekdayNear[1] === 'L' ? lastDay : Number(weekdayNear[1]);
    return nearestWeekday(year, month, target, lastDay) === day;
  }
  return false;
}

/** The weekday (Mon-Fri) nearest to `target` without leaving the month, as Quartz's "W" defines it. */
function nearestWeekday(year: number, month: number, target: number, lastDay: number): number {
  if (target < 1 || target > lastDay) return -1;
  const wd = new Date(Date.UTC(year, month - 1, target)).getUTCDay();
  if (wd === 6) return target === 1 ? 3 : target - 1;
  if (wd === 0) return target === lastDay ? target - 2 : target + 1;
  return target;
}

function dowTokenMatches(v: number | string, day: number, weekday: number, lastDay: number): boolean {
  if (typeof v === 'number') return v % 7 === weekday;
  const nth = /^([0-7])#([1-5])$/.exec(v);
  if (nth) return Number(nth[1]) % 7 === weekday && Math.floor((day - 1) / 7) + 1 === Number(nth[2]);
  const lastOf = /^([0-7])L$/i.exec(v);
  if (lastOf) return Number(lastOf[1]) % 7 === weekday && day + 7 > lastDay;
  return false;
}
