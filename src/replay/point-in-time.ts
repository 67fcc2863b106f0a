/**
 * A point-in-time snapshot (docs/revision-log.md §9): the newest full backup at or before the revision,
 * restored by etcd's own tool into a throwaway one-member cluster only dr can reach (replay-member.ts:
 * Unix sockets in a private directory; dr as root through a private certificate when auth is on), the log
 * replayed into it
 * (apply-revisions.ts), its checkpoints proved, then the member snapshotted like any cluster, into a
 * private scratch storage (`file://<dir>/store`, stored plain) as an ordinary backup with a manifest.
 * `dr fetch`, `dr restore` and `dr drill` then take that backup through their usual path, checks and all.
 *
 * The throwaway member runs the etcd whose major.minor is the base backup's (drill/etcd-binaries.ts), with
 * limits lifted so that every original transaction fits (--max-txn-ops, --max-request-bytes) and, on 3.5
 * and later, --unsafe-no-fsync: it is thrown away, and what it produced is checked, not trusted. The
 * member is stopped and its data removed before this returns (or fails); the scratch storage stays until
 * the caller's `cleanup()`.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Clock } from '../core/clock.js';
import { DrError, isDrError, toDrError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { AgeIdentities } from '../crypto/age-keys.js';
import { OWNER_FILE, reapStaleDrills } from '../drill/drill.js';
import { findEtcdFor } from '../drill/etcd-binaries.js';
import { openTxnSession, type TxnSession } from '../etcd/txn-session.js';
import type { Manifest } from '../manifest/manifest.js';
import { writeManifest } from '../manifest/manifest-store.js';
import { takeBackup } from '../pipeline/backup.js';
import { fetchSnapshot } from '../pipeline/fetch.js';
import { findRestoreTool } from '../restore/tool.js';
import { readSegmentRecords } from '../revlog/log-reader.js';
import type { RevisionRecord } from '../revlog/segment-format.js';
import type { Backend } from '../storage/backend.js';
import { openBackend } from '../storage/open-backend.js';
import { applyRevisions, LeaseKeeper, REPLAY_WINDOW, type ApplyResult } from './apply-revisions.js';
import { prefetch } from './prefetch.js';
import { replaySocketPath, startReplayMember, type ReplayMember } from './replay-member.js';
import { planReplay, type PlanReplayOptions, type ReplayPlan } from './replay-plan.js';

/** what to replay (the plan's options: storage, cluster, revision or time, trust, identities), and how */
export interface PointInTimeOptions extends PlanReplayOptions {
  /** parent of the private scratch directory (the state dir's `replays/`) */
  workDir: string;
  /** folders to look for the base backup's etcd in before PATH */
  etcdBinDirs?: readonly string[];
  pathEnv: string;
  /** the environment the replay member runs with (the caller's); DR_REPLAY_GOMAXPROCS sets its GOMAXPROCS */
  env?: NodeJS.ProcessEnv;
  /** registers `fn` to run if this process exits without unwinding; returns its removal */
  onProcessExit?: (fn: () => void) => () => void;
  logger: Logger;
  clock: Clock;
  /** one line per step, for the terminal */
  onStep?: (message: string) => void;
}

export interface PointInTimeReport {
  cluster: string;
  target: { revision: string; asked: { revision: string } | { time: string }; receivedAt: string | null };
  base: { id: string; revision: string; createdAt: string };
  segments: number;
  replayed: ApplyResult;
  /** revisions per second into the throwaway member */
  revisionsPerSecond: number | null;
  /** revisions after the last proved checkpoint: replayed and revision-checked, not hash-proved */
  unprovedFrom: string | null;
  etcdVersion: string;
  /** the base has etcd auth enabled: the replay member kept it, dr was its root by a private certificate */
  authEnabled: boolean;
  snapshotId: string;
}

export interface PointInTime {
  /** the point-in-time backup, in `backend` */
  manifest: Manifest;
  /** the private scratch storage holding it */
  backend: Backend;
  report: PointInTimeReport;
  /** removes the scratch storage */
  cleanup(): Promise<void>;
}

