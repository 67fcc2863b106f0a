import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

/** Counts and sha256-hashes the bytes that pass through; reports progress every `every` bytes. */
export class StreamMeter extends Transform {
  private readonly hash = createHash('sha256');
  bytes = 0;
  private digestValue: string | null = null;
  private lastReport = 0;

  constructor(
    private readonly onProgress?: (bytes: number) => void,
    private readonly reportEvery = 4 << 20,
  ) {
    super();
  }

  get sha256(): string {
    if (this.digestValue === null) throw new Error('stream meter read before the stream ended');
    return this.digestValue;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    if (this.onProgress && this.bytes - this.lastReport >= this.reportEvery) {
      this.lastReport = this.bytes;
      this.onProgress(this.bytes);
    }
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    this.digestValue = this.hash.digest('hex');
    this.onProgress?.(this.bytes);
    cb();
  }
}
