/**
 * Applies a policy's retention to one storage target: gathers the facts (backups from the catalog with
 * their verification state, the newest failed attempt, S3 Object Lock dates), lets the pure
 * applyRetention decide, then deletes.
 *
 * Delete order per backup: the manifest first (the backup stops existing for every reader), then the
 * catalog row, then the data object. A crash or error between the two leaves a data object without a
 * manifest, which `dr gc` collects; never a manifest pointing at missing data.
 */
import { isGoodBackup, type Catalog, type CatalogBackup } from '../catalog/catalog.js';
import type { Clock } from '../core/clock.js';
import { isDrError, toDrError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { dataKeyFor, manifestKey, signatureKey, verificationPrefix } from '../manifest/layout.js';
import { manifestKeyMismatch } from '../manifest/manifest-key-check.js';
import type { DrMetrics } from '../metrics/metrics.js';
import { applyRetention, type RetentionInput, type RetentionPolicy } from '../retention/apply-retention.js';
import type { StorageTarget } from '../storage/backend.js';
import { pruneLog, type LogRetentionReport } from '../revlog/log-retention.js';

export interface RetentionScope {
  cluster: string;
  /** null: every backup of the cluster, whatever policy made it (`dr prune --storage ... --keep-*`) */
  policy: string | null;
  rules: RetentionPolicy;
  timezone: string;
}

export interface RetentionDeps {
  catalog: Catalog;
  logger: Logger;
  clock: Clock;
  metrics?: DrMetrics;
}

export interface KeptBackup {
  id: string;
  createdAt: string;
  reasons: string[];
}

export interface RemovedBackup {
  id: string;
  createdAt: string;
  reason: string;
  /** false in a dry run, or when the delete failed (then error says why) */
  removed: boolean;
  error?: string;
}

export interface RetentionReport {
  cluster: string;
  policy: string | null;
  storage: string;
  location: string;
  dryRun: boolean;
  /** set when nothing is removed because the newest backup or attempt failed */
  suspended: string | null;
  keep: KeptBackup[];
  remove: RemovedBackup[];
  /** the cluster's revision log in this storage: the segments no kept backup needs (revlog/log-retention.ts) */
  log: LogRetentionReport;
}

/** Stands for a failed attempt newer than every backup, so that the retention module suspends removal. */
const FAILED_ATTEMPT_ID = '(failed attempt)';

export function retentionStatus(b: CatalogBackup): RetentionInput['status'] {
  if (!isGoodBackup(b)) return 'failed';
  return b.verifyOk === true ? 'verified' : 'ok';
}

export async function runRetention(
  deps: RetentionDeps,
  target: StorageTarget,
  scope: RetentionScope,
  opts: { dryRun?: boolean; signal?: AbortSignal } = {},
): Promise<RetentionReport> {
  const { catalog, clock } = deps;
  const log = deps.logger.child({ cluster: scope.cluster, policy: scope.policy, storage: target.name });
  const location = target.backend.location;
  const now = clock.now();
  // Only backups whose manifest belongs where it sits take part: every key deleted below is derived from
  // the layout (cluster and id), and one that does not match is neither counted nor removed.
  const backups = catalog
    .listBackups(location, {
      cluster: scope.cluster,
      ...(scope.policy !== null ? { policy: scope.policy } : {}),
    })
    .filter((b) => {
      const bad = manifestKeyMismatch(b.manifest, manifestKey(scope.cluster, b.manifest.id));
      if (bad)
        log.warn(
          { backup: b.manifest.id, field: bad.field },
          'retention: manifest does not match its key; left alone',
        );
      return !bad;
    });
  const byId = new Map(backups.map((b) => [b.manifest.id, b]));

  const inputs: RetentionInput[] = backups.map((b) => ({
    id: b.manifest.id,
    createdAt: b.manifest.createdAt,
    status: retentionStatus(b),
  }));
  const lastAttempt = catalog
    .recentAttempts({
      cluster: scope.cluster,
      ...(scope.policy !== null ? { policy: scope.policy } : {}),
      limit: 20,
    })
    .find((a) => a.storage === location);
  const newest = backups[0];
  if (
    lastAttempt?.result === 'failure' &&
    (!newest || lastAttempt.startedAt.getTime() > Date.parse(newest.manifest.createdAt))
  ) {
    inputs.push({ id: FAILED_ATTEMPT_ID, createdAt: lastAttempt.startedAt, status: 'failed' });
  }

  let decision = applyRetention(inputs, scope.rules, { now, timezone: scope.timezone });
  // Object Lock dates are only known to storage; ask for the ones about to go, and decide again if
  // any is locked (deleting it would fail, and the retention module must say why it stays).
  if (decision.remove.length > 0) {
    let locked = false;
    for (const r of decision.remove) {
      const b = byId.get(r.id);
      if (!b) continue;
      opts.signal?.throwIfAborted();
      try {
        const info = await target.backend.stat(dataKeyFor(b.manifest), { signal: opts.signal });
        if (info.retainUntil && info.retainUntil > now) {
          const input = inputs.find((i) => i.id === r.id);
          if (input) input.retainUntil = info.retainUntil;
          locked = true;
        }
      } catch (err) {
        if (!isDrError(err, 'STORAGE_NOT_FOUND')) throw err;
      }
    }
    if (locked) decision = applyRetention(inputs, scope.rules, { now, timezone: scope.timezone });
  }

  const created = (id: string): string => byId.get(id)?.manifest.createdAt ?? '';
  const report: RetentionReport = {
    cluster: scope.cluster,
    policy: scope.policy,
    storage: target.name,
    location,
    dryRun: Boolean(opts.dryRun),
    suspended: decision.suspended,
    keep: decision.keep
      .filter((k) => k.id !== FAILED_ATTEMPT_ID)
      .map((k) => ({ id: k.id, createdAt: created(k.id), reasons: k.reasons })),
    remove: [],
    log: { oldestKept: null, kept: 0, remove: [] },
  };

  const labels = { cluster: scope.cluster, policy: scope.policy ?? '', storage: target.name };
  for (const r of decision.remove) {
    const b = byId.get(r.id);
    if (!b) continue;
    const entry: RemovedBackup = {
      id: r.id,
      createdAt: b.manifest.createdAt,
      reason: r.reason,
      removed: false,
    };
    report.remove.push(entry);
    if (opts.dryRun) continue;
    opts.signal?.throwIfAborted();
    try {
      await target.backend.remove(manifestKey(b.manifest.clusterName, b.manifest.id), {
        signal: opts.signal,
      });
    } catch (err) {
      entry.error = toDrError(err, 'STORAGE_FAILED').message;
      log.warn({ backup: r.id, err: entry.error }, 'retention: manifest not removed; backup kept');
      continue;
    }
    entry.removed = true;
    catalog.removeBackup(location, r.id);
    if (scope.policy !== null) deps.metrics?.retentionDeletions.inc(labels);
    try {
      await removeBackupObjects(
        target,
        b.manifest.clusterName,
        b.manifest.id,
        dataKeyFor(b.manifest),
        opts.signal,
      );
    } catch (err) {
      // The backup is gone (no manifest); what is left of it is an orphan for `dr gc`.
      log.warn({ backup: r.id, err: toDrError(err).message }, 'retention: objects left for gc');
    }
    log.info({ backup: r.id, reason: r.reason }, 'retention: backup removed');
  }
  if (scope.policy !== null && !opts.dryRun) {
    deps.metrics?.retained.set(labels, report.keep.length + report.remove.filter((r) => !r.removed).length);
  }
  // The log extends every full backup of the cluster in this storage, whatever policy made it: what stays
  // is decided by the oldest of them that stays (a removal that failed keeps its backup).
  const going = new Set(report.remove.filter((r) => opts.dryRun || r.removed).map((r) => r.id));
  const staying = catalog
    .listBackups(location, { cluster: scope.cluster })
    .filter((b) => !going.has(b.manifest.id))
    .map((b) => ({ id: b.manifest.id, revision: BigInt(b.manifest.snapshot.revision) }))
    .sort((a, b) => (a.revision < b.revision ? -1 : a.revision > b.revision ? 1 : 0));
  report.log = await pruneLog(target.backend, scope.cluster, staying[0] ?? null, {
    dryRun: opts.dryRun,
    signal: opts.signal,
    logger: log,
    now,
  });
  return report;
}

/**
 * What is left of a backup once its manifest is gone: the data object, the signature and the
 * verification records, every key derived from the layout.
 */
async function removeBackupObjects(
  target: StorageTarget,
  cluster: string,
  id: string,
  data: string,
  signal?: AbortSignal,
): Promise<void> {
  await target.backend.remove(data, { signal });
  await target.backend.remove(signatureKey(cluster, id), { signal });
  const records: string[] = [];
  for await (const o of target.backend.list(verificationPrefix(cluster, id), { signal })) records.push(o.key);
  for (const key of records) await target.backend.remove(key, { signal });
}
