/**
 * `--revision R | --time T`, as `dr fetch`, `dr restore` and `dr drill` take them: instead of a stored
 * backup, the point-in-time backup that src/replay/point-in-time.ts builds from the newest full backup at
 * or before R and the revision log. The commands then handle it like any backup (from a private scratch
 * storage under the state dir, removed when they finish).
 */
import path from 'node:path';
import type { Command } from 'commander';
import { DrError } from '../core/errors.js';
import { UNKNOWN_LEASE_TTL_SECONDS } from '../replay/apply-revisions.js';
import { pointInTime, type PointInTime, type PointInTimeReport } from '../replay/point-in-time.js';
import type { Backend } from '../storage/backend.js';
import { catalogPath, manifestTrust, resolveIdentities, type CommandContext } from './context.js';

export interface PointInTimeFlags {
  revision?: string;
  time?: string;
  /** --etcd-bin-dir, repeatable */
  etcdBinDir?: string[];
}

export interface PointInTimeAsk {
  revision?: bigint;
  time?: Date;
}

/**
 * --etcd-bin-dir: where the etcd of the backup's version is, for the throwaway member of a drill or a
 * point in time (searched before PATH).
 */
export function addEtcdBinDirOption(cmd: Command): Command {
  return cmd.option(
    '--etcd-bin-dir <dir>',
    "folder with etcd and etcdctl (and etcdutl) of the backup's version, for the throwaway member of a drill or a point in time; searched before PATH (repeatable; env DR_ETCD_BIN_DIR, colon-separated)",
    (v: string, prev: string[] = []) => [...prev, v],
  );
}

/** --etcd-bin-dir's folders, then DR_ETCD_BIN_DIR's */
export function etcdBinDirsOf(ctx: CommandContext, flag: readonly string[] | undefined): string[] {
  return [...(flag ?? []), ...(ctx.env.DR_ETCD_BIN_DIR ?? '').split(':').filter((d) => d !== '')];
}

/** --revision, --time and --etcd-bin-dir */
export function addPointInTimeOptions(cmd: Command): Command {
  return addEtcdBinDirOption(cmd)
    .option(
      '--revision <rev>',
      'point in time: the newest full backup at or before this etcd revision, with the revision log replayed up to it',
    )
    .option(
      '--time <time>',
      'point in time: the last revision dr received at or before this time (ISO 8601), as --revision',
    );
}

/** The point in time asked for, or undefined; USAGE for both, or a malformed one. */
export function pointInTimeOf(command: string, o: PointInTimeFlags): PointInTimeAsk | undefined {
  if (o.revision === undefined && o.time === undefined) return undefined;
  if (o.revision !== undefined && o.time !== undefined)
    throw new DrError('USAGE', `${command}: give --revision or --time, not both`);
  if (o.revision !== undefined) {
    if (!/^\d+$/.test(o.revision) || BigInt(o.revision) === 0n)
      throw new DrError('USAGE', `${command}: --revision "${o.revision}" is not a positive integer`);
    return { revision: BigInt(o.revision) };
  }
  const t = new Date(o.time!);
  // a time without its offset would be read in this host's zone: ask for it
  if (!/(Z|[+-]\d\d:?\d\d)$/i.test(o.time!.trim()))
    throw new DrError(
      'USAGE',
      `${command}: --time "${o.time}" has no time zone: end it with Z (UTC) or an offset such as +01:00`,
    );
  if (Number.isNaN(t.getTime()))
    throw new DrError(
      'USAGE',
      `${command}: --time "${o.time}" is not a date/time (ISO 8601, e.g. 2026-11-20T14:02:00Z)`,
    );
  return { time: t };
}

/** Builds the point-in-time backup of `cluster` (steps on stderr unless quiet). */
export async function buildPointInTime(
  ctx: CommandContext,
  backend: Backend,
  cluster: string,
  ask: PointInTimeAsk,
  o: { quiet?: boolean; etcdBinDirs?: readonly string[]; workDir?: string } = {},
): Promise<PointInTime> {
  return pointInTime({
    backend,
    cluster,
    ...ask,
    trust: await manifestTrust(ctx),
    identities: await resolveIdentities(ctx),
    workDir: o.workDir ?? path.join(path.dirname(catalogPath(ctx)), 'replays'),
    etcdBinDirs: etcdBinDirsOf(ctx, o.etcdBinDirs),
    pathEnv: process.env.PATH ?? '',
    env: process.env,
    onProcessExit: (fn) => {
      process.once('exit', fn);
      return () => process.removeListener('exit', fn);
    },
    logger: ctx.logger,
    clock: ctx.clock,
    signal: ctx.signal,
    onStep: o.quiet ? undefined : (m) => process.stderr.write(`${m}\n`),
  });
}

/** What was replayed and what was proved, for people. */
export function describePointInTime(r: PointInTimeReport): string[] {
  const p = r.replayed;
  const proved = p.checkpoints.filter((c) => c.ok);
  return [
    `point in time: revision ${r.target.revision}` +
      ('time' in r.target.asked
        ? ` = the last revision dr received at or before ${r.target.asked.time}${r.target.receivedAt ? ` (received ${r.target.receivedAt})` : ''}`
        : '') +
      `; base backup ${r.base.id} (revision ${r.base.revision}), ${p.applied} revisions replayed` +
      (r.revisionsPerSecond !== null ? ` (${r.revisionsPerSecond} revisions/s, etcd ${r.etcdVersion})` : ''),
    proved.length > 0
      ? `HashKV proved at ${proved.map((c) => `revision ${c.revision}`).join(', ')}` +
        (r.unprovedFrom
          ? `; revisions ${r.unprovedFrom}..${r.target.revision} replayed and revision-checked, not hash-proved`
          : '')
      : r.unprovedFrom
        ? `no checkpoint between ${r.base.revision} and ${r.target.revision}: revisions ${r.unprovedFrom}..${r.target.revision} replayed and revision-checked, not hash-proved`
        : 'no revision to replay: the base backup is that revision',
    ...(p.leasesWithoutTtl.length > 0
      ? [
          `leases the log has no TTL for (granted ${UNKNOWN_LEASE_TTL_SECONDS} s): ${p.leasesWithoutTtl.join(', ')}`,
        ]
      : []),
  ];
}
