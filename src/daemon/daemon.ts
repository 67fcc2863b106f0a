/**
 * The scheduler half of `dr daemon`, wired: cron schedules per policy (scheduler.ts), the job queue
 * (job-queue.ts) and its runner with retries (job-runner.ts), periodic verification and online audit
 * (online-audit.ts), the leftover clean-up (src/jobs/cleanup.ts), catalog sync and metric seeding at
 * start and reload (catalog-state.ts), catch-up at start, reload and graceful shutdown. The HTTP half
 * (src/http) reads through the API read model (read-model.ts) and triggers through this class; process
 * signals are wired in run-daemon.ts.
 */
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { Catalog } from '../catalog/catalog.js';
import type { Config, PolicyConfig } from '../config/load.js';
import { systemClock, type Clock } from '../core/clock.js';
import { DrError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { createEtcdClient } from '../etcd/client.js';
import type {
  ApiDaemon,
  BackupDetail,
  BackupListing,
  ClusterState,
  JobView,
  ReadyReport,
} from '../http/api-types.js';
import { DEFAULT_CLEANUP_EVERY_MS, LeftoverCleaner } from '../jobs/cleanup.js';
import type { LeaseSettings } from '../jobs/leased.js';
import { forgetPolicyMetrics, type DrMetrics } from '../metrics/metrics.js';
import { openBackend } from '../storage/open-backend.js';
import { lastSuccess, seedMetrics, syncCatalog } from './catalog-state.js';
import { ClusterSlots } from './cluster-slots.js';
import { JobQueue } from './job-queue.js';
import { JobRunner } from './job-runner.js';
import { OnlineAudit } from './online-audit.js';
import { backupDetail, backupListings, clusterStates, readyReport } from './read-model.js';
import { Runtime, type CreateEtcd, type OpenBackend } from './runtime.js';
import { PolicyScheduler } from './scheduler.js';

export interface DaemonOptions {
  logger: Logger;
  metrics: DrMetrics;
  clock?: Clock;
  /** first retry delay; doubles per attempt up to maxRetryDelayMs. @default 30000 */
  retryBaseMs?: number;
  /** @default 600000 */
  maxRetryDelayMs?: number;
  /** verify (deep) the newest backup of every policy this often; null: never. @default null */
  verifyEverySeconds?: number | null;
  /**
   * run the online audit of every cluster this often (status, alarms, HashKV compared across members) and
   * export it as etcd_backup_audit_findings, etcd_backup_member_hash_divergence and etcd_backup_member_up;
   * null: never. @default null
   */
  auditEverySeconds?: number | null;
  /** take a backup at start for policies whose last success is older than their interval. @default true */
  catchUp?: boolean;
  /** remove leftovers of killed or failed backups this often (src/jobs/cleanup.ts); null: never. @default 3600 */
  cleanupEverySeconds?: number | null;
  openBackend?: OpenBackend;
  createEtcd?: CreateEtcd;
  /** the lease its retention and clean-up hold per prefix. @default this host and pid, "dr daemon" */
  lease?: LeaseSettings;
}

export class Daemon implements ApiDaemon {
  private runtime: Runtime;
  private readonly slots: ClusterSlots;
  private readonly scheduler: PolicyScheduler;
  private readonly queue: JobQueue;
  private readonly audit: OnlineAudit;
  private readonly clock: Clock;
  private readonly log: Logger;
  private verifyTimer: NodeJS.Timeout | null = null;
  private cleaner: LeftoverCleaner | null = null;
  private stopping = false;

  private constructor(
    runtime: Runtime,
    private readonly catalog: Catalog,
    private readonly opts: DaemonOptions & {
      openBackend: OpenBackend;
      createEtcd: CreateEtcd;
      lease: LeaseSettings;
    },
  ) {
    this.runtime = runtime;
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger.child({ component: 'daemon' });
    this.slots = new ClusterSlots(runtime.config.concurrency);
    this.scheduler = new PolicyScheduler(this.log, this.clock);
    const runner = new JobRunner({
      runtime: () => this.runtime,
      stopping: () => this.stopping,
      slots: this.slots,
      catalog,
      metrics: opts.metrics,
      log: this.log,
      logger: opts.logger,
      clock: this.clock,
      lease: opts.lease,
      retryBaseMs: opts.retryBaseMs,
      maxRetryDelayMs: opts.maxRetryDelayMs,
    });
    this.queue = new JobQueue((job) => runner.run(job), this.clock, this.log);
    this.audit = new OnlineAudit({
      clusters: () => this.runtime.config.clusters,
      etcd: (cluster) => this.runtime.etcd(cluster),
      stopping: () => this.stopping,
      metrics: opts.metrics,
      log: this.log,
    });
  }

  static async start(config: Config, options: DaemonOptions): Promise<Daemon> {
    const opts = {
      ...options,
      // the Azure credential chain reads the daemon's environment (AZURE_STORAGE_KEY, ...)
      openBackend: options.openBackend ?? ((url, o) => openBackend(url, { ...o, env: process.env })),
      createEtcd: options.createEtcd ?? ((conn, o) => createEtcdClient(conn, o)),
      lease: options.lease ?? { owner: { host: os.hostname(), pid: process.pid, command: 'dr daemon' } },
    };
    const runtime = await Runtime.open(config, {
      openBackend: opts.openBackend,
      createEtcd: opts.createEtcd,
      logger: opts.logger,
    });
    let catalog: Catalog;
    try {
      await runtime.checkObjectLocks();
      catalog = Catalog.open(config.catalog.path);
    } catch (err) {
      await runtime.close();
      throw err;
    }
    const d = new Daemon(runtime, catalog, opts);
    await syncCatalog(catalog, runtime, [...runtime.targets.keys()], d.log, opts.logger);
    for (const p of config.policies) seedMetrics(catalog, runtime, p, opts.metrics);
    d.schedule();
    if (opts.catchUp !== false) for (const p of config.policies) d.catchUp(p);
    if (opts.verifyEverySeconds) {
      d.verifyTimer = setInterval(() => d.verifyAll(), opts.verifyEverySeconds * 1000);
      d.verifyTimer.unref();
    }
    const cleanupEveryMs =
      opts.cleanupEverySeconds === undefined
        ? DEFAULT_CLEANUP_EVERY_MS
        : (opts.cleanupEverySeconds ?? 0) * 1000;
    if (cleanupEveryMs > 0) {
      d.cleaner = new LeftoverCleaner({ catalog, logger: d.log, clock: d.clock, lease: opts.lease }, () => {
        const rt = d.runtime;
        return { targets: [...rt.targets.values()], release: rt.use() };
      }).start(cleanupEveryMs);
    }
    if (opts.auditEverySeconds) d.audit.start(opts.auditEverySeconds);
    d.log.info(
      { config: config.file, policies: config.policies.map((p) => p.name), concurrency: config.concurrency },
      'daemon started',
    );
    return d;
  }

  get config(): Config {
    return this.runtime.config;
  }

  // ---------- scheduling ----------

  private schedule(): void {
    this.scheduler.schedule(this.runtime.config.policies, (name) => void this.fire(name));
  }

  private async fire(policyName: string): Promise<void> {
    const p = this.runtime.policy(policyName);
    if (!p || this.stopping) return;
    const deadline =
      this.scheduler.nextRun(policyName) ??
      new Date(this.clock.now().getTime() + p.expectedIntervalSeconds * 1000);
    if (p.jitterSeconds > 0) {
      const delay = Math.floor(Math.random() * p.jitterSeconds * 1000);
      this.log.debug({ policy: p.name, delayMs: delay }, 'jitter before scheduled backup');
      await sleep(delay, undefined, { ref: false });
      if (this.stopping || !this.runtime.policy(policyName)) return;
    }
    const { job, created } = this.queue.enqueue('backup', p, 'schedule', deadline);
    if (!created)
      this.log.warn(
        { policy: p.name, job: job.id },
        'previous run of the policy still going; scheduled run skipped',
      );
  }

  /** A backup at start (or when a reload adds the policy) if the last success is older than the interval. */
  private catchUp(p: PolicyConfig): void {
    const last = lastSuccess(this.catalog, this.runtime, p);
    const age = last ? (this.clock.now().getTime() - last.getTime()) / 1000 : Infinity;
    if (age <= p.expectedIntervalSeconds) return;
    this.log.info(
      { policy: p.name, lastSuccess: last?.toISOString() ?? null },
      'last success older than the interval: catch-up backup',
    );
    this.queue.enqueue('backup', p, 'catch-up', this.scheduler.deadline(p));
  }

  /** Backup now for the API. The policy defaults to the cluster's first. */
  trigger(cluster: string, policyName?: string): { job: JobView; created: boolean } {
    if (this.stopping) throw new DrError('ABORTED', 'daemon: shutting down; no new jobs');
    const rt = this.runtime;
    if (!rt.cluster(cluster))
      throw new DrError('CLUSTER_NOT_FOUND', `daemon: no cluster named "${cluster}"`, { cluster });
    const candidates = rt.config.policies.filter((p) => p.cluster === cluster);
    const p = policyName === undefined ? candidates[0] : candidates.find((c) => c.name === policyName);
    if (!p) {
      throw new DrError(
        'USAGE',
        policyName === undefined
          ? `daemon: cluster "${cluster}" has no policy (a backup needs a policy's storage targets)`
          : `daemon: cluster "${cluster}" has no policy "${policyName}" (policies: ${candidates.map((c) => c.name).join(', ') || 'none'})`,
      );
    }
    const { job, created } = this.queue.enqueue('backup', p, 'api', this.scheduler.deadline(p));
    return { job: job.view(), created };
  }

  /**
   * A backup of the policy now because its revision log recorded a gap: the new chain needs a full backup
   * at or after its start to be replayed from. Nothing when the policy is gone or the daemon is stopping.
   */
  backupAfterLogGap(policyName: string): void {
    if (this.stopping) return;
    const p = this.runtime.policy(policyName);
    if (!p) return;
    this.log.warn({ policy: p.name }, "revision log gap: taking a full backup now as the new chain's base");
    this.queue.enqueue('backup', p, 'log-gap', this.scheduler.deadline(p));
  }

  // ---------- periodic checks ----------

  /** One round of the online audit of every cluster now (online-audit.ts). */
  auditAll(): Promise<void> {
    return this.audit.auditAll();
  }

  private verifyAll(): void {
    if (this.stopping) return;
    for (const p of this.runtime.config.policies)
      this.queue.enqueue('verify', p, 'periodic-verify', this.scheduler.deadline(p));
  }

  // ---------- reload and stop ----------

  /**
   * Switches to a new config: schedules are rebuilt, running jobs finish on the resources they started
   * with. The catalog path and the listen address need a restart; a change to them is logged and ignored.
   */
  async reload(config: Config): Promise<{ added: string[]; removed: string[]; changed: string[] }> {
    if (this.stopping) throw new DrError('ABORTED', 'daemon: shutting down; reload ignored');
    const old = this.runtime;
    const next = await Runtime.open(config, {
      openBackend: this.opts.openBackend,
      createEtcd: this.opts.createEtcd,
      logger: this.opts.logger,
    });
    try {
      await next.checkObjectLocks();
    } catch (err) {
      await next.close();
      throw err;
    }
    if (config.catalog.path !== old.config.catalog.path) {
      this.log.warn(
        { old: old.config.catalog.path, new: config.catalog.path },
        'reload: catalog.path changes only on restart; keeping the old one',
      );
    }
    const before = new Map(old.config.policies.map((p) => [p.name, p]));
    const after = new Map(config.policies.map((p) => [p.name, p]));
    const added = [...after.keys()].filter((n) => !before.has(n));
    const removed = [...before.keys()].filter((n) => !after.has(n));
    const changed = [...after.keys()].filter(
      (n) => before.has(n) && JSON.stringify(before.get(n)) !== JSON.stringify(after.get(n)),
    );

    this.scheduler.unschedule();
    this.runtime = next;
    old.retire();
    this.slots.setLimit(config.concurrency);
    for (const name of removed) {
      const p = before.get(name)!;
      forgetPolicyMetrics(this.opts.metrics, p.cluster, p.name, p.storage);
    }
    const newTargets = config.storage
      .filter((s) => !old.config.storage.some((o) => o.name === s.name && o.url === s.url))
      .map((s) => s.name);
    await syncCatalog(this.catalog, next, newTargets, this.log, this.opts.logger);
    for (const p of config.policies) seedMetrics(this.catalog, next, p, this.opts.metrics);
    this.schedule();
    if (this.opts.catchUp !== false) for (const name of added) this.catchUp(after.get(name)!);
    this.log.info({ added, removed, changed }, 'config reloaded');
    return { added, removed, changed };
  }

  /**
   * Graceful stop: no new job starts, queued and waiting jobs are cancelled, running ones get graceMs to
   * finish and are then aborted (an aborted upload leaves nothing visible; see takeBackup).
   */
  async stop(graceMs: number): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.scheduler.unschedule();
    if (this.verifyTimer) clearInterval(this.verifyTimer);
    await this.cleaner?.stop();
    await this.audit.stop();
    await this.queue.drain(graceMs);
    await this.runtime.close();
    this.catalog.close();
    this.log.info('daemon stopped');
  }

  // ---------- the API's read model (read-model.ts) ----------

  job(id: string): JobView | undefined {
    return this.queue.get(id);
  }

  listJobs(): JobView[] {
    return this.queue.list();
  }

  clusters(): ClusterState[] {
    return clusterStates(this.runtime, this.catalog, this.scheduler, this.clock);
  }

  backups(filter: { cluster?: string } = {}): BackupListing[] {
    return backupListings(this.runtime, this.catalog, filter);
  }

  backup(id: string): BackupDetail {
    return backupDetail(this.runtime, this.catalog, id);
  }

  ready(timeoutMs = 5000): Promise<ReadyReport> {
    return readyReport(this.runtime, this.catalog, () => this.stopping, timeoutMs);
  }
}
