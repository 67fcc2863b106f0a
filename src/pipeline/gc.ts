/**
 * Garbage collection: data objects without a manifest (a backup that failed after its upload, or a crash
 * between upload and manifest) and incomplete uploads. Only leftovers older than minAgeMs are touched, so
 * that a backup in flight in another process is never removed under it. A server that does not
 * implement ListMultipartUploads keeps no incomplete uploads: that part removes 0 and is not an error.
 * An orphan under S3 Object Lock is left alone until its retain-until date (`lockedUntil`): removing it
 * would only hide it behind a delete marker while its locked version stays.
 * Used by `dr gc` and by the daemon's scheduled clean-up (src/jobs/cleanup.ts).
 */
import type { Clock } from '../core/clock.js';
import { listStorage } from '../manifest/manifest-store.js';
import { isDrError } from '../core/errors.js';
import type { Backend } from '../storage/backend.js';
import { bindSignal } from '../storage/cancel.js';

export interface GcResult {
  orphans: { key: string; size: number; lastModified: string; removed: boolean; lockedUntil?: string }[];
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
    const lockedUntil = old ? await retainedUntil(backend, o.key, now) : null;
    const remove = old && !lockedUntil;
    if (remove && !opts.dryRun) await backend.remove(o.key);
    result.orphans.push({
      key: o.key,
      size: o.size,
      lastModified: o.lastModified.toISOString(),
      removed: remove && !opts.dryRun,
      ...(lockedUntil ? { lockedUntil: lockedUntil.toISOString() } : {}),
    });
  }
  if (!opts.dryRun)
    result.incompleteUploadsRemoved = await backend.cleanupIncomplete(
      opts.cluster ? `${opts.cluster}/` : '',
      opts.minAgeMs,
    );
  return result;
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
