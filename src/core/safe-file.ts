/**
 * Safe local writes: write to `<target>.part-<random>` beside the target, fsync, rename, fsync the directory.
 * The target appears whole or not at all.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable, Transform } from 'node:stream';
import { DrError } from './errors.js';
import { FileSink } from './file-sink.js';

export async function fsyncDir(dir: string): Promise<void> {
  const h = await open(dir, 'r');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

export async function exists(p: string): Promise<boolean> {
  return access(p, constants.F_OK).then(
    () => true,
    () => false,
  );
}

/**
 * Streams `source` through `stages` into `target` atomically. `beforeCommit` runs after the data is
 * fsynced and before the rename; if it throws, the temp file is removed and the target never appears.
 */
export async function writeFileAtomic(
  target: string,
  source: Readable,
  stages: Transform[],
  opts: {
    signal?: AbortSignal;
    beforeCommit?: () => void | Promise<void>;
    /** fsync the file and its directory (default). A scratch copy that is re-verified before use may skip it. */
    durable?: boolean;
    /**
     * The file's mode from its creation on (the umask may narrow it further). @default 0o600: what dr
     * writes is a snapshot (every Kubernetes Secret) or a config, for its owner only
     */
    mode?: number;
  } = {},
): Promise<void> {
  const tmp = path.join(
    path.dirname(target),
    `.${path.basename(target)}.part-${randomBytes(4).toString('hex')}`,
  );
  const h = await open(tmp, 'wx', opts.mode ?? 0o600);
  let closed = false;
  try {
    const durable = opts.durable ?? true;
    // a scratch copy is not made durable at the end, so it is not flushed along the way either
    const sink = new FileSink(h, durable ? {} : { syncEveryBytes: 0 });
    await pipeline([source, ...stages, sink], { signal: opts.signal });
    if (durable) await h.sync();
    await h.close();
    closed = true;
    await opts.beforeCommit?.();
    await rename(tmp, target);
    if (durable) await fsyncDir(path.dirname(target));
  } catch (err) {
    if (!closed) await h.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw err;
  }
}

export async function refuseExisting(target: string, what: string): Promise<void> {
  if (await exists(target))
    throw new DrError('USAGE', `${what}: ${target} already exists; dr never overwrites it`);
}
