/**
 * Every Prometheus metric dr exports, in one place, on one registry (prom-client). The alert rules in
 * policies/alerts.rules.yml key on these names and labels: rename nothing here without changing them.
 *
 * Vocabulary: a series is keyed by {cluster, policy}; per-storage series add {storage} (the storage
 * target's name from the config, never its URL). Timestamps are Unix seconds; 0 means "never".
 *
 * `etcd_backup_last_success_timestamp_seconds` is the one the staleness alert keys on: the daemon sets
 * every configured policy's series at start-up from the catalog (see seedPolicyMetrics), so a restart
 * neither resets the age to zero nor makes the series absent.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const METRIC_PREFIX = 'etcd_backup_';

type PolicyLabels = 'cluster' | 'policy';
type StorageLabels = 'cluster' | 'policy' | 'storage';

export interface DrMetrics {
  readonly registry: Registry;
  lastSuccess: Gauge<PolicyLabels>;
  /** computed at scrape time from lastSuccess and the clock (+Inf when never) */
  lastSuccessAge: Gauge<PolicyLabels>;
  lastAttempt: Gauge<PolicyLabels>;
  lastVerified: Gauge<PolicyLabels>;
  expectedInterval: Gauge<PolicyLabels>;
  staleAfter: Gauge<PolicyLabels>;
  attempts: Counter<PolicyLabels | 'result'>;
  duration: Histogram<PolicyLabels>;
  lastDbSize: Gauge<PolicyLabels>;
  lastStoredSize: Gauge<PolicyLabels>;
  retained: Gauge<StorageLabels>;
  retentionDeletions: Counter<StorageLabels>;
  verifications: Counter<PolicyLabels | 'result'>;
  auditFindings: Gauge<'cluster' | 'severity'>;
  memberHashDivergence: Gauge<'cluster'>;
  memberUp: Gauge<'cluster' | 'endpoint'>;
  info: Gauge<'version'>;
}

export type AttemptResult = 'success' | 'failure';
export const ATTEMPT_RESULTS: readonly AttemptResult[] = ['success', 'failure'];
/** The severities of audit findings (src/audit/finding.ts); an unreachable cluster is an error. */
export const AUDIT_SEVERITIES = ['error', 'warning', 'info'] as const;

/**
 * A fresh registry with every definition. The daemon makes exactly one; tests make their own so that
 * two daemons in one test process do not share series.
 */
export function createMetrics(
  opts: { defaultMetrics?: boolean; version?: string; now?: () => Date } = {},
): DrMetrics {
  const now = opts.now ?? (() => new Date());
  const registry = new Registry();
  const p = METRIC_PREFIX;
  const policy = ['cluster', 'policy'] as const;
  const storage = ['cluster', 'policy', 'storage'] as const;
  const r = [registry];
  const lastSuccess = new Gauge({
    name: `${p}last_success_timestamp_seconds`,
    help: 'Unix time of the last backup of the policy committed to every storage target (0: never)',
    labelNames: policy,
    registers: r,
  });
  const m: DrMetrics = {
    registry,
    lastSuccess,
    lastSuccessAge: new Gauge({
      name: `${p}last_success_age_seconds`,
      help: 'Seconds since the last success of the policy (+Inf: never); the same as time() - last_success_timestamp_seconds',
      labelNames: policy,
      registers: r,
      async collect() {
        const values = (await lastSuccess.get()).values;
        this.reset();
        const t = now().getTime() / 1000;
        for (const v of values)
          this.set(
            v.labels as Record<PolicyLabels, string>,
            v.value === 0 ? Infinity : Math.max(0, t - v.value),
          );
      },
    }),
    lastAttempt: new Gauge({
      name: `${p}last_attempt_timestamp_seconds`,
      help: 'Unix time the last backup attempt of the policy finished, successful or not (0: never)',
      labelNames: policy,
      registers: r,
    }),
    lastVerified: new Gauge({
      name: `${p}last_verified_timestamp_seconds`,
      help: 'Unix time of the last successful verification (re-read from storage) of a backup of the policy (0: never)',
      labelNames: policy,
      registers: r,
    }),
    expectedInterval: new Gauge({
      name: `${p}expected_interval_seconds`,
      help: "The longest gap between two scheduled runs of the policy's cron schedule",
      labelNames: policy,
      registers: r,
    }),
    staleAfter: new Gauge({
      name: `${p}stale_after_seconds`,
      help: 'Age of the last success after which the policy counts as stale (alerts.staleAfterSeconds, default twice the interval)',
      labelNames: policy,
      registers: r,
    }),
    attempts: new Counter({
      name: `${p}attempts_total`,
      help: 'Backup attempts by result (a retry is an attempt of its own)',
      labelNames: [...policy, 'result'],
      registers: r,
    }),
    duration: new Histogram({
      name: `${p}duration_seconds`,
      help: 'Duration of backup attempts, from the snapshot request to the last manifest written (and verified)',
      labelNames: policy,
      buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600],
      registers: r,
    }),
    lastDbSize: new Gauge({
      name: `${p}last_db_size_bytes`,
      help: 'Size of the etcd database (bbolt file) in the last successful backup',
      labelNames: policy,
      registers: r,
    }),
    lastStoredSize: new Gauge({
      name: `${p}last_stored_size_bytes`,
      help: 'Size of the stored (compressed) object of the last successful backup',
      labelNames: policy,
      registers: r,
    }),
    retained: new Gauge({
      name: `${p}retained_backups`,
      help: 'Backups of the policy kept on the storage target after the last retention run',
      labelNames: storage,
      registers: r,
    }),
    retentionDeletions: new Counter({
      name: `${p}retention_deletions_total`,
      help: 'Backups deleted by retention',
      labelNames: storage,
      registers: r,
    }),
    verifications: new Counter({
      name: `${p}verifications_total`,
      help: 'Verifications of stored backups (after upload or periodic) by result',
      labelNames: [...policy, 'result'],
      registers: r,
    }),
    auditFindings: new Gauge({
      name: `${p}audit_findings`,
      help: 'Findings of the last online audit of the cluster by severity (a cluster that does not answer at all is one error)',
      labelNames: ['cluster', 'severity'],
      registers: r,
    }),
    memberHashDivergence: new Gauge({
      name: `${p}member_hash_divergence`,
      help: 'Members of the cluster whose HashKV differs from the others at the same revision (set by the online audit)',
      labelNames: ['cluster'],
      registers: r,
    }),
    memberUp: new Gauge({
      name: `${p}member_up`,
      help: 'Whether the endpoint answered its status request in the last online audit (1) or not (0)',
      labelNames: ['cluster', 'endpoint'],
      registers: r,
    }),
    info: new Gauge({
      name: `${p}build_info`,
      help: 'Always 1; the version label is the etcd-dr version',
      labelNames: ['version'],
      registers: r,
    }),
  };
  if (opts.version) m.info.set({ version: opts.version }, 1);
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  return m;
}

