/**
 * What the catalog says about a policy: syncing the catalog with storage, the last good backup, and the
 * metrics seeded from it at start and reload (so a restarted daemon does not look stale).
 */
import { isGoodBackup, type Catalog, type CatalogBackup } from '../catalog/catalog.js';
import type { PolicyConfig } from '../config/load.js';
import { toDrError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { seedPolicyMetrics, type DrMetrics } from '../metrics/metrics.js';
import type { Runtime } from './runtime.js';

/**
 * Brings the catalog up to date with the named storage targets; a target that does not answer is
 * logged and its cached rows are kept.
 */
export async function syncCatalog(
  catalog: Catalog,
  rt: Runtime,
  names: string[],
  log: Logger,
  logger: Logger,
): Promise<void> {
  for (const name of names) {
    const t = rt.targets.get(name);
    if (!t) continue;
    try {
      const r = await t.backend.check().then(() => catalog.sync(t.backend, { logger, trust: rt.trust }));
      log.info(
        { storage: name, added: r.added, removed: r.removed, invalid: r.invalid.length },
        'catalog synced with storage',
      );
    } catch (err) {
      log.warn(
        { storage: name, err: toDrError(err).message },
        'catalog not synced: storage unavailable; using the cached catalog',
      );
    }
  }
}

/** The last good backup of the policy (catalog.ts isGoodBackup) committed to its first target. */
export function lastSuccess(catalog: Catalog, rt: Runtime, p: PolicyConfig): Date | null {
  const good = goodBackups(catalog, rt, p)[0];
  return good ? new Date(good.manifest.completedAt) : null;
}

function goodBackups(catalog: Catalog, rt: Runtime, p: PolicyConfig): CatalogBackup[] {
  const primary = rt.targets.get(p.storage[0]!);
  if (!primary) return [];
  return catalog
    .listBackups(primary.backend.location, { cluster: p.cluster, policy: p.name })
    .filter(isGoodBackup);
}

export function seedMetrics(catalog: Catalog, rt: Runtime, p: PolicyConfig, metrics: DrMetrics): void {
  const good = goodBackups(catalog, rt, p);
  const newest = good[0];
  const attempt = catalog.recentAttempts({ cluster: p.cluster, policy: p.name, limit: 1 })[0];
  let lastVerified: Date | null = null;
  const retained: Record<string, number> = {};
  for (const name of p.storage) {
    const t = rt.targets.get(name);
    if (!t) continue;
    const all = catalog.listBackups(t.backend.location, { cluster: p.cluster, policy: p.name });
    retained[name] = all.length;
    for (const b of all) {
      if (b.verifyOk && b.verifiedAt && (!lastVerified || new Date(b.verifiedAt) > lastVerified))
        lastVerified = new Date(b.verifiedAt);
    }
  }
  seedPolicyMetrics(metrics, {
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
