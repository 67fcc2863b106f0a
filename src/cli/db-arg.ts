/**
 * The db / snapshot file a forensic command reads (`dr inspect db|keys`, `dr diff`): a path, or a
 * backup fetched and verified into a temporary file first.
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
  opts: { asBackup?: boolean; clusterName?: string; what?: string },
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

/** FILE or --backup ID, exactly one of them. */
export async function openDbSource(
  ctx: CommandContext,
  file: string | undefined,
  opts: { backup?: string; clusterName?: string },
): Promise<OpenedDbArg> {
  if (file && opts.backup) throw new DrError('USAGE', 'give a FILE or --backup ID, not both');
  if (!file && !opts.backup)
    throw new DrError('USAGE', 'give a FILE (db, snapshot or data dir) or --backup ID');
  return opts.backup
    ? openDbArg(ctx, opts.backup, { asBackup: true, clusterName: opts.clusterName })
    : openDbArg(ctx, file!, { asBackup: false });
}
