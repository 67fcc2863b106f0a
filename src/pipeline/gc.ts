/**
 * Garbage collection: objects of backups without a manifest (a backup that failed after its upload, a
 * crash between upload and manifest, a signature whose manifest never came, what a cut-short retention
 * delete left) and incomplete uploads. Right before each removal the manifest's absence is checked again,
 * so a backup committed after the listing keeps its data. Only leftovers older than minAgeMs are touched, so
 * that a backup in flight in another process is never removed under it. A server that does not
 * implement ListMultipartUploads keeps no incomplete uploads: that part removes 0 and is not an error.
 * An orphan under S3 Object Lock is left alone until its retain-until date (`lockedUntil`): removing it
 * would only hide it behind a delete marker while its locked version stays.
 * Used by `dr gc` and by the daemon's scheduled clean-up (src/jobs/cleanup.ts).
 */
import type { Clock } from '../core/clock.js';
import { isDrError } from '../core/errors.js';
import { manifestKey } from '../manifest/layout.js';
import { listStorage } from '../manifest/manifest-store.js';
import type { Backend } from '../storage/backend.js';
import { bindSignal } from '../storage/cancel.js';

export interface GcResult {
  /**
   * objects of backups without a manifest; `saved`: its manifest appeared after the listing (a backup
   * committed meanwhile), so it was kept; `lockedUntil`: kept under S3 Object Lock until then
   */
  orphans: {
    key: string;
    size: number;
    lastModified: string;
    removed: boolean;
    saved?: boolean;
    lockedUntil?: string;
  }[];
  incompleteUploadsRemoved: number;
}

export async function collectStorageGarbage(
  storage: Backend,
  opts: { clock: Clock; minAgeMs: number; dryRun: boolean; cluster?: string; signal?: AbortSignal },
): Promise<GcResult> {
  // Every request, the listing included, ends when the signal fires (SIGTERM, the daemon stopping).
  const backend = bindSignal(storage, opts.signal);
  const { orphans } = await listStorage(backend, opts.cluster);
  const now = opts.clock.now().getTime();
  const result: GcResult = { orphans: [], incompleteUploadsRemoved: 0 };
  for (const o of orphans) {
    const old = now - o.lastModified.getTime() >= opts.minAgeMs;
    const entry: GcResult['orphans'][number] = {
      key: o.key,
      size: o.size,
      lastModified: o.lastModified.toISOString(),
      removed: false,
    };
    result.orphans.push(entry);
    if (!old) continue;
    const lockedUntil = await retainedUntil(backend, o.key, now);
    if (lockedUntil) {
      entry.lockedUntil = lockedUntil.toISOString();
      continue;
    }
    if (opts.dryRun) continue;
    // The listing may be minutes old: a backup that committed since then owns this object now.
    if (await objectExists(backend, manifestKey(o.cluster, o.id))) {
      entry.saved = true;
      continue;
    }
    await backend.remove(o.key);
    entry.removed = true;
  }
  if (!opts.dryRun)
    result.incompleteUploadsRemoved = await backend.cleanupIncomplete(
      opts.cluster ? `${opts.cluster}/` : '',
      opts.minAgeMs,
    );
  return result;
}

/** Whether the object exists now (a manifest written after a listing). */
export async function objectExists(backend: Backend, key: string): Promise<boolean> {
  try {
    await backend.stat(key);
    return true;
  } catch (err) {
    if (isDrError(err, 'STORAGE_NOT_FOUND')) return false;
    throw err;
  }
}

/** The object's Object Lock retain-until date when it is still in the future (listings do not carry it). */
async function retainedUntil(backend: Backend, key: string, now: number): Promise<Date | null> {
  try {
    const info = await backend.stat(key);
    return info.retainUntil && info.retainUntil.getTime() > now ? info.retainUntil : null;
  } catch (err) {
    if (isDrError(err, 'STORAGE_NOT_FOUND')) return null;
    throw err;
  }
}
