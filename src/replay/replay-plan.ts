/**
 * What a point-in-time restore replays (docs/revision-log.md §9): the revision asked for (or the one a
 * time resolves to), the newest full backup at or before it, and the segments of the log that hold every
 * revision after that backup up to it. Refuses, naming what is missing, when the log does not reach the
 * revision without a hole; never guesses a nearby revision.
 */
import { DrError, isDrError } from '../core/errors.js';
import type { AgeIdentities } from '../crypto/age-keys.js';
import type { Manifest } from '../manifest/manifest.js';
import { listStorage, readManifest } from '../manifest/manifest-store.js';
import { NO_TRUST, type ManifestTrust } from '../manifest/manifest-signature.js';
import { firstWritableRevision, problemInRange } from '../revlog/chain-check.js';
import { listLog, readSegmentRecords, type LogListing } from '../revlog/log-reader.js';
import type { Checkpoint, ReadSegmentManifest } from '../revlog/segment-manifest.js';
import type { Backend } from '../storage/backend.js';

export interface ReplayTarget {
  /** the revision the replay ends at */
  revision: bigint;
  /** how it was asked for */
  asked: { revision: bigint } | { time: string };
  /** when dr received that revision (null: it is the base backup's own revision) */
  receivedAt: string | null;
}

export interface ReplayPlan {
  cluster: string;
  target: ReplayTarget;
  /** the full backup the replay starts from */
  base: Manifest;
  /** the segments holding base+1..target, in revision order (may start before base+1, end after target) */
  segments: ReadSegmentManifest[];
  /** revisions to replay: target - base */
  revisions: bigint;
  /** HashKV checkpoints in (base, target], in revision order */
  checkpoints: Checkpoint[];
  /** the TTL each lease was granted, by lease ID, as the log's writer recorded it (null: gone before asked) */
  leaseTtls: Map<bigint, number | null>;
}

export interface PlanReplayOptions {
  backend: Backend;
  cluster: string;
  revision?: bigint;
  time?: Date;
  trust?: ManifestTrust;
  /** to read the segment a time falls in, when the log is encrypted */
  identities?: AgeIdentities | null;
  signal?: AbortSignal;
}

/** The cluster's full backups that can be read, newest revision first. */
async function backupsByRevision(
  backend: Backend,
  cluster: string,
  trust: ManifestTrust,
): Promise<Manifest[]> {
  const { manifests } = await listStorage(backend, cluster);
  const out: Manifest[] = [];
  for (const hit of manifests.values()) {
    if (hit.cluster !== cluster) continue;
    try {
      out.push(await readManifest(backend, hit.key, trust));
    } catch (err) {
      // a refused manifest (moved, edited, badly signed) is no base; an older one may be
      if (
        !(['MANIFEST_MISMATCH', 'VERIFY_FAILED', 'MANIFEST_SIGNATURE_INVALID'] as const).some((c) =>
          isDrError(err, c),
        )
      )
        throw err;
    }
  }
  return out.sort((a, b) => {
    const d = BigInt(b.snapshot.revision) - BigInt(a.snapshot.revision);
    return d > 0n ? 1 : d < 0n ? -1 : a.id < b.id ? 1 : -1;
  });
}

/**
 * The last revision dr received at or before `t`: from the log (the segment the time falls in is read up
 * to it), or a full backup's revision when its snapshot began at or before `t` and no logged revision
 * came later. Null when neither reaches back that far.
 */
async function revisionAtTime(
  o: PlanReplayOptions,
  log: LogListing,
  backups: Manifest[],
  t: number,
): Promise<{ revision: bigint; receivedAt: string | null } | null> {
  let best: { revision: bigint; receivedAt: string | null } | null = null;
  const logged = (rev: bigint) =>
    log.segments.some(
      (s) => BigInt(s.manifest.firstRevision) <= rev && rev <= BigInt(s.manifest.lastRevision),
    );
  for (const b of backups) {
    // a snapshot begins a moment after its createdAt and may hold revisions received after t: when the
    // log holds the backup's revision, the log's receive time decides, not the backup's
    if (Date.parse(b.createdAt) > t || logged(BigInt(b.snapshot.revision))) continue;
    const rev = BigInt(b.snapshot.revision);
    if (!best || rev > best.revision) best = { revision: rev, receivedAt: null };
  }
  const before = log.segments
    .filter((s) => Date.parse(s.manifest.firstTime) <= t)
    .sort((a, b) => (BigInt(a.manifest.lastRevision) < BigInt(b.manifest.lastRevision) ? 1 : -1));
  const seg = before[0];
  if (!seg) return best;
  let hit: { revision: bigint; receivedAt: string | null };
  if (Date.parse(seg.manifest.lastTime) <= t)
    hit = { revision: BigInt(seg.manifest.lastRevision), receivedAt: seg.manifest.lastTime };
  else {
    hit = { revision: BigInt(seg.manifest.firstRevision), receivedAt: seg.manifest.firstTime };
    for await (const rec of readSegmentRecords(o.backend, seg, o.identities, o.signal)) {
      if (rec.receivedAt > t) break;
      hit = { revision: rec.revision, receivedAt: new Date(rec.receivedAt).toISOString() };
    }
  }
  return !best || hit.revision >= best.revision ? hit : best;
}

