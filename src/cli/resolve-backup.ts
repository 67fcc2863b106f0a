import { DrError } from '../core/errors.js';
import type { Catalog } from '../catalog/catalog.js';
import type { Manifest } from '../manifest/manifest.js';
import { findManifest } from '../manifest/manifest-store.js';
import type { Backend } from '../storage/backend.js';

/**
 * An id, or "latest" (newest backup, optionally of one cluster), read from storage (the catalog is only
 * used to find the newest id after a sync).
 */
export async function resolveBackup(
  backend: Backend,
  catalog: Catalog,
  ref: string,
  cluster?: string,
): Promise<Manifest> {
  if (ref === 'latest') {
    await catalog.sync(backend, { cluster });
    const newest = catalog.listBackups(backend.location, { cluster })[0];
    if (!newest)
      throw new DrError(
        'BACKUP_NOT_FOUND',
        `no backups in ${backend.location}${cluster ? ` for cluster ${cluster}` : ''}`,
      );
    return findManifest(backend, newest.manifest.id, newest.manifest.clusterName);
  }
  return findManifest(backend, ref, cluster);
}