/** etcd's store is at revision 1 before its first write; a snapshot of it says 0. */
const atLeastOne = (r: bigint): bigint => (r < 1n ? 1n : r);

async function* recordsOf(
  plan: ReplayPlan,
  backend: Backend,
  identities: AgeIdentities | null | undefined,
  signal?: AbortSignal,
): AsyncGenerator<RevisionRecord> {
  for (const seg of plan.segments) yield* readSegmentRecords(backend, seg, identities, signal);
}

export async function pointInTime(o: PointInTimeOptions): Promise<PointInTime> {
  const step = o.onStep ?? (() => undefined);
  const plan = await planReplay(o);
  const log = o.logger.child({ component: 'replay', cluster: o.cluster });
  const base = plan.base;
  step(
    `point in time: revision ${plan.target.revision}` +
      ('time' in plan.target.asked
        ? ` (the last revision received at or before ${plan.target.asked.time})`
        : '') +
      `: backup ${base.id} (revision ${base.snapshot.revision}) + ${plan.revisions} logged revisions from ${plan.segments.length} segments, ${plan.checkpoints.length} checkpoints`,
  );
  await mkdir(o.workDir, { recursive: true, mode: 0o700 });
  // what a replay killed outright (SIGKILL, a second signal) left: its plaintext scratch directory
  await reapStaleDrills(o.workDir, log, 'dr-replay-');
  // no cluster name in it: the member's socket path must stay under 107 bytes (replay-member.ts), which is
  // checked before anything is fetched (mkdtemp's six characters stand in for the name it will pick)
  replaySocketPath(path.join(o.workDir, 'dr-replay-XXXXXX'));
  const dir = await mkdtemp(path.join(o.workDir, 'dr-replay-'));
  await writeFile(path.join(dir, OWNER_FILE), `${process.pid}\n`, { mode: 0o600 });
  let member: ReplayMember | undefined;
  let session: TxnSession | undefined;
  let keeper: LeaseKeeper | undefined;
  let scratch: Backend | undefined;
  const cleanup = async () => {
    await scratch?.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  };
  try {
    const bins = await findEtcdFor(base.source.etcdVersion, {
      dirs: o.etcdBinDirs,
      pathEnv: o.pathEnv,
      signal: o.signal,
    });
    const tool = await findRestoreTool({
      etcdutl: bins.etcdutl,
      etcdctl: bins.etcdctl,
      backupVersion: base.source.etcdVersion,
      signal: o.signal,
    });
    const baseFile = path.join(dir, 'base.db');
    step(`point in time: fetching backup ${base.id}`);
    await fetchSnapshot(o.backend, base, baseFile, {
      signal: o.signal,
      identities: o.identities,
      durable: false,
    });
    const replay = await startReplayMember({
      dir,
      baseFile,
      bins,
      tool,
      env: o.env,
      logger: o.logger,
      signal: o.signal,
      onProcessExit: o.onProcessExit,
    });
    member = replay;
    const { client, endpoint, died } = replay;
    const st = await client.status(endpoint);
    // A snapshot's revision is its newest key's (as `etcdctl snapshot status` says; 0 for an empty
    // store, where etcd is at 1). etcd starts at the larger of that and the compaction revision: deletes
    // whose tombstones a compaction removed are in the base already, and the replay continues after them.
    const baseRevision = atLeastOne(BigInt(base.snapshot.revision));
    if (st.revision < baseRevision || st.revision > plan.target.revision)
      throw new DrError(
        'REPLAY_DIVERGED',
        `point in time: backup ${base.id} restored to revision ${st.revision}; its manifest says ${base.snapshot.revision}, and the replay is to ${plan.target.revision}`,
      );
    const startRevision = st.revision;
    step(
      `point in time: replaying ${plan.revisions} revisions into etcd ${bins.version} on ${endpoint}${replay.authEnabled ? ' (auth enabled: dr is its root user by a private client certificate)' : ''}`,
    );
    // a connection per transaction in flight (txn-session.ts says why)
    session = await openTxnSession(endpoint, { tls: replay.tls, connections: REPLAY_WINDOW });
    keeper = new LeaseKeeper(client, endpoint);
    await keeper.start();
    const replayed = await Promise.race([
      applyRevisions(prefetch(recordsOf(plan, o.backend, o.identities, o.signal)), {
        client,
        endpoint,
        txn: (ops, guard) => session!.txn(ops, guard),
        fromRevision: startRevision,
        toRevision: plan.target.revision,
        checkpoints: plan.checkpoints,
        leaseTtls: plan.leaseTtls,
        logger: log,
        signal: o.signal,
        leases: keeper,
      }),
      died,
    ]);
    await mkdir(path.join(dir, 'store'), { mode: 0o700 });
    scratch = await openBackend(`file://${path.join(dir, 'store')}`, { logger: o.logger, clock: o.clock });
    step(`point in time: snapshotting the replayed member at revision ${plan.target.revision}`);
    const snapshot = await takeBackup(
      { etcd: client, backend: scratch, logger: o.logger, clock: o.clock },
      {
        clusterName: o.cluster,
        policy: base.policy,
        compressionLevel: 0,
        snapshotFrom: 'any',
        signal: o.signal,
      },
    );
    // the member's own revision after its snapshot, and the snapshot's (its newest key: a compaction at
    // a delete may leave it lower, never higher)
    const after = (await client.status(endpoint)).revision;
    await keeper.stop();
    keeper.check();
    if (
      after !== atLeastOne(plan.target.revision) ||
      BigInt(snapshot.snapshot.revision) > plan.target.revision
    )
      throw new DrError(
        'REPLAY_DIVERGED',
        `point in time: the replayed member is at revision ${after} (its snapshot at ${snapshot.snapshot.revision}), not ${plan.target.revision}: something wrote to it after the replay (an expired lease?)`,
      );
    // The point-in-time backup stands for the original cluster at that revision, not for the replay
    // member: its source (cluster ID, members, version) is the base backup's, so that the restore's
    // checks (a new cluster ID, not the old one; the backup's age) are made against the original, and its
    // time is when the revision was received.
    const manifest: Manifest = {
      ...snapshot,
      source: { ...base.source },
      createdAt: plan.target.receivedAt ?? base.createdAt,
    };
    await writeManifest(scratch, manifest, o.signal);
    const seconds = replayed.durationMs / 1000;
    const report: PointInTimeReport = {
      cluster: o.cluster,
      target: {
        revision: plan.target.revision.toString(),
        asked:
          'time' in plan.target.asked
            ? { time: plan.target.asked.time }
            : { revision: plan.target.asked.revision.toString() },
        receivedAt: plan.target.receivedAt,
      },
      base: { id: base.id, revision: base.snapshot.revision, createdAt: base.createdAt },
      segments: plan.segments.length,
      replayed,
      revisionsPerSecond: replayed.applied > 0 && seconds > 0 ? Math.round(replayed.applied / seconds) : null,
      unprovedFrom:
        replayed.provedThrough === null
          ? plan.revisions > 0n
            ? (startRevision + 1n).toString()
            : null
          : BigInt(replayed.provedThrough) < plan.target.revision
            ? (BigInt(replayed.provedThrough) + 1n).toString()
            : null,
      etcdVersion: bins.version,
      authEnabled: replay.authEnabled,
      snapshotId: manifest.id,
    };
    log.info({ ...report, replayed: undefined, applied: replayed.applied }, 'point in time: snapshot ready');
    return { manifest, backend: scratch, report, cleanup };
  } catch (err) {
    await keeper?.stop();
    session?.close();
    await member?.stop();
    await cleanup().catch(() => undefined);
    // a command stopped by its signal (SIGTERM) reports ABORTED, whatever the step it interrupted said
    if (o.signal?.aborted && !isDrError(err, 'ABORTED'))
      throw new DrError(
        'ABORTED',
        'point in time: cancelled; the replay member was stopped and its data removed',
      );
    throw toDrError(err, 'INTERNAL', 'point in time');
  } finally {
    await keeper?.stop();
    session?.close();
    await member?.stop();
  }
}
