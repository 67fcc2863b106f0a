/**
 * The scheduler half of `dr daemon`: cron schedules per policy, the job queue, retries, periodic
 * verification, catch-up at start, reload and graceful shutdown. The HTTP half (src/http) reads and
 * triggers through the methods of this class; process signals are wired in run-daemon.ts.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { createTask, type ScheduledTask } from 'node-cron';
import { Catalog, type CatalogBackup } from '../catalog/catalog.js';
import { policySummary, type Config, type PolicyConfig } from '../config/load.js';
import { systemClock, type Clock } from '../core/clock.js';
import { DrError, isAbortError, toDrError, type ErrorCode } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { redactUrl } from '../core/redact.js';
import { createEtcdClient } from '../etcd/client.js';
import { runBackupJob } from '../jobs/backup-job.js';
import { DEFAULT_CLEANUP_EVERY_MS, LeftoverCleaner } from '../jobs/cleanup.js';
import type { Manifest } from '../manifest/manifest.js';
import { auditCluster } from '../audit/online.js';
import {
  forgetPolicyMetrics,
  seedPolicyMetrics,
  setAuditMetrics,
  type ClusterAuditResult,
  type DrMetrics,
} from '../metrics/metrics.js';
import { verifyBackup } from '../pipeline/verify.js';
import { openBackend } from '../storage/open-backend.js';
import { ClusterSlots } from './cluster-slots.js';
import { Job, type JobKind, type JobTrigger, type JobView } from './job.js';
import { Runtime, type CreateEtcd, type OpenBackend } from './runtime.js';

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
}

/** Errors a retry cannot fix: configuration, credentials, cancellation. */
const PERMANENT: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'USAGE',
  'CONFIG_INVALID',
  'STORAGE_URL_INVALID',
  'TLS_FILE_UNREADABLE',
  'ETCD_AUTH_FAILED',
  'ETCD_PERMISSION_DENIED',
  'STORAGE_ACCESS_DENIED',
  'ABORTED',
]);

const KEEP_FINISHED_JOBS = 500;

export interface PolicyState {
  name: string;
  cluster: string;
  schedule: string;
  timezone: string;
  storage: string[];
  expectedIntervalSeconds: number;
  staleAfterSeconds: number;
  lastSuccessAt: string | null;
  lastAttemptAt: string | null;
  lastAttemptResult: 'success' | 'failure' | null;
  nextRunAt: string | null;
  stale: boolean;
}

export interface ClusterState {
  name: string;
  endpoints: string[];
  policies: PolicyState[];
}

export interface BackupListing {
  id: string;
  cluster: string;
  policy: string | null;
  storage: string;
  createdAt: string;
  revision: string;
  dbSize: number;
  storedSize: number;
  verifiedAt: string | null;
  verifyOk: boolean | null;
}

export interface ReadyReport {
  ready: boolean;
  config: { loaded: boolean; file: string };
  catalog: { open: boolean; error?: string };
  storage: { name: string; ok: boolean; error?: string }[];
}

export class Daemon {
  private runtime: Runtime;
  private readonly tasks = new Map<string, ScheduledTask>();
  private readonly jobs = new Map<string, Job>();
  private readonly slots: ClusterSlots;
  private readonly clock: Clock;
  private readonly log: Logger;
  private verifyTimer: NodeJS.Timeout | null = null;
  private auditTimer: NodeJS.Timeout | null = null;
  private auditing: Promise<void> | null = null;
  private cleaner: LeftoverCleaner | null = null;
  private stopping = false;

  private constructor(
    runtime: Runtime,
    private readonly catalog: Catalog,
    private readonly opts: DaemonOptions & { openBackend: OpenBackend; createEtcd: CreateEtcd },
  ) {
    this.runtime = runtime;
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger.child({ component: 'daemon' });
    this.slots = new ClusterSlots(runtime.config.concurrency);
  }

