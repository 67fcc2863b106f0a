import { DrError } from '../core/errors.js';
import type { Catalog } from '../catalog/catalog.js';
import type { Manifest } from '../manifest/manifest.js';
import type { ManifestTrust } from '../manifest/manifest-signature.js';
import { findManifest } from '../manifest/manifest-store.js';
import type { Backend } from '../storage/backend.js';

/**
 * An id, or "latest" (the newest good backup, optionally of one cluster: one whose latest verification,
 * here or on any host that left a record in storage, did not fail), read from storage and checked against
 * its key and, with verify keys, its signature (the catalog is only used to find the newest id after a
 * sync). `dr verify --latest` passes `includeFailed`: it means the newest backup whatever its last
 * verdict, since a new verification is how a failed one (a storage fault meanwhile repaired) is cleared.
 */
export async function resolveBackup(
  backend: Backend,
  catalog: Catalog,
  ref: string,
  cluster: string | undefined,
  trust: ManifestTrust,
  opts: { includeFailed?: boolean } = {},
): Promise<Manifest> {
  if (ref === 'latest') {
    await catalog.sync(backend, { cluster, trust });
    const newest = opts.includeFailed
      ? catalog.listBackups(backend.location, { cluster })[0]
      : catalog.newestGood(backend.location, { cluster });
    if (!newest)
      throw new DrError(
        'BACKUP_NOT_FOUND',
        opts.includeFailed
          ? `no backup in ${backend.location}${cluster ? ` for cluster ${cluster}` : ''}`
          : `no good backup in ${backend.location}${cluster ? ` for cluster ${cluster}` : ''} (none, or every one failed its latest verification)`,
      );
    return findManifest(backend, newest.manifest.id, newest.manifest.clusterName, trust);
  }
  return findManifest(backend, ref, cluster, trust);
}
