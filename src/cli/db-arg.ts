/**
 * The db / snapshot file a forensic command reads (`dr inspect db|keys`, `dr diff`): a path, a backup
 * fetched and verified into a temporary file first, or `rev:R` / `time:T`, a point in time built from a
 * backup and the revision log.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DrError } from '../core/errors.js';
import { resolveDbFile } from '../inspect/db-source.js';
import { fetchSnapshot } from '../pipeline/fetch.js';
import {
  type CommandContext,
  manifestTrust,
  openCatalog,
  openStorage,
  resolveIdentities,
} from './context.js';
import type { PointInTime } from '../replay/point-in-time.js';
import { buildPointInTime, pointInTimeOf, type PointInTimeFlags } from './point-in-time.js';
import { resolveBackup } from './resolve-backup.js';

/** A db/snapshot file to read: a path, or a backup fetched to a temporary file (removed by close). */
export interface OpenedDbArg {
  file: string;
  /** what messages call it: the path, or "backup <id>" */
  label: string;
  backupId?: string;
  close(): Promise<void>;
}

/**
 * `ref` is a file / data dir path, or (with `asBackup`, or when no such path exists and --storage is
 * set) a backup id or "latest", fetched and verified into a temporary file first.
 */
export async function openDbArg(
  ctx: CommandContext,
  ref: string,
  opts: { asBackup?: boolean; clusterName?: string; what?: string; etcdBinDirs?: readonly string[] },
): Promise<OpenedDbArg> {
  const what = opts.what ? `${opts.what}: ` : '';
  if (!opts.asBackup) {
    try {
      const file = resolveDbFile(ref);
      return { file, label: file, close: async () => undefined };
    } catch (err) {
      const storage = ctx.flags.storage ?? ctx.env.DR_STORAGE;
      // a path-looking argument that does not exist is a typo, not a backup id
      if (ref.includes('/') || !storage)
        throw new DrError(
          'USAGE',
          `${what}${(err as Error).message}${storage ? '' : ' (and no --storage to look it up as a backup id)'}`,
        );
    }
  }
  const pit = /^(rev|time):(.+)$/.exec(ref);
  if (pit) return openPointInTime(ctx, ref, pit[1] === 'rev' ? { revision: pit[2] } : { time: pit[2] }, opts);
  const backend = await openStorage(ctx);
  const catalog = openCatalog(ctx);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'dr-inspect-'));
  try {
    const manifest = await resolveBackup(backend, catalog, ref, opts.clusterName, await manifestTrust(ctx));
    const file = path.join(dir, `${manifest.id}.db`);
    await fetchSnapshot(backend, manifest, file, {
      signal: ctx.signal,
      identities: await resolveIdentities(ctx),
    });
    return {
      file,
      label: `backup ${manifest.id}`,
      backupId: manifest.id,
      close: () => rm(dir, { recursive: true, force: true }),
    };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  } finally {
    catalog.close();
    await backend.close();
  }
}

/**
 * `rev:R` / `time:T`: the cluster as it was at that revision or time, built from the newest full backup at
 * or before it and the revision log (cli/point-in-time.ts), into a temporary file.
 */
async function openPointInTime(
  ctx: CommandContext,
  ref: string,
  flags: PointInTimeFlags,
  opts: { clusterName?: string; what?: string; etcdBinDirs?: readonly string[] },
): Promise<OpenedDbArg> {
  const what = opts.what ? `${opts.what}: ` : '';
  const ask = pointInTimeOf(`${what}${ref}`, flags)!;
  if (!opts.clusterName)
    throw new DrError('USAGE', `${what}${ref} needs --cluster-name (whose revision log to replay)`);
  const backend = await openStorage(ctx);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'dr-inspect-'));
  let built: PointInTime | undefined;
  try {
    built = await buildPointInTime(ctx, backend, opts.clusterName, ask, {
      quiet: true,
      etcdBinDirs: opts.etcdBinDirs,
    });
    const file = path.join(dir, `revision-${built.report.target.revision}.db`);
    await fetchSnapshot(built.backend, built.manifest, file, { signal: ctx.signal });
    const revision = built.report.target.revision;
    return {
      file,
      label: `${opts.clusterName} at revision ${revision} (backup ${built.report.base.id} + ${built.report.replayed.applied} logged revisions)`,
      close: () => rm(dir, { recursive: true, force: true }),
    };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  } finally {
    await built?.cleanup();
    await backend.close();
  }
}

/** FILE or --backup ID, exactly one of them. */
export async function openDbSource(
  ctx: CommandContext,
  file: string | undefined,
  opts: { backup?: string; clusterName?: string; etcdBinDir?: string[] },
): Promise<OpenedDbArg> {
  if (file && opts.backup) throw new DrError('USAGE', 'give a FILE or --backup ID, not both');
  if (!file && !opts.backup)
    throw new DrError('USAGE', 'give a FILE (db, snapshot or data dir) or --backup ID');
  return opts.backup
    ? openDbArg(ctx, opts.backup, {
        asBackup: true,
        clusterName: opts.clusterName,
        etcdBinDirs: opts.etcdBinDir,
      })
    : openDbArg(ctx, file!, { asBackup: false });
}
