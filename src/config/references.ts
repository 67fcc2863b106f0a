/**
 * Checks between sections of the config: unique names, policies naming clusters and storage targets
 * that exist, jitter shorter than the schedule, Object Lock only on s3:// targets and finite retention. It reads the raw parsed YAML defensively, so it also runs
 * (and reports) when the schema found other errors: one validation run lists every problem.
 */
import { whyNotLockable } from '../retention/lock-period.js';
import type { RetentionPolicy } from '../retention/apply-retention.js';
import { cronIntervalSeconds } from './cron.js';

export interface PathIssue {
  path: (string | number)[];
  message: string;
}

type Raw = Record<string, unknown>;
const isObject = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

export function checkReferences(raw: unknown): PathIssue[] {
  if (!isObject(raw)) return [];
  const issues: PathIssue[] = [];

  const names = (section: string, what: string): Set<string> => {
    const seen = new Map<string, number>();
    list(raw[section]).forEach((item, i) => {
      const n = isObject(item) ? str(item.name) : undefined;
      if (n === undefined) return;
      const first = seen.get(n);
      if (first !== undefined) {
        issues.push({
          path: [section, i, 'name'],
          message: `duplicate ${what} name "${n}" (first at ${section}[${first}])`,
        });
      } else seen.set(n, i);
    });
    return new Set(seen.keys());
  };
  const clusters = names('clusters', 'cluster');
  const storage = names('storage', 'storage');
  names('policies', 'policy');

  // duplicate member names, also when the schema found other errors (zod then skips its own check,
  // refineMembers, which words it the same way: the two reports collapse into one)
  list(raw.clusters).forEach((c, ci) => {
    if (!isObject(c)) return;
    const lists: [(string | number)[], unknown][] = [[['members'], c.members]];
    if (isObject(c.restore)) lists.push([['restore', 'members'], c.restore.members]);
    for (const [at, members] of lists) {
      const seen = new Set<string>();
      list(members).forEach((m, mi) => {
        const n = isObject(m) ? str(m.name) : undefined;
        if (n === undefined) return;
        if (seen.has(n))
          issues.push({
            path: ['clusters', ci, ...at, mi, 'name'],
            message: `name ${n} is also used by member "${n}"`,
          });
        seen.add(n);
      });
    }
  });

  list(raw.policies).forEach((p, pi) => {
    if (!isObject(p)) return;
    const cluster = str(p.cluster);
    if (cluster !== undefined && !clusters.has(cluster)) {
      issues.push({
        path: ['policies', pi, 'cluster'],
        message: `no cluster named "${cluster}"${known(clusters)}`,
      });
    }
    const seen = new Set<string>();
    list(p.storage).forEach((s, si) => {
      const n = str(s);
      if (n === undefined) return;
      if (!storage.has(n)) {
        issues.push({
          path: ['policies', pi, 'storage', si],
          message: `no storage target named "${n}"${known(storage)}`,
        });
      }
      if (seen.has(n))
        issues.push({ path: ['policies', pi, 'storage', si], message: `storage target "${n}" listed twice` });
      seen.add(n);
    });
    if (isObject(p.objectLock)) issues.push(...objectLockIssues(raw, p, pi));
    const drillStorage = isObject(p.drill) ? str(p.drill.storage) : undefined;
    if (drillStorage !== undefined && !list(p.storage).includes(drillStorage)) {
      issues.push({
        path: ['policies', pi, 'drill', 'storage'],
        message: `drills read the policy's own backups: "${drillStorage}" is not one of its storage targets`,
      });
    }
    const logStorage = isObject(p.revisionLog) ? str(p.revisionLog.storage) : undefined;
    if (logStorage !== undefined && !list(p.storage).includes(logStorage)) {
      issues.push({
        path: ['policies', pi, 'revisionLog', 'storage'],
        message: `the revision log extends the policy's own backups: "${logStorage}" is not one of its storage targets`,
      });
    }
    const jitter = p.jitterSeconds;
    const schedule = str(p.schedule);
    const tz = p.timezone === undefined ? 'UTC' : str(p.timezone);
    if (typeof jitter === 'number' && jitter > 0 && schedule !== undefined && tz !== undefined) {
      let interval: number | null = null;
      try {
        interval = cronIntervalSeconds(schedule, tz);
      } catch {
        // the schema reports a bad schedule or zone
      }
      if (interval !== null && jitter >= interval) {
        issues.push({
          path: ['policies', pi, 'jitterSeconds'],
          message: `jitter of ${jitter}s is not shorter than the schedule interval (${interval}s)`,
        });
      }
    }
  });
  return issues;
}

/** A locked policy writes only to targets that can lock, and its retention must end somewhere. */
function objectLockIssues(raw: Raw, p: Raw, pi: number): PathIssue[] {
  const issues: PathIssue[] = [];
  const urls = new Map<string, string>();
  for (const s of list(raw.storage)) {
    if (isObject(s) && str(s.name) !== undefined && str(s.url) !== undefined)
      urls.set(str(s.name)!, str(s.url)!);
  }
  list(p.storage).forEach((s, si) => {
    const url = urls.get(str(s) ?? '');
    if (url !== undefined && !/^s3:\/\//i.test(url))
      issues.push({
        path: ['policies', pi, 'storage', si],
        message: `objectLock needs s3:// targets with Object Lock enabled; "${str(s)}" is ${url.split(':')[0]}://`,
      });
  });
  const r = isObject(p.retention) ? p.retention : {};
  const rules: RetentionPolicy = {};
  for (const k of [
    'keepLast',
    'keepHourly',
    'keepDaily',
    'keepWeekly',
    'keepMonthly',
    'keepYearly',
  ] as const) {
    if (typeof r[k] === 'number') rules[k] = r[k];
  }
  if (typeof r.keepWithin === 'string') rules.keepWithin = r.keepWithin;
  const why = whyNotLockable(rules);
  if (why) issues.push({ path: ['policies', pi, 'objectLock'], message: why });
  return issues;
}

function known(names: Set<string>): string {
  return names.size === 0 ? '' : ` (known: ${[...names].join(', ')})`;
}