  static async start(config: Config, options: DaemonOptions): Promise<Daemon> {
    const opts = {
      ...options,
      openBackend: options.openBackend ?? openBackend,
      createEtcd: options.createEtcd ?? ((conn, o) => createEtcdClient(conn, o)),
    };
    const runtime = await Runtime.open(config, {
      openBackend: opts.openBackend,
      createEtcd: opts.createEtcd,
      logger: opts.logger,
    });
    let catalog: Catalog;
    try {
      catalog = Catalog.open(config.catalog.path);
    } catch (err) {
      await runtime.close();
      throw err;
    }
    const d = new Daemon(runtime, catalog, opts);
    await d.syncCatalog(runtime, [...runtime.targets.keys()]);
    for (const p of config.policies) d.seedMetrics(runtime, p);
    d.schedule(runtime);
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
      d.cleaner = new LeftoverCleaner({ catalog, logger: d.log, clock: d.clock }, () => {
        const rt = d.runtime;
        return { targets: [...rt.targets.values()], release: rt.use() };
      }).start(cleanupEveryMs);
    }
    if (opts.auditEverySeconds) {
      d.auditTimer = setInterval(() => void d.auditAll(), opts.auditEverySeconds * 1000);
      d.auditTimer.unref();
      void d.auditAll();
    }
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

  private schedule(rt: Runtime): void {
    for (const p of rt.config.policies) {
      const task = createTask(p.schedule, () => this.fire(p.name), {
        timezone: p.timezone,
        name: `policy:${p.name}`,
        logger: cronLogger(this.log),
      });
      this.tasks.set(p.name, task);
      void task.start();
    }
  }

  private unschedule(): void {
    for (const t of this.tasks.values()) void t.destroy();
    this.tasks.clear();
  }

  private async fire(policyName: string): Promise<void> {
    const p = this.runtime.policy(policyName);
    if (!p || this.stopping) return;
    const deadline =
      this.tasks.get(policyName)?.getNextRun() ??
      new Date(this.clock.now().getTime() + p.expectedIntervalSeconds * 1000);
    if (p.jitterSeconds > 0) {
      const delay = Math.floor(Math.random() * p.jitterSeconds * 1000);
      this.log.debug({ policy: p.name, delayMs: delay }, 'jitter before scheduled backup');
      await sleep(delay, undefined, { ref: false });
      if (this.stopping || !this.runtime.policy(policyName)) return;
    }
    const { job, created } = this.enqueue('backup', p, 'schedule', deadline);
    if (!created)
      this.log.warn(
        { policy: p.name, job: job.id },
        'previous run of the policy still going; scheduled run skipped',
      );
  }

  /** A backup at start (or when a reload adds the policy) if the last success is older than the interval. */
  private catchUp(p: PolicyConfig): void {
    const last = this.lastSuccess(this.runtime, p);
    const age = last ? (this.clock.now().getTime() - last.getTime()) / 1000 : Infinity;
    if (age <= p.expectedIntervalSeconds) return;
    this.log.info(
      { policy: p.name, lastSuccess: last?.toISOString() ?? null },
      'last success older than the interval: catch-up backup',
    );
    this.enqueue('backup', p, 'catch-up', this.defaultDeadline(p));
  }

  private defaultDeadline(p: PolicyConfig): Date {
    const next = this.tasks.get(p.name)?.getNextRun();
    const byInterval = new Date(this.clock.now().getTime() + p.expectedIntervalSeconds * 1000);
    return next && next < byInterval ? next : byInterval;
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
    const { job, created } = this.enqueue('backup', p, 'api', this.defaultDeadline(p));
    return { job: job.view(), created };
  }

  private enqueue(
    kind: JobKind,
    p: PolicyConfig,
    trigger: JobTrigger,
    deadline: Date,
  ): { job: Job; created: boolean } {
    for (const j of this.jobs.values()) {
      if (!j.final && j.kind === kind && j.policy === p.name) return { job: j, created: false };
    }
    const job = new Job(kind, p.cluster, p.name, trigger, this.clock.now(), deadline);
    this.jobs.set(job.id, job);
    this.trimJobs();
    job.done = (kind === 'backup' ? this.runBackup(job) : this.runVerify(job)).catch((err: unknown) => {
      this.log.error({ job: job.id, err: String(err) }, 'job crashed');
      job.state = 'failed';
      job.error = { code: 'INTERNAL', message: String(err) };
    });
    return { job, created: true };
  }

