import { Transform, type TransformCallback } from 'node:stream';
import type { SnapshotStatus } from '../formats/bbolt/snapshot-status.js';
import type { StreamingSnapshotStatus } from '../formats/bbolt/stream-status.js';

/**
 * Feeds every chunk to the streaming bbolt status while passing it on unchanged. A snapshot the status
 * cannot make sense of (SNAPSHOT_INVALID) fails the stream at its end, before the upload completes.
 */
export class StatusTap extends Transform {
  private result: SnapshotStatus | null = null;

  constructor(private readonly status: StreamingSnapshotStatus) {
    super();
  }

  /** hash, revision, keys and size, once the stream has ended */
  get statusResult(): SnapshotStatus {
    if (!this.result) throw new Error('snapshot status read before the stream ended');
    return this.result;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.status.update(chunk);
    } catch (err) {
      return cb(err as Error);
    }
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    try {
      this.result = this.status.finish();
      cb();
    } catch (err) {
      cb(err as Error);
    }
  }
}
