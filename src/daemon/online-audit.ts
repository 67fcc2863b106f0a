/**
 * The daemon's periodic online audit of every configured cluster (status, alarms, HashKV compared across
 * members), exported as etcd_backup_audit_findings, etcd_backup_member_hash_divergence and
 * etcd_backup_member_up.
 */
import { auditCluster } from '../audit/online.js';
import type { ClusterConfig } from '../config/load.js';
import { toDrError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { redactUrl } from '../core/redact.js';
import type { EtcdClient } from '../etcd/client.js';
import { setAuditMetrics, type ClusterAuditResult, type DrMetrics } from '../metrics/metrics.js';

export interface OnlineAuditDeps {
  /** the clusters of the config current now */
  clusters: () => readonly ClusterConfig[];
  etcd: (cluster: string) => EtcdClient;
  stopping: () => boolean;
  metrics: DrMetrics;
  log: Logger;
}

export class OnlineAudit {
  private timer: NodeJS.Timeout | null = null;
  private auditing: Promise<void> | null = null;

  constructor(private readonly d: OnlineAuditDeps) {}

  /** Audits now, then every everySeconds. */
  start(everySeconds: number): this {
    this.timer = setInterval(() => void this.auditAll(), everySeconds * 1000);
    this.timer.unref();
    void this.auditAll();
    return this;
  }

  /** No new round; resolves when the round in progress (if any) has ended. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.auditing;
  }

  /**
   * One cluster at a time; a run still going when the next is due is not doubled. Findings by cluster
   * and severity, hash divergence per cluster, and whether each endpoint answered replace the previous
   * round's series at the end of the round. A cluster that cannot be audited at all counts one error
   * finding and its endpoints as down.
   */
  auditAll(): Promise<void> {
    const d = this.d;
    if (d.stopping() || this.auditing) return this.auditing ?? Promise.resolve();
    this.auditing = (async () => {
      const results: ClusterAuditResult[] = [];
      for (const c of d.clusters()) {
        if (d.stopping()) return;
        try {
          const report = await auditCluster(d.etcd(c.name));
          const findings: ClusterAuditResult['findings'] = {};
          for (const f of report.findings) findings[f.severity] = (findings[f.severity] ?? 0) + 1;
          const facts = (report.facts.members ?? []) as { endpoint: string; reachable: boolean }[];
          results.push({
            cluster: c.name,
            findings,
            divergent: report.findings.filter((f) => f.code === 'HASH_DIVERGENCE').length,
            members: facts.map((m) => ({ endpoint: m.endpoint, up: m.reachable })),
          });
          const bad = report.findings.filter((f) => f.severity !== 'info');
          if (bad.length)
            d.log.warn(
              { cluster: c.name, findings: bad.map((f) => `${f.code}: ${f.message}`) },
              'online audit found problems',
            );
          else d.log.info({ cluster: c.name }, 'online audit clean');
        } catch (err) {
          results.push({
            cluster: c.name,
            findings: { error: 1 },
            divergent: 0,
            members: c.endpoints.map((e) => ({ endpoint: redactUrl(e), up: false })),
          });
          d.log.warn({ cluster: c.name, err: toDrError(err).message }, 'online audit failed');
        }
      }
      setAuditMetrics(d.metrics, results);
    })().finally(() => {
      this.auditing = null;
    });
    return this.auditing;
  }
}