  private trimJobs(): void {
    if (this.jobs.size <= KEEP_FINISHED_JOBS) return;
    for (const [id, j] of this.jobs) {
      if (this.jobs.size <= KEEP_FINISHED_JOBS) break;
      if (j.final) this.jobs.delete(id);
    }
  }

  // ---------- running ----------

  private async runBackup(job: Job): Promise<void> {
    const log = this.log.child({
      job: job.id,
      policy: job.policy,
      cluster: job.cluster,
      trigger: job.trigger,
    });
    const signal = job.abort.signal;
    for (;;) {
      let release: () => void;
      try {
        job.state = 'queued';
        release = await this.slots.acquire(job.cluster, signal);
      } catch {
        return this.finish(job, 'cancelled', { code: 'ABORTED', message: 'cancelled before it started' });
      }
      const rt = this.runtime;
      const p = rt.policy(job.policy);
      if (!p || p.cluster !== job.cluster) {
        release();
        return this.finish(job, 'cancelled', {
          code: 'CONFIG_INVALID',
          message: `policy ${job.policy} was removed from the config`,
        });
      }
      const endUse = rt.use();
      job.state = 'running';
      job.attempts++;
      job.nextAttemptAt = null;
      job.startedAt ??= this.clock.now();
      log.info({ attempt: job.attempts }, 'backup attempt started');
      let outcome;
      try {
        outcome = await runBackupJob(
          {
            etcd: rt.etcd(job.cluster),
            catalog: this.catalog,
            metrics: this.opts.metrics,
            logger: this.opts.logger,
            clock: this.clock,
          },
          rt.jobSpec(p),
          { signal },
        );
      } catch (err) {
        const e = toDrError(err);
        outcome = { ok: false, manifest: null, error: e };
      } finally {
        release();
        endUse();
      }
      if (outcome.manifest) job.backupId = outcome.manifest.id;
      if (outcome.ok) return this.finish(job, 'succeeded', null);
      const e = outcome.error ?? new DrError('INTERNAL', 'backup failed without an error');
      job.error = { code: e.code, message: e.message };
      if (signal.aborted || isAbortError(e) || this.stopping)
        return this.finish(job, 'cancelled', { code: 'ABORTED', message: e.message });
      if (PERMANENT.has(e.code)) return this.finish(job, 'failed', job.error);
      const delay = Math.min(
        (this.opts.retryBaseMs ?? 30_000) * 2 ** (job.attempts - 1),
        this.opts.maxRetryDelayMs ?? 600_000,
      );
      const at = new Date(this.clock.now().getTime() + delay);
      if (at >= job.deadline) {
        log.warn({ attempts: job.attempts, code: e.code }, 'no retry: the next scheduled run comes first');
        return this.finish(job, 'failed', job.error);
      }
      job.state = 'retrying';
      job.nextAttemptAt = at;
      log.info({ delayMs: delay, code: e.code }, 'backup attempt failed; retrying');
      try {
        await sleep(delay, undefined, { signal });
      } catch {
        return this.finish(job, 'cancelled', job.error);
      }
    }
  }

