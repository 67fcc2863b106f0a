/**
 * Wall-clock arithmetic in an IANA time zone, with nothing but Intl: the local fields of an instant,
 * the instant of local fields (DST gaps and overlaps resolved like Temporal's "compatible" mode), ISO
 * weeks, and calendar subtraction for keep-within.
 */
import type { CalendarDuration } from './duration.js';

export interface LocalTime {
  year: number;
  month: number; // 1..12
  day: number;
  hour: number;
  minute: number;
  second: number;
  /** the zone's UTC offset at that instant, in minutes (CET = 60, EDT = -240) */
  offsetMinutes: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(tz, f);
  }
  return f;
}

/** Throws RangeError for a zone Intl does not know. */
export function localTime(at: Date, tz: string): LocalTime {
  const parts: Record<string, number> = {};
  for (const p of formatter(tz).formatToParts(at)) if (p.type !== 'literal') parts[p.type] = Number(p.value);
  const l = {
    year: parts.year as number,
    month: parts.month as number,
    day: parts.day as number,
    hour: (parts.hour as number) % 24,
    minute: parts.minute as number,
    second: parts.second as number,
  };
  const asUtc = Date.UTC(l.year, l.month - 1, l.day, l.hour, l.minute, l.second);
  const wholeSeconds = Math.floor(at.getTime() / 1000) * 1000;
  return { ...l, offsetMinutes: Math.round((asUtc - wholeSeconds) / 60_000) };
}

type WallTime = Omit<LocalTime, 'offsetMinutes'>;

/**
 * The instant at which the zone's clocks show `w`. In a DST overlap the earlier instant; in a DST gap
 * the instant the clocks would show had they not jumped (02:30 on a spring-forward night becomes 03:30).
 */
export function instantOf(w: WallTime, tz: string): Date {
  const guess = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
  const before = localTime(new Date(guess - 86_400_000), tz).offsetMinutes;
  const after = localTime(new Date(guess + 86_400_000), tz).offsetMinutes;
  const candidates = [...new Set([guess - before * 60_000, guess - after * 60_000])].filter((t) => {
    const l = localTime(new Date(t), tz);
    return (
      l.year === w.year &&
      l.month === w.month &&
      l.day === w.day &&
      l.hour === w.hour &&
      l.minute === w.minute
    );
  });
  if (candidates.length > 0) return new Date(Math.min(...candidates));
  return new Date(guess - before * 60_000);
}

/** ISO 8601 week of a calendar date: weeks start on Monday, week 1 holds the year's first Thursday. */
export function isoWeek(year: number, month: number, day: number): { year: number; week: number } {
  const date = new Date(Date.UTC(year, month - 1, day));
  const weekday = date.getUTCDay() || 7;
  date.setUTCDate(date.getUTCDate() + 4 - weekday); // the Thursday of this week decides the year
  const isoYear = date.getUTCFullYear();
  const week = Math.floor((date.getTime() - Date.UTC(isoYear, 0, 1)) / 86_400_000 / 7) + 1;
  return { year: isoYear, week };
}

/** `at` minus `d`: calendar units on the zone's wall clock, then hours as elapsed time. */
export function subtractDuration(at: Date, d: CalendarDuration, tz: string): Date {
  const l = localTime(at, tz);
  const months = l.month - 1 - d.months - 12 * d.years;
  const year = l.year + Math.floor(months / 12);
  const month = (((months % 12) + 12) % 12) + 1;
  // 31 March minus one month is clamped to 28/29 February (Go's AddDate, used by restic, would overflow
  // to 3 March): clamping moves the cutoff earlier, so keep-within keeps more, never less.
  const lastDay = new Date(Date.UTC(year, month, 0)).getUTCDate();
  const shifted = new Date(Date.UTC(year, month - 1, Math.min(l.day, lastDay) - d.days - 7 * d.weeks));
  const wall = instantOf(
    {
      year: shifted.getUTCFullYear(),
      month: shifted.getUTCMonth() + 1,
      day: shifted.getUTCDate(),
      hour: l.hour,
      minute: l.minute,
      second: l.second,
    },
    tz,
  );
  return new Date(wall.getTime() + (at.getTime() % 1000) - d.hours * 3_600_000);
}

export function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

export function formatOffset(minutes: number): string {
  const sign = minutes < 0 ? '-' : '+';
  const a = Math.abs(minutes);
  return `${sign}${pad(Math.floor(a / 60))}:${pad(a % 60)}`;
}
