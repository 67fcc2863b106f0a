/**
 * Where a writer starts (docs/revision-log.md §6): after the chain head, the committed segment with the
 * highest last revision, when the cluster has a log; at the start of the chain a gap record began, when
 * that gap is past the head (the chain has no segment yet); otherwise one revision after the newest full
 * backup (or a revision given by the operator), as a new chain.
 *
 * The head is checked against the segment before it (its manifest's sha256 and the revisions): a head
 * that does not link is a broken chain, reported so that the writer records it and starts a new chain.
 * Only those two manifests are read: the whole chain is the readers' job (`dr inspect log`), and a
 * restart should not read a day of manifests.
 */
import { randomBytes } from 'node:crypto';
import { DrError, isDrError } from '../core/errors.js';
import { listStorage, readManifest } from '../manifest/manifest-store.js';
import type { Backend } from '../storage/backend.js';
import { readGapRecord } from './gap.js';
import { logPrefix, parseLogKey } from './layout.js';
import { readPrunedThrough } from './log-retention.js';
import { readSegmentManifest, type ReadSegmentManifest } from './segment-manifest.js';

/** Chain ids sort by the time the chain started: `<yyyymmddThhmmssZ>-<8 hex>`. */
export function newChainId(at: Date): string {
  const stamp = at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}Z$/, 'Z');
  return `${stamp}-${randomBytes(4).toString('hex')}`;
}

export interface ResumePoint {
  /** the first revision to log */
  startRevision: bigint;
  chainId: string;
  chainStartRevision: bigint;
  /** sha256 of the head's manifest (continue the chain), null for a new chain */
  prevSha256: string | null;
  reason: 'chain-head' | 'after-gap' | 'full-backup' | 'requested';
  head: ReadSegmentManifest | null;
  /** the backup a new chain starts after */
  backupId?: string;
  /** set when the head does not link to the segment before it: the writer records a gap */
  broken?: string;
}

async function newestBackup(
  backend: Backend,
  cluster: string,
  signal?: AbortSignal,
): Promise<{ id: string; revision: bigint } | null> {
  const { manifests } = await listStorage(backend, cluster);
  const ids = [...manifests.values()]
    .filter((m) => m.cluster === cluster)
    .sort((a, b) => (a.id < b.id ? 1 : -1));
  for (const hit of ids) {
    signal?.throwIfAborted();
    try {
      const m = await readManifest(backend, hit.key);
      return { id: m.id, revision: BigInt(m.snapshot.revision) };
    } catch (err) {
      // a refused manifest is not a base to start from; an older one may be
      if (!isDrError(err, 'MANIFEST_MISMATCH') && !isDrError(err, 'VERIFY_FAILED')) throw err;
    }
  }
  return null;
}

/**
 * The new chain a gap record started, when no segment of it was committed yet (the writer stopped right
 * after the gap): the next writer starts that chain rather than finding the same gap again.
 */
async function chainAfterGap(
  backend: Backend,
  gaps: { key: string; lostFrom: bigint }[],
  after: bigint,
  signal?: AbortSignal,
): Promise<ResumePoint | null> {
  const newest = gaps.filter((g) => g.lostFrom >= after).sort((a, b) => (a.key < b.key ? 1 : -1))[0];
  if (!newest) return null;
  const g = await readGapRecord(backend, newest.key, signal);
  if (g.resumedFrom === null || g.newChainId === null) return null;
  const start = BigInt(g.resumedFrom);
  return {
    startRevision: start,
    chainId: g.newChainId,
    chainStartRevision: start,
    prevSha256: null,
    reason: 'after-gap',
    head: null,
  };
}

export async function findResumePoint(
  backend: Backend,
  cluster: string,
  opts: { fromRevision?: bigint; now: Date; signal?: AbortSignal },
): Promise<ResumePoint> {
  const keys: { key: string; first: bigint; last: bigint }[] = [];
  const gaps: { key: string; lostFrom: bigint }[] = [];
  for await (const o of backend.list(logPrefix(cluster), { signal: opts.signal })) {
    const at = parseLogKey(o.key);
    if (at?.cluster !== cluster) continue;
    if (at.kind === 'segment-manifest') keys.push({ key: o.key, first: at.first, last: at.last });
    else if (at.kind === 'gap') gaps.push({ key: o.key, lostFrom: at.lostFrom });
  }
  const headLast = keys.reduce((top, k) => (k.last > top ? k.last : top), -1n);
  const afterGap = await chainAfterGap(backend, gaps, headLast + 1n, opts.signal);
  if (afterGap) return afterGap;
  if (keys.length > 0) {
    keys.sort((a, b) => (a.last < b.last ? 1 : a.last > b.last ? -1 : 0));
    const head = await readSegmentManifest(backend, keys[0]!.key, opts.signal);
    const m = head.manifest;
    const point: ResumePoint = {
      startRevision: BigInt(m.lastRevision) + 1n,
      chainId: m.chainId,
      chainStartRevision: BigInt(m.chainStartRevision),
      prevSha256: head.sha256,
      reason: 'chain-head',
      head,
    };
    // a head whose predecessor retention removed (log-retention.ts) is where the log now begins
    const pruned = await readPrunedThrough(backend, cluster, opts.signal);
    if (m.prevSha256 !== null && !(pruned !== null && BigInt(m.firstRevision) - 1n <= pruned)) {
      const before = keys.find((k) => k.last === BigInt(m.firstRevision) - 1n);
      let prev: ReadSegmentManifest | null = null;
      if (before) {
        try {
          prev = await readSegmentManifest(backend, before.key, opts.signal);
        } catch (err) {
          if (!isDrError(err, 'VERIFY_FAILED') && !isDrError(err, 'MANIFEST_MISMATCH')) throw err;
        }
      }
      if (!prev || prev.sha256 !== m.prevSha256 || prev.manifest.chainId !== m.chainId)
        point.broken = `the chain head ${head.key} names a previous manifest of sha256 ${m.prevSha256}, but ${before ? `${before.key} ${prev ? `has sha256 ${prev.sha256}${prev.manifest.chainId !== m.chainId ? ` and belongs to chain ${prev.manifest.chainId}` : ''}` : 'cannot be read'}` : `no segment ends at revision ${BigInt(m.firstRevision) - 1n}`}`;
    }
    return point;
  }
  if (opts.fromRevision !== undefined)
    return {
      startRevision: opts.fromRevision,
      chainId: newChainId(opts.now),
      chainStartRevision: opts.fromRevision,
      prevSha256: null,
      reason: 'requested',
      head: null,
    };
  const backup = await newestBackup(backend, cluster, opts.signal);
  if (!backup)
    throw new DrError(
      'REVLOG_NOT_FOUND',
      `revlog: cluster ${cluster} in ${backend.location} has no revision log and no full backup to start one from: take a backup first (dr backup), or give the revision to start at (--from-rev)`,
      { cluster },
    );
  return {
    startRevision: backup.revision + 1n,
    chainId: newChainId(opts.now),
    chainStartRevision: backup.revision + 1n,
    prevSha256: null,
    reason: 'full-backup',
    head: null,
    backupId: backup.id,
  };
}
