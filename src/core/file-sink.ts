/**
 * A Writable into an open file that writes in batches and flushes behind itself.
 *
 * - Batches: while one write is in flight the chunks behind it pile up (up to 1 MiB) and go out as one
 *   writev, instead of one awaited write per chunk, each a round trip through libuv's thread pool.
 *   Not more than 1 MiB: a longer queue keeps the buffers it holds alive past V8's scavenges, which costs
 *   CPU and RSS.
 * - Flush behind: every `syncEveryBytes` written, an fdatasync starts in the background (one at a time,
 *   never awaited by the writes). The kernel otherwise holds gigabytes of dirty pages until the final
 *   fsync, which then writes them all while the caller waits. RocksDB's bytes_per_sync does the same. The
 *   caller still makes the file durable with fsync at the end; finish() waits for a flush in progress and
 *   reports its failure.
 * Figures: docs/benchmarks.md, "Figures behind design choices in the code".
 */
import type { FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';

export interface FileSinkOptions {
  /** bytes between background flushes; 0 turns them off @default 32 MiB */
  syncEveryBytes?: number;
  /** called with the running total after each batch is written */
  onProgress?: (bytes: number) => void;
}

export class FileSink extends Writable {
  private position = 0;
  private unsynced = 0;
  private flushing: Promise<void> | null = null;
  private flushError: unknown = null;
  private readonly syncEvery: number;

  constructor(
    private readonly handle: FileHandle,
    private readonly opts: FileSinkOptions = {},
  ) {
    super({ highWaterMark: 1 << 20 });
    this.syncEvery = opts.syncEveryBytes ?? 32 << 20;
  }

  /** bytes written so far */
  get bytes(): number {
    return this.position;
  }

  override _writev(chunks: { chunk: Buffer }[], cb: (err?: Error | null) => void): void {
    if (this.flushError) return cb(this.flushError as Error);
    writeAll(
      this.handle,
      chunks.map((c) => c.chunk),
      this.position,
    ).then(
      (n) => {
        this.position += n;
        this.unsynced += n;
        this.opts.onProgress?.(this.position);
        if (this.syncEvery > 0 && this.unsynced >= this.syncEvery && !this.flushing) {
          this.unsynced = 0;
          this.flushing = this.handle.datasync().then(
            () => {
              this.flushing = null;
            },
            (err: unknown) => {
              this.flushing = null;
              this.flushError ??= err;
            },
          );
        }
        cb();
      },
      (err: Error) => cb(err),
    );
  }

  override _final(cb: (err?: Error | null) => void): void {
    void Promise.resolve(this.flushing).then(() => cb((this.flushError as Error | null) ?? null));
  }
}

/** writev until every byte is written (a regular file may take fewer bytes than asked, in theory) */
export async function writeAll(h: FileHandle, buffers: Buffer[], position: number): Promise<number> {
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