/** The segments covering from..to in order, or the first revision none holds. */
function cover(
  segments: readonly ReadSegmentManifest[],
  from: bigint,
  to: bigint,
): { segments: ReadSegmentManifest[]; missing: bigint | null } {
  const sorted = [...segments].sort((a, b) => {
    const fa = BigInt(a.manifest.firstRevision);
    const fb = BigInt(b.manifest.firstRevision);
    if (fa !== fb) return fa < fb ? -1 : 1;
    return BigInt(a.manifest.lastRevision) > BigInt(b.manifest.lastRevision) ? -1 : 1;
  });
  const out: ReadSegmentManifest[] = [];
  let next = from;
  for (const s of sorted) {
    if (next > to) break;
    const first = BigInt(s.manifest.firstRevision);
    const last = BigInt(s.manifest.lastRevision);
    if (last < next) continue;
    if (first > next) return { segments: out, missing: next };
    out.push(s);
    next = last + 1n;
  }
  return { segments: out, missing: next > to ? null : next };
}

export async function planReplay(o: PlanReplayOptions): Promise<ReplayPlan> {
  if ((o.revision === undefined) === (o.time === undefined))
    throw new DrError('USAGE', 'point in time: give a revision or a time (one of them)');
  const trust = o.trust ?? NO_TRUST;
  const where = `cluster ${o.cluster} in ${o.backend.location}`;
  const [log, backups] = await Promise.all([
    listLog(o.backend, o.cluster, o.signal, trust),
    backupsByRevision(o.backend, o.cluster, trust),
  ]);
  let target: ReplayTarget;
  if (o.time !== undefined) {
    const t = o.time.getTime();
    const hit = await revisionAtTime(o, log, backups, t);
    if (!hit)
      throw new DrError(
        'BACKUP_NOT_FOUND',
        `point in time: ${where} has no full backup and no logged revision at or before ${o.time.toISOString()}`,
      );
    target = { revision: hit.revision, asked: { time: o.time.toISOString() }, receivedAt: hit.receivedAt };
    // revisions missing right after it: they were committed at unknown times, maybe before t
    const after = log.problems.find((p) => p.revision === hit.revision + 1n);
    if (after)
      throw new DrError(
        'REVLOG_DISCONTINUOUS',
        `point in time: ${o.time.toISOString()} resolves to revision ${hit.revision}, the last dr received before it, but the revision log of ${where} is not continuous right after it (${after.message}): the revisions it lacks were committed at times nobody recorded, maybe before ${o.time.toISOString()}; ask for a revision instead`,
        { problems: [{ code: after.code, revision: after.revision.toString(), message: after.message }] },
      );
  } else {
    target = { revision: o.revision!, asked: { revision: o.revision! }, receivedAt: null };
  }
  const R = target.revision;
  const base = backups.find((b) => BigInt(b.snapshot.revision) <= R);
  if (!base)
    throw new DrError(
      'BACKUP_NOT_FOUND',
      `point in time: ${where} has no full backup at or before revision ${R}` +
        (backups.length
          ? ` (the oldest is ${backups[backups.length - 1]!.id} at revision ${backups[backups.length - 1]!.snapshot.revision})`
          : ''),
    );
  const from = firstWritableRevision(BigInt(base.snapshot.revision) + 1n);
  const problems = log.problems.filter((p) => problemInRange(p, from, R));
  if (problems.length > 0)
    throw new DrError(
      'REVLOG_DISCONTINUOUS',
      `point in time: the revision log of ${where} is not continuous between backup ${base.id} (revision ${base.snapshot.revision}) and revision ${R}: ${problems.map((p) => p.message).join('; ')}`,
      {
        problems: problems.map((p) => ({
          code: p.code,
          revision: p.revision.toString(),
          message: p.message,
        })),
      },
    );
  const covered = cover(log.segments, from, R);
  if (covered.missing !== null) {
    const head = log.segments.reduce((m, s) => {
      const l = BigInt(s.manifest.lastRevision);
      return l > m ? l : m;
    }, 0n);
    if (covered.missing > head)
      throw new DrError(
        'REVLOG_NOT_FOUND',
        `point in time: revision ${R} is past what the revision log of ${where} holds (${head > 0n ? `committed through revision ${head}` : 'no segment at all'}); ask for a revision the log has committed`,
      );
    throw new DrError(
      'REVLOG_DISCONTINUOUS',
      `point in time: no segment of the revision log of ${where} holds revision ${covered.missing}, which the replay from backup ${base.id} (revision ${base.snapshot.revision}) to ${R} needs`,
    );
  }
  if (target.receivedAt === null && R >= from) {
    const seg = covered.segments[covered.segments.length - 1]!;
    if (BigInt(seg.manifest.lastRevision) === R) target.receivedAt = seg.manifest.lastTime;
  }
  const checkpoints = new Map<bigint, Checkpoint>();
  const leaseTtls = new Map<bigint, number | null>();
  for (const s of log.segments) {
    for (const c of s.manifest.checkpoints) {
      const rev = BigInt(c.revision);
      if (rev >= from && rev <= R) checkpoints.set(rev, c);
    }
    for (const l of s.manifest.leases) {
      const id = BigInt(`0x${l.id}`);
      if (!leaseTtls.has(id) || leaseTtls.get(id) === null) leaseTtls.set(id, l.grantedTtl);
    }
  }
  return {
    cluster: o.cluster,
    target,
    base,
    segments: covered.segments,
    revisions: R >= from ? R - from + 1n : 0n,
    checkpoints: [...checkpoints.values()].sort((a, b) => (BigInt(a.revision) < BigInt(b.revision) ? -1 : 1)),
    leaseTtls,
  };
}