  private async runVerify(job: Job): Promise<void> {
    let release: () => void;
    try {
      release = await this.slots.acquire(job.cluster, job.abort.signal);
    } catch {
      return this.finish(job, 'cancelled', { code: 'ABORTED', message: 'cancelled before it started' });
    }
    const rt = this.runtime;
    const endUse = rt.use();
    job.state = 'running';
    job.attempts = 1;
    job.startedAt = this.clock.now();
    const labels = { cluster: job.cluster, policy: job.policy };
    let failure: { code: string; message: string } | null = null;
    try {
      const p = rt.policy(job.policy);
      for (const name of p?.storage ?? []) {
        const target = rt.targets.get(name)!;
        const newest = this.catalog.listBackups(target.backend.location, {
          cluster: job.cluster,
          policy: job.policy,
        })[0];
        if (!newest) continue;
        try {
          const report = await verifyBackup(target.backend, newest.manifest, {
            deep: true,
            signal: job.abort.signal,
          });
          const at = this.clock.now();
          this.catalog.markVerified(target.backend.location, newest.manifest.id, at, report.ok);
          this.opts.metrics.verifications.inc({ ...labels, result: report.ok ? 'success' : 'failure' });
          if (report.ok) this.opts.metrics.lastVerified.set(labels, at.getTime() / 1000);
          else {
            failure ??= {
              code: 'VERIFY_FAILED',
              message: `backup ${newest.manifest.id} on ${name} failed verification`,
            };
            this.log.error(
              { policy: job.policy, storage: name, backup: newest.manifest.id, checks: report.checks },
              'periodic verification failed',
            );
          }
          job.backupId = newest.manifest.id;
        } catch (err) {
          const e = toDrError(err);
          failure ??= { code: e.code, message: e.message };
          this.log.warn(
            { policy: job.policy, storage: name, err: e.message },
            'periodic verification could not run',
          );
        }
      }
    } finally {
      release();
      endUse();
    }
    this.finish(job, failure ? 'failed' : 'succeeded', failure);
  }

  /**
   * The online audit of every configured cluster, one at a time; a run still going when the next is due is
   * not doubled. Findings by cluster and severity, hash divergence per cluster, and whether each endpoint
   * answered replace the previous round's series at the end of the round. A cluster that cannot be
   * audited at all counts one error finding and its endpoints as down.
   */
  auditAll(): Promise<void> {
    if (this.stopping || this.auditing) return this.auditing ?? Promise.resolve();
    this.auditing = (async () => {
      const results: ClusterAuditResult[] = [];
      for (const c of this.runtime.config.clusters) {
        if (this.stopping) return;
        try {
          const report = await auditCluster(this.runtime.etcd(c.name));
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
            this.log.warn(
              { cluster: c.name, findings: bad.map((f) => `${f.code}: ${f.message}`) },
              'online audit found problems',
            );
          else this.log.info({ cluster: c.name }, 'online audit clean');
        } catch (err) {
          results.push({
            cluster: c.name,
            findings: { error: 1 },
            divergent: 0,
            members: c.endpoints.map((e) => ({ endpoint: redactUrl(e), up: false })),
          });
          this.log.warn({ cluster: c.name, err: toDrError(err).message }, 'online audit failed');
        }
      }
      setAuditMetrics(this.opts.metrics, results);
    })().finally(() => {
      this.auditing = null;
    });
    return this.auditing;
  }

  private verifyAll(): void {
    if (this.stopping) return;
    for (const p of this.runtime.config.policies)
      this.enqueue('verify', p, 'periodic-verify', this.defaultDeadline(p));
  }

  private finish(
    job: Job,
    state: 'succeeded' | 'failed' | 'cancelled',
    error: { code: string; message: string } | null,
  ): void {
    job.state = state;
    job.error = error;
    job.nextAttemptAt = null;
    job.finishedAt = this.clock.now();
    const level = state === 'succeeded' ? 'info' : 'warn';
    this.log[level](
      {
        job: job.id,
        kind: job.kind,
        policy: job.policy,
        state,
        attempts: job.attempts,
        backup: job.backupId,
        error,
      },
      'job finished',
    );
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

    this.unschedule();
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
    await this.syncCatalog(next, newTargets);
    for (const p of config.policies) this.seedMetrics(next, p);
    this.schedule(next);
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
    this.unschedule();
    if (this.verifyTimer) clearInterval(this.verifyTimer);
    if (this.auditTimer) clearInterval(this.auditTimer);
    await this.cleaner?.stop();
    await this.auditing;
    const pending = [...this.jobs.values()].filter((j) => !j.final);
    for (const j of pending)
      if (j.state !== 'running') j.abort.abort(new DrError('ABORTED', 'daemon shutting down'));
    const running = pending.filter((j) => j.state === 'running');
    if (running.length > 0) {
      this.log.info({ jobs: running.map((j) => j.id), graceMs }, 'waiting for running jobs');
      const all = Promise.all(running.map((j) => j.done));
      const timer = new AbortController();
      const timedOut = await Promise.race([
        all.then(() => false),
        sleep(graceMs, true, { signal: timer.signal }).catch(() => false),
      ]);
      timer.abort();
      if (timedOut) {
        this.log.warn(
          { jobs: running.filter((j) => !j.final).map((j) => j.id) },
          'grace period over: aborting running jobs',
        );
        for (const j of running) j.abort.abort(new DrError('ABORTED', 'daemon shutting down'));
      }
    }
    await Promise.all(pending.map((j) => j.done));
    await this.runtime.close();
    this.catalog.close();
    this.log.info('daemon stopped');
  }

