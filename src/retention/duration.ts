/**
 * Calendar durations for keep-within, in restic's notation: a sequence of <number><unit> with units
 * y (years), m (months), w (weeks), d (days), h (hours), e.g. "7d", "36h", "1y6m", "2w3d12h".
 * Years, months, weeks and days are calendar units applied in the policy's time zone (a day across a
 * DST change is 23 or 25 hours); hours are exact.
 */
export interface CalendarDuration {
  years: number;
  months: number;
  weeks: number;
  days: number;
  hours: number;
}

const PART = /(\d+)([ymwdh])/gy;

/** Parses "7d", "1y6m", ...; returns null when the text is not a duration (so callers word the error). */
export function parseDuration(text: string): CalendarDuration | null {
  const s = text.trim();
  if (s === '') return null;
  const out: CalendarDuration = { years: 0, months: 0, weeks: 0, days: 0, hours: 0 };
  const seen = new Set<string>();
  PART.lastIndex = 0;
  let consumed = 0;
  for (let m = PART.exec(s); m !== null; m = PART.exec(s)) {
    const unit = m[2] as string;
    if (seen.has(unit)) return null;
    seen.add(unit);
    const n = Number(m[1]);
    if (!Number.isSafeInteger(n)) return null;
    if (unit === 'y') out.years = n;
    else if (unit === 'm') out.months = n;
    else if (unit === 'w') out.weeks = n;
    else if (unit === 'd') out.days = n;
    else out.hours = n;
    consumed = PART.lastIndex;
  }
  return consumed === s.length ? out : null;
}

export function isZeroDuration(d: CalendarDuration): boolean {
  return d.years + d.months + d.weeks + d.days + d.hours === 0;
}
