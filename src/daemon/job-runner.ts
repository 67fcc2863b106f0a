/**
 * Runs one job to its final state: a backup with retries (exponential backoff, never past the job's
 * deadline, none for an error a retry cannot fix), or the deep verification of each target's newest
 * backup of the policy. Each run takes its cluster's slot and uses the runtime current when it starts.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Catalog } from '../catalog/catalog.js';
import type { Clock } from '../core/clock.js';
import { DrError, isAbortError, toDrError, type ErrorCode } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { runBackupJob } from '../jobs/backup-job.js';
import type { LeaseSettings } from '../jobs/leased.js';
import type { DrMetrics } from '../metrics/metrics.js';
import { recordVerification } from '../jobs/record-verification.js';
import { verifyBackup } from '../pipeline/verify.js';
import type { ClusterSlots } from './cluster-slots.js';
import type { Job } from './job.js';
import type { Runtime } from './runtime.js';

/** Errors a retry cannot fix: configuration, credentials, cancellation. */
const PERMANENT: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'USAGE',
  'CONFIG_INVALID',
  'STORAGE_URL_INVALID',
  'TLS_FILE_UNREADABLE',
  'OBJECT_LOCK_UNAVAILABLE',
  'ETCD_AUTH_FAILED',
  'ETCD_PERMISSION_DENIED',
  'STORAGE_ACCESS_DENIED',
  'ABORTED',
]);

export interface JobRunnerDeps {
  /** the runtime current now (a reload replaces it) */
  runtime: () => Runtime;
  /** true once the daemon stops: a failed attempt is then cancelled, not retried */
  stopping: () => boolean;
  slots: ClusterSlots;
  catalog: Catalog;
  metrics: DrMetrics;
  /** the daemon component's logger, for the jobs' own lines */
  log: Logger;
  /** the daemon's root logger, handed to the backup itself */
  logger: Logger;
  clock: Clock;
  /** who holds a cluster's lease while retention runs after a backup */
  lease?: LeaseSettings;
  /** first retry delay; doubles per attempt up to maxRetryDelayMs. @default 30000 */
  retryBaseMs?: number;
  /** @default 600000 */
  maxRetryDelayMs?: number;
}

export class JobRunner {
  constructor(private readonly d: JobRunnerDeps) {}

  run(job: Job): Promise<void> {
    return job.kind === 'backup' ? this.runBackup(job) : this.runVerify(job);
  }

  private async runBackup(job: Job): Promise<void> {
    const d = this.d;
    const log = d.log.child({
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
        release = await d.slots.acquire(job.cluster, signal);
      } catch {
        return this.finish(job, 'cancelled', { code: 'ABORTED', message: 'cancelled before it started' });
      }
      const rt = d.runtime();
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
      job.startedAt ??= d.clock.now();
      log.info({ attempt: job.attempts }, 'backup attempt started');
      let outcome;
      try {
        outcome = await runBackupJob(
          {
            etcd: rt.etcd(job.cluster),
            catalog: d.catalog,
            metrics: d.metrics,
            logger: d.logger,
            clock: d.clock,
            ...(d.lease ? { lease: d.lease } : {}),
          },
          rt.jobSpec(p, d.clock),
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
      if (signal.aborted || isAbortError(e) || d.stopping())
        return this.finish(job, 'cancelled', { code: 'ABORTED', message: e.message });
      if (PERMANENT.has(e.code)) return this.finish(job, 'failed', job.error);
      const delay = Math.min(
        (d.retryBaseMs ?? 30_000) * 2 ** (job.attempts - 1),
        d.maxRetryDelayMs ?? 600_000,
      );
      const at = new Date(d.clock.now().getTime() + delay);
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
    const d = this.d;
    let release: () => void;
    try {
      release = await d.slots.acquire(job.cluster, job.abort.signal);
    } catch {
      return this.finish(job, 'cancelled', { code: 'ABORTED', message: 'cancelled before it started' });
    }
    const rt = d.runtime();
    const endUse = rt.use();
    job.state = 'running';
    job.attempts = 1;
    job.startedAt = d.clock.now();
    const labels = { cluster: job.cluster, policy: job.policy };
    let failure: { code: string; message: string } | null = null;
    try {
      const p = rt.policy(job.policy);
      for (const name of p?.storage ?? []) {
        const target = rt.targets.get(name)!;
        const newest = d.catalog.newestGood(target.backend.location, {
          cluster: job.cluster,
          policy: job.policy,
        });
        if (!newest) continue;
        try {
          const report = await verifyBackup(target.backend, newest.manifest, {
            deep: true,
            signal: job.abort.signal,
          });
          const at = d.clock.now();
          await recordVerification(
            { catalog: d.catalog, logger: d.log },
            target.backend,
            newest.manifest,
            report,
            at,
            job.abort.signal,
          );
          d.metrics.verifications.inc({ ...labels, result: report.ok ? 'success' : 'failure' });
          if (report.ok) d.metrics.lastVerified.set(labels, at.getTime() / 1000);
          else {
            failure ??= {
              code: 'VERIFY_FAILED',
              message: `backup ${newest.manifest.id} on ${name} failed verification`,
            };
            d.log.error(
              { policy: job.policy, storage: name, backup: newest.manifest.id, checks: report.checks },
              'periodic verification failed',
            );
          }
          job.backupId = newest.manifest.id;
        } catch (err) {
          const e = toDrError(err);
          failure ??= { code: e.code, message: e.message };
          d.log.warn(
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

  private finish(
    job: Job,
    state: 'succeeded' | 'failed' | 'cancelled',
    error: { code: string; message: string } | null,
  ): void {
    job.state = state;
    job.error = error;
    job.nextAttemptAt = null;
    job.finishedAt = this.d.clock.now();
    const level = state === 'succeeded' ? 'info' : 'warn';
    this.d.log[level](
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
}
