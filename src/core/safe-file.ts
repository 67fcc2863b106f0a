/**
 * Safe local writes, the one place dr writes a file atomically: write to `<target>.tmp-<16 hex>`
 * beside the target, fsync, rename, fsync the directory. The target appears whole or not at all.
 * Every writer uses this temp name (the file:// backend, `dr fetch --out`, the restore journal), so
 * one rule (`isTempName`) tells a leftover of an interrupted write from a real file.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, open, rename, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable, type Transform } from 'node:stream';
import { DrError } from './errors.js';
import { FileSink } from './file-sink.js';

/** `<final>.tmp-<16 hex>`: the name an atomic write writes to before its rename. */
const TEMP_SUFFIX = /\.tmp-[0-9a-f]{16}$/;

export function tempNameFor(finalName: string): string {
  return `${finalName}.tmp-${randomBytes(8).toString('hex')}`;
}

export function isTempName(name: string): boolean {
  return TEMP_SUFFIX.test(name);
}

/** The final name a temp name stands for (the name itself when it is not a temp name). */
export function finalNameOf(name: string): string {
  return name.replace(TEMP_SUFFIX, '');
}

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

export interface AtomicWriteOptions {
  signal?: AbortSignal;
  /** Runs after the data is fsynced and before the rename; if it throws, the target never appears. */
  beforeCommit?: () => void | Promise<void>;
  /** fsync the file and its directory (default). A scratch copy that is re-verified before use may skip it. */
  durable?: boolean;
  /**
   * The file's mode from its creation on (the umask may narrow it further). @default 0o600: what dr
   * writes is a snapshot (every Kubernetes Secret) or a config, for its owner only
   */
  mode?: number;
  /** called with the running total of bytes written */
  onProgress?: (bytes: number) => void;
  /**
   * After the rename, fsync the target's directory and each parent up to this one (for directories the
   * caller created for this file, which must be made durable in their own parents).
   * @default the target's directory only
   */
  syncDirsUpTo?: string;
  /**
   * Told, before the error is thrown, which side failed first: `source` (the source stream or a stage;
   * its error is then the one thrown) or `file` (opening, writing, syncing or renaming the file).
   */
  onFailure?: (side: 'source' | 'file') => void;
}

/**
 * Streams `source` through `stages` into `target` atomically and returns the bytes written. The temp
 * file is removed on every failure; an error is thrown as it came (callers classify it).
 */
export async function writeFileAtomic(
  target: string,
  source: Readable,
  stages: Transform[],
  opts: AtomicWriteOptions = {},
): Promise<{ size: number }> {
  const tmp = tempNameFor(target);
  const durable = opts.durable ?? true;
  let side: 'source' | 'file' | undefined;
  const fromSource = (): void => {
    side ??= 'source';
  };
  const fromFile = (): void => {
    side ??= 'file';
  };
  // pipeline() forwards each stream's error to the others: the first one to fail is the origin.
  // Listening starts before the first await, so a source that fails while the file opens is seen too.
  for (const s of [source, ...stages]) s.once('error', fromSource);
  let h: FileHandle;
  try {
    h = await open(tmp, 'wx', opts.mode ?? 0o600);
  } catch (err) {
    for (const s of [source, ...stages]) s.off('error', fromSource);
    source.destroy();
    opts.onFailure?.('file');
    throw err;
  }
  let closed = false;
  // a scratch copy is not made durable at the end, so it is not flushed along the way either
  const sink = new FileSink(h, { onProgress: opts.onProgress, ...(durable ? {} : { syncEveryBytes: 0 }) });
  sink.once('error', fromFile);
  try {
    await pipeline([source, ...stages, sink], { signal: opts.signal });
    side = 'file';
    if (durable) await h.sync();
    await h.close();
    closed = true;
    side = undefined;
    await opts.beforeCommit?.();
    side = 'file';
    await rename(tmp, target);
    if (durable) {
      const dir = path.dirname(target);
      const stop = opts.syncDirsUpTo ?? dir;
      for (let d = dir; ; d = path.dirname(d)) {
        await fsyncDir(d);
        if (d === stop || d === path.dirname(d)) break;
      }
    }
  } catch (err) {
    if (!closed) await h.close().catch(() => undefined);
    await rm(tmp, { force: true }).catch(() => undefined);
    if (side) opts.onFailure?.(side);
    throw err;
  } finally {
    for (const s of [source, ...stages]) s.off('error', fromSource);
  }
  return { size: sink.bytes };
}

/** Writes a small document atomically (a journal, a plan): the same temp file, fsync and rename. */
export async function writeTextAtomic(target: string, text: string, mode = 0o600): Promise<void> {
  await writeFileAtomic(target, Readable.from([Buffer.from(text)]), [], { mode });
}

export async function refuseExisting(target: string, what: string): Promise<void> {
  if (await exists(target))
    throw new DrError('USAGE', `${what}: ${target} already exists; dr never overwrites it`);
}
