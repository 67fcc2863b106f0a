/**
 * The backup's one processing step: every piece of the snapshot is hashed (SnapshotHasher), summarised
 * for `snapshot status` (StreamingSnapshotStatus) and compressed (ZstdEncoder) while it is still in the
 * CPU cache; with encryption zstd's output is sealed in age's 64 KiB chunks (crypto/age-stream.ts) in the
 * same step; what leaves is counted and hashed. One Transform instead of four
 * chained streams: on the two cores dr shares with etcd, every stream stage costs CPU that is backup time
 * (figures: docs/benchmarks.md, "Figures behind design choices in the code").
 *
 * Failures of the snapshot itself (a trailer that does not match, a db bbolt cannot read) are raised in
 * flush(), before the consumer sees the end, so an upload of a bad snapshot is aborted, never completed.
 */
import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import type { SealedHeader } from '../crypto/age-header.js';
import { AgePayloadEncryptor } from '../crypto/age-stream.js';
import type { SnapshotStatus } from '../formats/bbolt/snapshot-status.js';
import { StreamingSnapshotStatus } from '../formats/bbolt/stream-status.js';
import { SnapshotHasher, type SnapshotDigestResult } from './snapshot-hasher.js';
import { ZstdEncoder, type ZstdEncoderParameters } from './zstd-encoder.js';

export interface SnapshotEncoderResult {
  digest: SnapshotDigestResult;
  status: SnapshotStatus;
  /** the bytes handed to storage */
  stored: { size: number; sha256: string };
}

export class SnapshotEncoder extends Transform {
  private readonly hasher: SnapshotHasher;
  private readonly status = new StreamingSnapshotStatus();
  private readonly zstd: ZstdEncoder | null;
  private readonly age: AgePayloadEncryptor | null;
  private readonly storedHash = createHash('sha256');
  private storedBytes = 0;
  private resultValue: SnapshotEncoderResult | null = null;
  private readonly store$ = (piece: Buffer) => {
    this.storedHash.update(piece);
    this.storedBytes += piece.length;
    this.push(piece);
  };
  private readonly seal$ = (piece: Buffer) => this.age!.write(piece, this.store$);
  private readonly emit$: (piece: Buffer) => void;

  /** zstd: null stores the plain snapshot; age: the header to seal under, null stores in the clear */
  constructor(source: string, zstd: ZstdEncoderParameters | null, age: SealedHeader | null = null) {
    // a short output queue for the same reason as the snapshot stream's (etcd/snapshot-stream.ts)
    super({ highWaterMark: 256 << 10 });
    this.hasher = new SnapshotHasher(source);
    this.zstd = zstd ? new ZstdEncoder(zstd) : null;
    this.age = age ? new AgePayloadEncryptor(age.fileKey, age.header) : null;
    this.emit$ = this.age ? this.seal$ : this.store$;
  }

  get result(): SnapshotEncoderResult {
    if (!this.resultValue) throw new Error('snapshot encoder read before the stream ended');
    return this.resultValue;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.hasher.update(chunk);
      this.status.update(chunk);
      if (this.zstd) this.zstd.write(chunk, this.emit$);
      else this.emit$(chunk);
    } catch (err) {
      return cb(err as Error);
    }
    cb();
  }

  override _flush(cb: TransformCallback): void {
    try {
      const digest = this.hasher.finish();
      const status = this.status.finish();
      this.zstd?.end(this.emit$);
      this.age?.end(this.store$);
      this.resultValue = {
        digest,
        status,
        stored: { size: this.storedBytes, sha256: this.storedHash.digest('hex') },
      };
      cb();
    } catch (err) {
      cb(err as Error);
    }
  }
}