  // ---------- state for the API and metrics ----------

  job(id: string): JobView | undefined {
    return this.jobs.get(id)?.view();
  }

  listJobs(): JobView[] {
    return [...this.jobs.values()].map((j) => j.view()).reverse();
  }

  clusters(): ClusterState[] {
    const rt = this.runtime;
    const now = this.clock.now();
    return rt.config.clusters.map((c) => ({
      name: c.name,
      endpoints: c.endpoints.map(redactUrl),
      policies: rt.config.policies
        .filter((p) => p.cluster === c.name)
        .map((p) => {
          const last = this.lastSuccess(rt, p);
          const attempt = this.catalog.recentAttempts({ cluster: p.cluster, policy: p.name, limit: 1 })[0];
          return {
            ...policySummary(p),
            lastSuccessAt: last?.toISOString() ?? null,
            lastAttemptAt: attempt?.finishedAt.toISOString() ?? null,
            lastAttemptResult: attempt?.result ?? null,
            nextRunAt: this.tasks.get(p.name)?.getNextRun()?.toISOString() ?? null,
            stale: !last || (now.getTime() - last.getTime()) / 1000 > p.staleAfterSeconds,
          };
        }),
    }));
  }

  backups(filter: { cluster?: string } = {}): BackupListing[] {
    const out: BackupListing[] = [];
    for (const t of this.runtime.targets.values()) {
      for (const b of this.catalog.listBackups(
        t.backend.location,
        filter.cluster ? { cluster: filter.cluster } : {},
      )) {
        out.push({
          id: b.manifest.id,
          cluster: b.manifest.clusterName,
          policy: b.manifest.policy,
          storage: t.name,
          createdAt: b.manifest.createdAt,
          revision: b.manifest.snapshot.revision,
          dbSize: b.manifest.snapshot.dbSize,
          storedSize: b.manifest.stored.size,
          verifiedAt: b.verifiedAt,
          verifyOk: b.verifyOk,
        });
      }
    }
    return out.sort((a, b) =>
      a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : a.storage.localeCompare(b.storage),
    );
  }

  backup(id: string): {
    manifest: Manifest;
    locations: { storage: string; verifiedAt: string | null; verifyOk: boolean | null }[];
  } {
    let manifest: Manifest | null = null;
    const locations: { storage: string; verifiedAt: string | null; verifyOk: boolean | null }[] = [];
    for (const t of this.runtime.targets.values()) {
      const b = this.catalog.getBackup(t.backend.location, id);
      if (!b) continue;
      manifest ??= b.manifest;
      locations.push({ storage: t.name, verifiedAt: b.verifiedAt, verifyOk: b.verifyOk });
    }
    if (!manifest)
      throw new DrError('BACKUP_NOT_FOUND', `no backup ${id} in the catalog of this daemon`, { id });
    return { manifest, locations };
  }

