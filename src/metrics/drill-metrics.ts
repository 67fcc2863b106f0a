/**
 * The metrics of restore drills (src/drill), registered on the daemon's one registry beside metrics.ts.
 * Series are keyed by {cluster, policy}: the policy whose backups are drilled. Timestamps are Unix
 * seconds, 0 meaning never. policies/drill-alerts.rules.yml keys on these names.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { METRIC_PREFIX } from './metrics.js';

type L = 'cluster' | 'policy';

export interface DrillMetrics {
  lastSuccess: Gauge<L>;
  lastDrill: Gauge<L>;
  duration: Gauge<L>;
  staleAfter: Gauge<L>;
  drills: Counter<L | 'result'>;
}

export function createDrillMetrics(registry: Registry): DrillMetrics {
  const p = METRIC_PREFIX;
  const labelNames = ['cluster', 'policy'] as const;
  const registers = [registry];
  return {
    lastSuccess: new Gauge({
      name: `${p}last_drill_success_timestamp_seconds`,
      help: "Unix time the last successful restore drill of the policy's backups finished (0: never)",
      labelNames,
      registers,
    }),
    lastDrill: new Gauge({
      name: `${p}last_drill_timestamp_seconds`,
      help: 'Unix time the last restore drill of the policy finished, successful or not (0: never)',
      labelNames,
      registers,
    }),
    duration: new Gauge({
      name: `${p}drill_duration_seconds`,
      help: 'Measured RTO of the last successful drill: seconds from its start to a verified restored cluster',
      labelNames,
      registers,
    }),
    staleAfter: new Gauge({
      name: `${p}drill_stale_after_seconds`,
      help: 'Age of the last successful drill after which the policy counts as not drilled (drill.staleAfterSeconds, default twice the drill interval)',
      labelNames,
      registers,
    }),
    drills: new Counter({
      name: `${p}drills_total`,
      help: 'Restore drills by result',
      labelNames: [...labelNames, 'result'],
      registers,
    }),
  };
}

export interface DrillSeed {
  cluster: string;
  policy: string;
  staleAfterSeconds: number;
  lastSuccess: { at: Date; durationSeconds: number | null } | null;
  lastDrill: Date | null;
}

export function seedDrillMetrics(m: DrillMetrics, s: DrillSeed): void {
  const l = { cluster: s.cluster, policy: s.policy };
  m.lastSuccess.set(l, s.lastSuccess ? s.lastSuccess.at.getTime() / 1000 : 0);
  m.lastDrill.set(l, s.lastDrill ? s.lastDrill.getTime() / 1000 : 0);
  if (s.lastSuccess?.durationSeconds != null) m.duration.set(l, s.lastSuccess.durationSeconds);
  m.staleAfter.set(l, s.staleAfterSeconds);
  for (const result of ['success', 'failure']) m.drills.inc({ ...l, result }, 0);
}

export function recordDrillMetrics(
  m: DrillMetrics,
  r: { cluster: string; policy: string; ok: boolean; finishedAt: Date; durationSeconds: number | null },
): void {
  const l = { cluster: r.cluster, policy: r.policy };
  const t = r.finishedAt.getTime() / 1000;
  m.lastDrill.set(l, t);
  m.drills.inc({ ...l, result: r.ok ? 'success' : 'failure' });
  if (r.ok) {
    m.lastSuccess.set(l, t);
    if (r.durationSeconds !== null) m.duration.set(l, r.durationSeconds);
  }
}

export function forgetDrillMetrics(m: DrillMetrics, cluster: string, policy: string): void {
  const l = { cluster, policy };
  for (const g of [m.lastSuccess, m.lastDrill, m.duration, m.staleAfter]) g.remove(l);
  for (const result of ['success', 'failure']) m.drills.remove({ ...l, result });
}
