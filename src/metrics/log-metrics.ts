/**
 * The metrics of the revision log the daemon writes (src/revlog, src/daemon/revision-logs.ts), registered
 * on the daemon's one registry beside metrics.ts. Series are keyed by {cluster, policy}: the policy whose
 * `revisionLog:` block runs the log. Timestamps are Unix seconds, 0 meaning never.
 * policies/log-alerts.rules.yml keys on these names.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { METRIC_PREFIX } from './metrics.js';

type L = 'cluster' | 'policy';

export interface LogMetrics {
  up: Gauge<L>;
  downSince: Gauge<L>;
  standby: Gauge<L>;
  committedRevision: Gauge<L>;
  watchRevision: Gauge<L>;
  uncommittedSince: Gauge<L>;
  lastCommit: Gauge<L>;
  lagThreshold: Gauge<L>;
  segments: Counter<L>;
  gaps: Counter<L>;
  lastGap: Gauge<L>;
}

export function createLogMetrics(registry: Registry): LogMetrics {
  const p = METRIC_PREFIX;
  const labelNames = ['cluster', 'policy'] as const;
  const registers = [registry];
  const gauge = (name: string, help: string) =>
    new Gauge({ name: `${p}${name}`, help, labelNames, registers });
  return {
    up: gauge('log_up', '1 while the revision log watches its cluster, 0 while it is stopped or retrying'),
    downSince: gauge(
      'log_down_since_timestamp_seconds',
      'Unix time since when the revision log has not been watching its cluster (0: it is)',
    ),
    standby: gauge(
      'log_standby',
      '1 while another writer (another daemon) holds the log and this one waits to take over; 0 otherwise',
    ),
    committedRevision: gauge(
      'log_committed_revision',
      'Newest etcd revision committed to storage by the revision log (0: none yet)',
    ),
    watchRevision: gauge(
      'log_watch_revision',
      'Newest etcd revision the revision log has seen (events and progress notifications)',
    ),
    uncommittedSince: gauge(
      'log_uncommitted_since_timestamp_seconds',
      'Unix time since when the oldest revision seen but not yet committed has waited (0: everything seen is committed)',
    ),
    lastCommit: gauge(
      'log_last_commit_timestamp_seconds',
      'Unix time the revision log last committed a segment (0: never in this process)',
    ),
    lagThreshold: gauge(
      'log_lag_alert_seconds',
      'revisionLog.lagAlertSeconds: how long revisions may wait uncommitted, or the log be down, before EtcdBackupLogLagHigh',
    ),
    segments: new Counter({
      name: `${p}log_segments_total`,
      help: 'Segments committed by the revision log',
      labelNames,
      registers,
    }),
    gaps: new Counter({
      name: `${p}log_gaps_total`,
      help: 'Gaps recorded by the revision log: revisions lost for good (compacted before they were read), each starting a new chain',
      labelNames,
      registers,
    }),
    lastGap: gauge(
      'log_last_gap_timestamp_seconds',
      'Unix time the revision log last recorded a gap (0: never)',
    ),
  };
}

export function seedLogMetrics(
  m: LogMetrics,
  s: { cluster: string; policy: string; lagAlertSeconds: number; now: Date; lastGap: Date | null },
): void {
  const l = { cluster: s.cluster, policy: s.policy };
  m.up.set(l, 0);
  m.downSince.set(l, s.now.getTime() / 1000);
  m.standby.set(l, 0);
  m.committedRevision.set(l, 0);
  m.watchRevision.set(l, 0);
  m.uncommittedSince.set(l, 0);
  m.lastCommit.set(l, 0);
  m.lagThreshold.set(l, s.lagAlertSeconds);
  m.segments.inc(l, 0);
  m.gaps.inc(l, 0);
  m.lastGap.set(l, s.lastGap ? s.lastGap.getTime() / 1000 : 0);
}

/** The log started watching (up) or stopped (down since `at`). */
export function setLogUp(m: LogMetrics, cluster: string, policy: string, up: boolean, at: Date): void {
  const l = { cluster, policy };
  m.up.set(l, up ? 1 : 0);
  m.downSince.set(l, up ? 0 : at.getTime() / 1000);
  if (up) m.standby.set(l, 0);
}

/** Another writer holds the log (LEASE_HELD): this one is a standby, not a log that is down. */
export function setLogStandby(m: LogMetrics, cluster: string, policy: string, standby: boolean): void {
  m.standby.set({ cluster, policy }, standby ? 1 : 0);
}

export function forgetLogMetrics(m: LogMetrics, cluster: string, policy: string): void {
  const l = { cluster, policy };
  for (const g of [
    m.up,
    m.downSince,
    m.standby,
    m.committedRevision,
    m.watchRevision,
    m.uncommittedSince,
    m.lastCommit,
    m.lagThreshold,
    m.lastGap,
  ])
    g.remove(l);
  m.segments.remove(l);
  m.gaps.remove(l);
}
