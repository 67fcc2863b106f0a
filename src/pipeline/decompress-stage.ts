/**
 * The zstd decompression stage of a fetch or a deep verify, on a worker thread (decompress-worker.ts):
 * the main thread then only reads, hashes (sha256 of the stored object and of the snapshot) and writes,
 * while the other core decompresses; on one thread the three took turns (see docs/benchmarks.md,
 * session 5). Memory stays bounded: at most IN_FLIGHT compressed chunks are with the worker, and the
 * Transform's own backpressure holds the next chunk until its output is read. Running from the TypeScript
 * sources (tests), where no worker script is built, it is zstd-napi's DecompressStream inline.
 */
import { existsSync } from 'node:fs';
import { Transform, type TransformCallback } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { DecompressStream } from 'zstd-napi';

const workerFile = fileURLToPath(new URL('./decompress-worker.js', import.meta.url));
const IN_FLIGHT = 4;

type FromWorker =
  { t: 'data'; ab: ArrayBuffer; n: number } | { t: 'ack' } | { t: 'done' } | { t: 'error'; message: string };

class WorkerDecompressStream extends Transform {
  private readonly worker = new Worker(workerFile);
  private inFlight = 0;
  /** the write callback held back while IN_FLIGHT chunks are with the worker */
  private held: TransformCallback | undefined;
  /** the flush callback, once the input has ended */
  private flushed: TransformCallback | undefined;
  private failure: Error | undefined;
  private ended = false;

  constructor() {
    super();
    this.worker.on('message', (m: FromWorker) => {
      if (this.failure) return;
      if (m.t === 'data') this.push(Buffer.from(m.ab, 0, m.n));
      else if (m.t === 'ack') {
        this.inFlight--;
        const cb = this.held;
        this.held = undefined;
        cb?.();
      } else if (m.t === 'done') {
        this.ended = true;
        void this.worker.terminate();
        this.flushed?.();
      } else this.fail(new Error(m.message));
    });
    this.worker.on('error', (err) => this.fail(err));
    this.worker.on('exit', (code) => {
      if (!this.ended) this.fail(new Error(`the decompression worker exited with code ${code}`));
    });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.failure) return cb(this.failure);
    // a copy with its own ArrayBuffer, handed over without another copy
    const ab = new ArrayBuffer(chunk.length);
    new Uint8Array(ab).set(chunk);
    this.worker.postMessage({ t: 'chunk', ab }, [ab]);
    if (++this.inFlight < IN_FLIGHT) cb();
    else this.held = cb;
  }

  override _flush(cb: TransformCallback): void {
    if (this.failure) return cb(this.failure);
    this.flushed = cb;
    this.worker.postMessage({ t: 'end' });
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    this.ended = true;
    void this.worker.terminate();
    cb(err);
  }

  private fail(err: Error): void {
    if (this.failure || this.ended) return;
    this.failure = err;
    this.ended = true;
    void this.worker.terminate();
    const cb = this.held ?? this.flushed;
    this.held = this.flushed = undefined;
    if (cb) cb(err);
    else this.destroy(err);
  }
}

/** A zstd decompressing Transform: on a worker thread when the built worker script is there. */
export function zstdDecompressStage(): Transform {
  return existsSync(workerFile) ? new WorkerDecompressStream() : new DecompressStream();
}