  async ready(timeoutMs = 5000): Promise<ReadyReport> {
    const rt = this.runtime;
    let catalogOk = true;
    let catalogError: string | undefined;
    try {
      this.catalog.recentAttempts({ limit: 1 });
    } catch (err) {
      catalogOk = false;
      catalogError = (err as Error).message;
    }
    const storage = await Promise.all(
      [...rt.targets.values()].map(async (t) => {
        const timeout = new Promise<never>((_, reject) => {
          const timer = setTimeout(
            () =>
              reject(
                new DrError('STORAGE_UNREACHABLE', `${t.backend.location}: no answer within ${timeoutMs} ms`),
              ),
            timeoutMs,
          );
          timer.unref();
        });
        try {
          await Promise.race([t.backend.check(), timeout]);
          return { name: t.name, ok: true };
        } catch (err) {
          return { name: t.name, ok: false, error: toDrError(err, 'STORAGE_FAILED').message };
        }
      }),
    );
    return {
      ready: !this.stopping && catalogOk && storage.every((s) => s.ok),
      config: { loaded: true, file: rt.config.file },
      catalog: catalogOk ? { open: true } : { open: false, error: catalogError },
      storage,
    };
  }

  // ---------- catalog ----------

  private async syncCatalog(rt: Runtime, names: string[]): Promise<void> {
    for (const name of names) {
      const t = rt.targets.get(name);
      if (!t) continue;
      try {
        const r = await t.backend
          .check()
          .then(() => this.catalog.sync(t.backend, { logger: this.opts.logger }));
        this.log.info(
          { storage: name, added: r.added, removed: r.removed, invalid: r.invalid.length },
          'catalog synced with storage',
        );
      } catch (err) {
        this.log.warn(
          { storage: name, err: toDrError(err).message },
          'catalog not synced: storage unavailable; using the cached catalog',
        );
      }
    }
  }

  /** The last backup of the policy committed to its first target and not failed verification. */
  private lastSuccess(rt: Runtime, p: PolicyConfig): Date | null {
    const good = this.goodBackups(rt, p)[0];
    return good ? new Date(good.manifest.completedAt) : null;
  }

  private goodBackups(rt: Runtime, p: PolicyConfig): CatalogBackup[] {
    const primary = rt.targets.get(p.storage[0]!);
    if (!primary) return [];
    return this.catalog
      .listBackups(primary.backend.location, { cluster: p.cluster, policy: p.name })
      .filter((b) => b.verifyOk !== false);
  }

  private seedMetrics(rt: Runtime, p: PolicyConfig): void {
    const good = this.goodBackups(rt, p);
    const newest = good[0];
    const attempt = this.catalog.recentAttempts({ cluster: p.cluster, policy: p.name, limit: 1 })[0];
    let lastVerified: Date | null = null;
    const retained: Record<string, number> = {};
    for (const name of p.storage) {
      const t = rt.targets.get(name);
      if (!t) continue;
      const all = this.catalog.listBackups(t.backend.location, { cluster: p.cluster, policy: p.name });
      retained[name] = all.length;
      for (const b of all) {
        if (b.verifyOk && b.verifiedAt && (!lastVerified || new Date(b.verifiedAt) > lastVerified))
          lastVerified = new Date(b.verifiedAt);
      }
    }
    seedPolicyMetrics(this.opts.metrics, {
      cluster: p.cluster,
      policy: p.name,
      storage: p.storage,
      intervalSeconds: p.expectedIntervalSeconds,
      staleAfterSeconds: p.staleAfterSeconds,
      lastSuccess: newest ? new Date(newest.manifest.completedAt) : null,
      lastAttempt: attempt?.finishedAt ?? null,
      lastVerified,
      lastDbSize: newest?.manifest.snapshot.dbSize ?? null,
      lastStoredSize: newest?.manifest.stored.size ?? null,
      retained,
    });
  }
}

/** node-cron's own messages (missed executions, ...) into the daemon's JSON log. */
function cronLogger(log: Logger) {
  const l = log.child({ component: 'cron' });
  return {
    info: (m: string) => l.info(m),
    warn: (m: string) => l.warn(m),
    error: (m: string | Error, err?: Error) => l.error({ err: String(err ?? m) }, String(m)),
    debug: (m: string | Error) => l.debug(String(m)),
  };
}
