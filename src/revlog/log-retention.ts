/**
 * Retention of the revision log (docs/revision-log.md §1): a segment is removed only when no kept full
 * backup needs it. A restore to revision R starts from the newest full backup at or before R and replays
 * the log from there; so once the oldest full backup that stays has revision B, every segment whose
 * revisions are all at or below B can serve no restore, and neither can a gap record of revisions below B.
 * Nothing newer is touched, and with no full backup left nothing is removed (the log is all there is).
 *
 * Before anything is removed, `<cluster>/log/pruned.json` records the revision retention pruned through
 * (it only grows), so that a reader knows why the oldest segment left names a predecessor that is gone
 * (chain-check.ts) instead of reporting a broken log. Then, per segment, as for backups: the manifest
 * first (the segment stops existing for every reader), then the data object. A data object whose manifest
 * is already gone (a killed writer's, or a removal cut short) goes too when it is at or below B. Only keys
 * the layout parses are removed.
 */
import { z } from 'zod';
import { isDrError, toDrError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Backend } from '../storage/backend.js';
import { logPrefix, parseLogKey, prunedMarkerKey } from './layout.js';
import { readJsonObject, writeJsonObject } from './json-object.js';

const prunedMarkerSchema = z.object({
  formatVersion: z.literal(1),
  kind: z.literal('revlog-pruned'),
  clusterName: z.string(),
  /** every revision at or below it may be gone from the log */
  prunedThrough: z.string().regex(/^\d+$/),
  oldestBackupKept: z.string(),
  at: z.iso.datetime(),
});

/** The revision retention pruned the cluster's log through; null when it never did. */
export async function readPrunedThrough(
  backend: Backend,
  cluster: string,
  signal?: AbortSignal,
): Promise<bigint | null> {
  const key = prunedMarkerKey(cluster);
  try {
    const { value } = await readJsonObject(
      backend,
      key,
      prunedMarkerSchema.refine((m) => m.clusterName === cluster, { error: `not of cluster ${cluster}` }),
      { what: 'retention record', check: 'revlog-pruned' },
      signal,
    );
    return BigInt(value.prunedThrough);
  } catch (err) {
    if (isDrError(err, 'STORAGE_NOT_FOUND')) return null;
    throw err;
  }
}

export interface LogRemoval {
  key: string;
  /** segment-manifest, segment-data (with or without its manifest) or gap */
  kind: string;
  first: string;
  last: string;
  reason: string;
  /** false in a dry run, or when the delete failed (then error says why) */
  removed: boolean;
  error?: string;
}

export interface LogRetentionReport {
  /** the revision of the oldest full backup kept, and its id; null: none is kept, nothing is removed */
  oldestKept: { id: string; revision: string } | null;
  /** log objects kept (segments and gap records) */
  kept: number;
  remove: LogRemoval[];
}

export async function pruneLog(
  backend: Backend,
  cluster: string,
  oldestKept: { id: string; revision: bigint } | null,
  opts: { dryRun?: boolean; signal?: AbortSignal; logger: Logger; now: Date },
): Promise<LogRetentionReport> {
  const report: LogRetentionReport = {
    oldestKept: oldestKept ? { id: oldestKept.id, revision: oldestKept.revision.toString() } : null,
    kept: 0,
    remove: [],
  };
  const objects: { key: string; kind: string; first: bigint; last: bigint }[] = [];
  for await (const o of backend.list(logPrefix(cluster), { signal: opts.signal })) {
    const at = parseLogKey(o.key);
    if (!at || at.cluster !== cluster) continue;
    if (at.kind === 'gap') objects.push({ key: o.key, kind: 'gap', first: at.lostFrom, last: at.lostFrom });
    else objects.push({ key: o.key, kind: at.kind, first: at.first, last: at.last });
  }
  if (!oldestKept) {
    report.kept = objects.filter((o) => o.kind !== 'segment-data' && o.kind !== 'segment-signature').length;
    return report;
  }
  const b = oldestKept.revision;
  const why = `every revision in it is at or below ${b}, the revision of the oldest full backup kept (${oldestKept.id}): no restore replays it`;
  // manifests before their signatures and data objects, so that a removal cut short never leaves a
  // manifest without its data (or its signature)
  const order = (k: string): number =>
    k === 'segment-manifest' ? 0 : k === 'segment-signature' ? 1 : k === 'segment-data' ? 2 : 3;
  const going = objects
    .filter((o) => (o.kind === 'gap' ? o.first < b : o.last <= b))
    .sort((x, y) => order(x.kind) - order(y.kind) || (x.first < y.first ? -1 : x.first > y.first ? 1 : 0));
  report.kept = objects.filter(
    (o) => o.kind !== 'segment-data' && o.kind !== 'segment-signature' && !going.includes(o),
  ).length;
  const log = opts.logger.child({ cluster, component: 'revlog-retention' });
  if (going.length > 0 && !opts.dryRun) {
    const before = await readPrunedThrough(backend, cluster, opts.signal).catch(() => null);
    const through = before !== null && before > b ? before : b;
    const marker = {
      formatVersion: 1,
      kind: 'revlog-pruned',
      clusterName: cluster,
      prunedThrough: through.toString(),
      oldestBackupKept: oldestKept.id,
      at: opts.now.toISOString(),
    };
    await writeJsonObject(backend, prunedMarkerKey(cluster), marker, opts.signal);
  }
  for (const o of going) {
    const entry: LogRemoval = {
      key: o.key,
      kind: o.kind,
      first: o.first.toString(),
      last: o.last.toString(),
      reason:
        o.kind === 'gap'
          ? `a gap at revision ${o.first}, below ${b}, the revision of the oldest full backup kept (${oldestKept.id})`
          : why,
      removed: false,
    };
    report.remove.push(entry);
    if (opts.dryRun) continue;
    opts.signal?.throwIfAborted();
    try {
      await backend.remove(o.key, { signal: opts.signal });
      entry.removed = true;
    } catch (err) {
      entry.error = toDrError(err, 'STORAGE_FAILED').message;
      log.warn({ key: o.key, err: entry.error }, 'retention: log object not removed');
      // a data object stays with its manifest: stop removing what follows this segment's manifest
      if (o.kind === 'segment-manifest') break;
    }
  }
  if (report.remove.some((r) => r.removed))
    log.info(
      { removed: report.remove.filter((r) => r.removed).length, below: b.toString() },
      'retention: log pruned',
    );
  return report;
}
