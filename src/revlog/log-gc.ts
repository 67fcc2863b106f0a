/**
 * Garbage of the revision log: a segment's data object or signature whose manifest never came (a writer
 * killed between its puts, a manifest write that failed). Readers ignore them (docs/revision-log.md §1);
 * retention removes them once they are at or below the oldest full backup kept (§8); `dr gc` and the
 * daemon's clean-up remove them earlier, when they are older than the same minimum age as a backup's
 * leftovers, so that a writer's segment in flight (data object written, manifest a moment later) is never
 * removed under it. Right before each removal the manifest's absence is checked again.
 */
import type { Clock } from '../core/clock.js';
import { objectExists } from '../pipeline/gc.js';
import type { Backend } from '../storage/backend.js';
import { parseLogKey, segmentManifestKey } from './layout.js';

export interface LogOrphan {
  key: string;
  size: number;
  lastModified: string;
  removed: boolean;
  /** its manifest appeared after the listing: kept */
  saved?: boolean;
}

export async function collectLogGarbage(
  backend: Backend,
  opts: { clock: Clock; minAgeMs: number; dryRun: boolean; cluster?: string; signal?: AbortSignal },
): Promise<LogOrphan[]> {
  const manifests = new Set<string>();
  const others: { key: string; manifest: string; size: number; lastModified: Date }[] = [];
  for await (const o of backend.list(opts.cluster ? `${opts.cluster}/` : '', { signal: opts.signal })) {
    const at = parseLogKey(o.key);
    if (!at || at.kind === 'gap' || (opts.cluster && at.cluster !== opts.cluster)) continue;
    const manifest = segmentManifestKey(at.cluster, at.first, at.last);
    if (at.kind === 'segment-manifest') manifests.add(o.key);
    else others.push({ key: o.key, manifest, size: o.size, lastModified: o.lastModified });
  }
  const now = opts.clock.now().getTime();
  const out: LogOrphan[] = [];
  for (const o of others) {
    if (manifests.has(o.manifest)) continue;
    const entry: LogOrphan = {
      key: o.key,
      size: o.size,
      lastModified: o.lastModified.toISOString(),
      removed: false,
    };
    out.push(entry);
    if (now - o.lastModified.getTime() < opts.minAgeMs || opts.dryRun) continue;
    opts.signal?.throwIfAborted();
    if (await objectExists(backend, o.manifest)) {
      entry.saved = true;
      continue;
    }
    await backend.remove(o.key, { signal: opts.signal });
    entry.removed = true;
  }
  return out;
}
