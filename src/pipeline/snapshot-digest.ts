import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { DrError } from '../core/errors.js';

const TRAILER = 32;

export interface SnapshotDigestResult {
  /** sha256 of every byte (db + trailer): the plain snapshot file */
  sha256: string;
  /** sha256 of the db bytes, computed here */
  dbSha256: string;
  /** the trailer etcd sent (its sha256 of the db bytes) */
  etcdSha256: string;
  size: number;
  dbSize: number;
}

/**
 * Passes the snapshot through unchanged while hashing it once: the last 32 bytes are held back so that the
 * db digest can be taken (Hash.copy) before the trailer is added to the whole-file digest. A trailer that
 * does not match fails the stream in flush(), before any consumer sees the end: an upload of a snapshot
 * whose digest is wrong is aborted, never published.
 */
export class SnapshotDigest extends Transform {
  private readonly hash: Hash = createHash('sha256');
  private tail: Buffer = Buffer.alloc(0);
  private total = 0;
  private resultValue: SnapshotDigestResult | null = null;

  constructor(
    private readonly source: string,
    /** bytes seen so far, for progress (called at most every 4 MiB) */
    private readonly onProgress?: (bytes: number) => void,
  ) {
    super();
  }

  private reported = 0;

  get result(): SnapshotDigestResult {
    if (!this.resultValue) throw new Error('snapshot digest read before the stream ended');
    return this.resultValue;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.total += chunk.length;
    if (this.onProgress && this.total - this.reported >= 4 << 20) {
      this.reported = this.total;
      this.onProgress(this.total);
    }
    // Everything except the last 32 bytes seen so far is db data and can be hashed now.
    if (chunk.length >= TRAILER) {
      if (this.tail.length) this.hash.update(this.tail);
      this.hash.update(chunk.subarray(0, chunk.length - TRAILER));
      this.tail = Buffer.from(chunk.subarray(chunk.length - TRAILER));
    } else {
      const joined = Buffer.concat([this.tail, chunk]);
      const cut = Math.max(0, joined.length - TRAILER);
      if (cut) this.hash.update(joined.subarray(0, cut));
      this.tail = joined.subarray(cut);
    }
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    if (this.tail.length < TRAILER) {
      cb(
        new DrError(
          'SNAPSHOT_STREAM_FAILED',
          `snapshot from ${this.source}: stream ended after ${this.total} bytes, before etcd's sha256 trailer`,
        ),
      );
      return;
    }
    const dbSha256 = this.hash.copy().digest('hex');
    const etcdSha256 = this.tail.toString('hex');
    this.hash.update(this.tail);
    const sha256 = this.hash.digest('hex');
    if (dbSha256 !== etcdSha256) {
      cb(
        new DrError(
          'SNAPSHOT_DIGEST_MISMATCH',
          `snapshot from ${this.source}: etcd's sha256 trailer ${etcdSha256} does not match the received data (${dbSha256})`,
        ),
      );
      return;
    }
    if ((this.total - TRAILER) % 512 !== 0) {
      cb(
        new DrError(
          'SNAPSHOT_INVALID',
          `snapshot from ${this.source}: db size ${this.total - TRAILER} is not a multiple of 512`,
        ),
      );
      return;
    }
    this.resultValue = { sha256, dbSha256, etcdSha256, size: this.total, dbSize: this.total - TRAILER };
    cb();
  }
}
