/**
 * The API's read side: the documents of api-types.ts built from the runtime's config, the catalog and
 * the schedules. Nothing here changes state; readiness probes storage with a deadline.
 */
import type { Catalog } from '../catalog/catalog.js';
import { policySummary } from '../config/load.js';
import type { Clock } from '../core/clock.js';
import { DrError, toDrError } from '../core/errors.js';
import { redactUrl } from '../core/redact.js';
import type { BackupDetail, BackupListing, ClusterState, ReadyReport } from '../http/api-types.js';
import { lastSuccess } from './catalog-state.js';
import type { Runtime } from './runtime.js';
import type { PolicyScheduler } from './scheduler.js';

export function clusterStates(
  rt: Runtime,
  catalog: Catalog,
  scheduler: PolicyScheduler,
  clock: Clock,
): ClusterState[] {
  const now = clock.now();
  return rt.config.clusters.map((c) => ({
    name: c.name,
    endpoints: c.endpoints.map(redactUrl),
    policies: rt.config.policies
      .filter((p) => p.cluster === c.name)
      .map((p) => {
        const last = lastSuccess(catalog, rt, p);
        const attempt = catalog.recentAttempts({ cluster: p.cluster, policy: p.name, limit: 1 })[0];
        return {
          ...policySummary(p),
          lastSuccessAt: last?.toISOString() ?? null,
          lastAttemptAt: attempt?.finishedAt.toISOString() ?? null,
          lastAttemptResult: attempt?.result ?? null,
          nextRunAt: scheduler.nextRun(p.name)?.toISOString() ?? null,
          stale: !last || (now.getTime() - last.getTime()) / 1000 > p.staleAfterSeconds,
        };
      }),
  }));
}

/** Every backup of every target, newest first (ties by storage name). */
export function backupListings(rt: Runtime, catalog: Catalog, filter: { cluster?: string }): BackupListing[] {
  const out: BackupListing[] = [];
  for (const t of rt.targets.values()) {
    for (const b of catalog.listBackups(
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

export function backupDetail(rt: Runtime, catalog: Catalog, id: string): BackupDetail {
  let manifest: BackupDetail['manifest'] | null = null;
  const locations: BackupDetail['locations'] = [];
  for (const t of rt.targets.values()) {
    const b = catalog.getBackup(t.backend.location, id);
    if (!b) continue;
    manifest ??= b.manifest;
    locations.push({ storage: t.name, verifiedAt: b.verifiedAt, verifyOk: b.verifyOk });
  }
  if (!manifest)
    throw new DrError('BACKUP_NOT_FOUND', `no backup ${id} in the catalog of this daemon`, { id });
  return { manifest, locations };
}

export async function readyReport(
  rt: Runtime,
  catalog: Catalog,
  stopping: () => boolean,
  timeoutMs: number,
): Promise<ReadyReport> {
  let catalogOk = true;
  let catalogError: string | undefined;
  try {
    catalog.recentAttempts({ limit: 1 });
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
    ready: !stopping() && catalogOk && storage.every((s) => s.ok),
    config: { loaded: true, file: rt.config.file },
    catalog: catalogOk ? { open: true } : { open: false, error: catalogError },
    storage,
  };
}
