/**
 * Scheduled restore drills in the daemon: every policy with a `drill:` block has its own cron schedule
 * (in the policy's time zone). At most one drill runs at a time across the whole daemon (a drill starts
 * etcd members and restores a whole db); a firing while one runs is skipped and logged. A drill restores
 * the newest backup of the policy on its drill storage target (drill.ts), records the result in the
 * catalog and exports it (src/metrics/drill-metrics.ts). A policy without a backup yet, or a storage
 * that does not answer, is a failed drill: nothing proved that the policy's backups restore.
 */
import { createTask, type ScheduledTask } from 'node-cron';
import { readIdentityFile } from '../crypto/key-files.js';
import { Catalog, type DrillRecord } from '../catalog/catalog.js';
import type { Config, PolicyConfig } from '../config/load.js';
import { systemClock, type Clock } from '../core/clock.js';
import { manifestTrustOf } from '../config/manifest-keys.js';
import { findManifest } from '../manifest/manifest-store.js';
import { DrError, toDrError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { storageUrlOf } from '../config/connection.js';
import {
  forgetDrillMetrics,
  recordDrillMetrics,
  seedDrillMetrics,
  type DrillMetrics,
} from '../metrics/drill-metrics.js';
import { openBackend as defaultOpenBackend, type OpenBackend } from '../storage/open-backend.js';
import { runDrill, type DrillOptions, type DrillResult } from './drill.js';

export interface DrillSchedulerOptions {
  logger: Logger;
  metrics: DrillMetrics;
  clock?: Clock;
  openBackend?: OpenBackend;
  /** PATH the matching etcd is looked for in (after drill.etcdBinDirs) */
  pathEnv?: string;
  /** overrides for tests */
  runDrill?: (o: DrillOptions) => Promise<DrillResult>;
  timeouts?: DrillOptions['timeouts'];
}

export interface ScheduledDrill {
  cluster: string;
  policy: string;
  schedule: string;
  timezone: string;
  members: number;
  storage: string;
  staleAfterSeconds: number;
  nextRunAt: string | null;
  lastDrill: DrillRecord | null;
}

export class DrillScheduler {
  private readonly tasks = new Map<string, ScheduledTask>();
  private readonly keys = new Map<string, { cluster: string; policy: string }>();
  private running: { policy: string; done: Promise<void>; abort: AbortController } | null = null;
  private stopping = false;
  private readonly clock: Clock;
  private readonly log: Logger;

  private constructor(
    private config: Config,
    private readonly catalog: Catalog,
    private readonly opts: DrillSchedulerOptions,
  ) {
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger.child({ component: 'drill' });
  }

  static start(config: Config, opts: DrillSchedulerOptions): DrillScheduler {
    const s = new DrillScheduler(config, Catalog.open(config.catalog.path), opts);
    s.schedule();
    return s;
  }

  private drilled(): PolicyConfig[] {
    return this.config.policies.filter((p) => p.drill !== null);
  }

  private schedule(): void {
    for (const p of this.drilled()) {
      const d = p.drill!;
      const last = this.catalog.recentDrills({ cluster: p.cluster, policy: p.name, limit: 1 })[0];
      const lastOk = this.catalog.recentDrills({ cluster: p.cluster, policy: p.name, ok: true, limit: 1 })[0];
      seedDrillMetrics(this.opts.metrics, {
        cluster: p.cluster,
        policy: p.name,
        staleAfterSeconds: d.staleAfterSeconds,
        lastDrill: last ? new Date(last.finishedAt) : null,
        lastSuccess: lastOk
          ? { at: new Date(lastOk.finishedAt), durationSeconds: lastOk.durationSeconds }
          : null,
      });
      const task = createTask(d.schedule, () => void this.fire(p.name), {
        timezone: p.timezone,
        name: `drill:${p.name}`,
      });
      this.tasks.set(p.name, task);
      this.keys.set(p.name, { cluster: p.cluster, policy: p.name });
      void task.start();
    }
  }

  private unschedule(): void {
    for (const t of this.tasks.values()) void t.destroy();
    this.tasks.clear();
  }

  /** A new config: new schedules; a running drill finishes; series of removed drills are dropped. */
  reload(config: Config): void {
    this.unschedule();
    const before = new Map(this.keys);
    this.keys.clear();
    this.config = config;
    this.schedule();
    for (const [name, k] of before) {
      const now = this.keys.get(name);
      if (!now || now.cluster !== k.cluster) forgetDrillMetrics(this.opts.metrics, k.cluster, k.policy);
    }
  }

  /** Runs one drill of the policy now (what a firing does); resolves when it is recorded. */
  async fire(policyName: string): Promise<DrillRecord | null> {
    if (this.stopping) return null;
    if (this.running) {
      this.log.warn(
        { policy: policyName, running: this.running.policy },
        'drill skipped: another drill is still running',
      );
      return null;
    }
    const p = this.config.policies.find((x) => x.name === policyName && x.drill !== null);
    if (!p) return null;
    const abort = new AbortController();
    let record: DrillRecord | null = null;
    const done = this.drill(p, abort.signal).then((r) => void (record = r));
    this.running = { policy: p.name, done, abort };
    try {
      await done;
    } finally {
      this.running = null;
    }
    return record;
  }

  private async drill(p: PolicyConfig, signal: AbortSignal): Promise<DrillRecord> {
    const d = p.drill!;
    const started = this.clock.now();
    const target = this.config.storage.find((s) => s.name === d.storage)!;
    let result: DrillRecord;
    const open = this.opts.openBackend ?? defaultOpenBackend;
    let backend: Awaited<ReturnType<OpenBackend>> | undefined;
    try {
      backend = await open(storageUrlOf(target), { logger: this.log });
      const trust = manifestTrustOf(this.config);
      await this.catalog.sync(backend, { cluster: p.cluster, logger: this.log, trust });
      const good = this.catalog.newestGood(backend.location, { cluster: p.cluster, policy: p.name });
      // re-read from storage: checked against its key and, with a verify key, its signature
      const newest = good && {
        manifest: await findManifest(backend, good.manifest.id, good.manifest.clusterName, trust),
      };
      if (!newest)
        throw new DrError(
          'BACKUP_NOT_FOUND',
          `no backup of policy ${p.name} in storage ${d.storage} to drill`,
        );
      this.log.info({ policy: p.name, backup: newest.manifest.id, members: d.members }, 'drill started');
      result = await (this.opts.runDrill ?? runDrill)({
        manifest: newest.manifest,
        backend,
        members: d.members,
        workDir: d.workDir,
        ...(d.bumpRevision !== undefined ? { bumpRevision: d.bumpRevision } : {}),
        etcdBinDirs: d.etcdBinDirs,
        // read at every drill: a key file replaced between drills is picked up without a reload
        identities: d.identityFile ? await readIdentityFile(d.identityFile) : null,
        pathEnv: this.opts.pathEnv ?? '',
        logger: this.log,
        clock: this.clock,
        signal,
        timeouts: this.opts.timeouts,
      });
    } catch (err) {
      const e = toDrError(err, 'INTERNAL', 'drill');
      const at = this.clock.now().toISOString();
      result = {
        ok: false,
        backupId: '',
        cluster: p.cluster,
        policy: p.name,
        storage: backend?.location ?? d.storage,
        startedAt: started.toISOString(),
        finishedAt: at,
        durationSeconds: null,
        error: { code: e.code, message: e.message.split('\n')[0]! },
      } as DrillRecord;
    } finally {
      await backend?.close().catch(() => undefined);
    }
    // the policy's series, whatever cluster name the manifest carries
    result = { ...result, cluster: p.cluster, policy: p.name };
    try {
      this.catalog.recordDrill(result);
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'drill: catalog not updated');
    }
    recordDrillMetrics(this.opts.metrics, {
      cluster: p.cluster,
      policy: p.name,
      ok: result.ok,
      finishedAt: new Date(result.finishedAt),
      durationSeconds: result.durationSeconds,
    });
    const r = result as DrillRecord & { error?: { code: string; message: string } | null };
    if (r.ok)
      this.log.info({ policy: p.name, backup: r.backupId, rtoSeconds: r.durationSeconds }, 'drill succeeded');
    else
      this.log.error(
        { policy: p.name, backup: r.backupId, code: r.error?.code, err: r.error?.message },
        'drill failed',
      );
    return result;
  }

  /** What the API shows: every scheduled drill with its next run and last result. */
  scheduled(): ScheduledDrill[] {
    return this.drilled().map((p) => ({
      cluster: p.cluster,
      policy: p.name,
      schedule: p.drill!.schedule,
      timezone: p.timezone,
      members: p.drill!.members,
      storage: p.drill!.storage,
      staleAfterSeconds: p.drill!.staleAfterSeconds,
      nextRunAt: this.tasks.get(p.name)?.getNextRun()?.toISOString() ?? null,
      lastDrill: this.catalog.recentDrills({ cluster: p.cluster, policy: p.name, limit: 1 })[0] ?? null,
    }));
  }

  recent(filter: { cluster?: string; policy?: string; limit?: number } = {}): DrillRecord[] {
    return this.catalog.recentDrills(filter);
  }

  /** No new drills; a running one gets graceMs, then its signal fires (it still removes what it made). */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    this.unschedule();
    const r = this.running;
    if (r) {
      const timer = setTimeout(() => r.abort.abort(new Error('shutdown')), graceMs);
      await r.done.catch(() => undefined);
      clearTimeout(timer);
    }
    this.catalog.close();
  }
}