export interface PolicySeed {
  cluster: string;
  policy: string;
  storage: readonly string[];
  intervalSeconds: number;
  staleAfterSeconds: number;
  lastSuccess: Date | null;
  lastAttempt: Date | null;
  lastVerified: Date | null;
  lastDbSize?: number | null;
  lastStoredSize?: number | null;
  /** retained count per storage target name */
  retained?: Record<string, number>;
}

const seconds = (d: Date | null): number => (d ? d.getTime() / 1000 : 0);

/** Makes every series of one policy exist, with the values known from the catalog (0 when never). */
export function seedPolicyMetrics(m: DrMetrics, s: PolicySeed): void {
  const l = { cluster: s.cluster, policy: s.policy };
  m.lastSuccess.set(l, seconds(s.lastSuccess));
  m.lastAttempt.set(l, seconds(s.lastAttempt));
  m.lastVerified.set(l, seconds(s.lastVerified));
  m.expectedInterval.set(l, s.intervalSeconds);
  m.staleAfter.set(l, s.staleAfterSeconds);
  for (const result of ATTEMPT_RESULTS) m.attempts.inc({ ...l, result }, 0);
  if (s.lastDbSize != null) m.lastDbSize.set(l, s.lastDbSize);
  if (s.lastStoredSize != null) m.lastStoredSize.set(l, s.lastStoredSize);
  for (const storage of s.storage) {
    m.retained.set({ ...l, storage }, s.retained?.[storage] ?? 0);
    m.retentionDeletions.inc({ ...l, storage }, 0);
  }
}

/** Drops the series of a policy that a reload removed, so that no alert fires for it forever. */
export function forgetPolicyMetrics(
  m: DrMetrics,
  cluster: string,
  policy: string,
  storage: readonly string[],
): void {
  const l = { cluster, policy };
  for (const g of [
    m.lastSuccess,
    m.lastSuccessAge,
    m.lastAttempt,
    m.lastVerified,
    m.expectedInterval,
    m.staleAfter,
    m.lastDbSize,
    m.lastStoredSize,
  ]) {
    g.remove(l);
  }
  m.duration.remove(l);
  for (const result of ATTEMPT_RESULTS) {
    m.attempts.remove({ ...l, result });
    m.verifications.remove({ ...l, result });
  }
  for (const s of storage) {
    m.retained.remove({ ...l, storage: s });
    m.retentionDeletions.remove({ ...l, storage: s });
  }
}

/** One cluster's online audit as the metrics see it. */
export interface ClusterAuditResult {
  cluster: string;
  /** findings by severity (missing severities are 0) */
  findings: Partial<Record<(typeof AUDIT_SEVERITIES)[number], number>>;
  /** members whose HashKV differs from the others */
  divergent: number;
  /** every endpoint of the cluster and whether it answered */
  members: { endpoint: string; up: boolean }[];
}

/**
 * Replaces the audit series with one round's results, in one synchronous step (a scrape never sees half a
 * round), so that a cluster or endpoint removed by a reload stops being reported.
 */
export function setAuditMetrics(m: DrMetrics, results: readonly ClusterAuditResult[]): void {
  m.auditFindings.reset();
  m.memberHashDivergence.reset();
  m.memberUp.reset();
  for (const r of results) {
    for (const severity of AUDIT_SEVERITIES)
      m.auditFindings.set({ cluster: r.cluster, severity }, r.findings[severity] ?? 0);
    m.memberHashDivergence.set({ cluster: r.cluster }, r.divergent);
    for (const e of r.members) m.memberUp.set({ cluster: r.cluster, endpoint: e.endpoint }, e.up ? 1 : 0);
  }
}
