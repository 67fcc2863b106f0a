/**
 * Safe local writes: write to `<target>.part-<random>` beside the target, fsync, rename, fsync the directory.
 * The target appears whole or not at all.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, open, rename, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Readable, Transform } from 'node:stream';
import { DrError } from './errors.js';

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
  } = {},
): Promise<void> {
  const tmp = path.join(
    path.dirname(target),
    `.${path.basename(target)}.part-${randomBytes(4).toString('hex')}`,
  );
  const h = await open(tmp, 'wx', 0o644);
  let closed = false;
  try {
    let pos = 0;
    // While one write is in flight the chunks behind it pile up (up to 4 MiB) and go out as one writev: a
    // 1 GiB fetch was ~8,000 awaited 128 KiB writes, each a round trip through libuv's thread pool.
    const sink = new Writable({
      highWaterMark: 4 << 20,
      writev(chunks, cb) {
        writeAll(
          h,
          chunks.map((c) => c.chunk as Buffer),
          pos,
        ).then(
          (n) => {
            pos += n;
            cb();
          },
          (err: Error) => cb(err),
        );
      },
    });
    await pipeline([source, ...stages, sink], { signal: opts.signal });
    const durable = opts.durable ?? true;
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

/** writev until every byte is written (a regular file may take fewer bytes than asked, in theory) */
async function writeAll(h: FileHandle, buffers: Buffer[], position: number): Promise<number> {
  const total = buffers.reduce((n, b) => n + b.length, 0);
  let done = 0;
  while (done < total) {
    const { bytesWritten } = await h.writev(buffers, position + done);
    done += bytesWritten;
    if (done < total) {
      // drop what went out, keep the rest
      let skip = bytesWritten;
      while (skip > 0 && buffers.length) {
        const first = buffers[0]!;
        if (first.length <= skip) {
          skip -= first.length;
          buffers.shift();
        } else {
          buffers[0] = first.subarray(skip);
          skip = 0;
        }
      }
      if (bytesWritten === 0) throw new Error(`write to a file made no progress at ${position + done}`);
    }
  }
  return total;
}

export async function refuseExisting(target: string, what: string): Promise<void> {
  if (await exists(target))
    throw new DrError('USAGE', `${what}: ${target} already exists; dr never overwrites it`);
}
