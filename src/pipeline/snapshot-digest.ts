import { Transform, type TransformCallback } from 'node:stream';
import { SnapshotHasher, type SnapshotDigestResult } from './snapshot-hasher.js';

export type { SnapshotDigestResult } from './snapshot-hasher.js';

/**
 * Passes a plain snapshot through unchanged while SnapshotHasher hashes it. A trailer that does not match
 * fails the stream in flush(), before any consumer sees the end: a copy of a snapshot whose digest is
 * wrong is never completed.
 */
export class SnapshotDigest extends Transform {
  private readonly hasher: SnapshotHasher;
  private resultValue: SnapshotDigestResult | null = null;
  private reported = 0;

  constructor(
    source: string,
    /** bytes seen so far, for progress (called at most every 4 MiB) */
    private readonly onProgress?: (bytes: number) => void,
  ) {
    super();
    this.hasher = new SnapshotHasher(source);
  }

  get result(): SnapshotDigestResult {
    if (!this.resultValue) throw new Error('snapshot digest read before the stream ended');
    return this.resultValue;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hasher.update(chunk);
    const total = this.hasher.bytes;
    if (this.onProgress && total - this.reported >= 4 << 20) {
      this.reported = total;
      this.onProgress(total);
    }
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    try {
      this.resultValue = this.hasher.finish();
      cb();
    } catch (err) {
      cb(err as Error);
    }
  }
}
