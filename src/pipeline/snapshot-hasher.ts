import { createHash, type Hash } from 'node:crypto';
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
 * Hashes a snapshot (db bytes, then etcd's 32-byte sha256 trailer) once, in pieces of any size: the last
 * 32 bytes seen are held back so that the db digest can be taken (Hash.copy) before the trailer is added
 * to the whole-file digest. finish() throws when the trailer does not match, or the stream is too short
 * or not a whole number of 512-byte sectors. Bytes in, values out; the stream wrappers are
 * SnapshotDigest (fetch, verify) and SnapshotEncoder (backup).
 */
export class SnapshotHasher {
  private readonly hash: Hash = createHash('sha256');
  private readonly tail = Buffer.alloc(TRAILER);
  private tailLength = 0;
  private total = 0;

  constructor(private readonly source: string) {}

  /** bytes seen so far */
  get bytes(): number {
    return this.total;
  }

  update(chunk: Buffer): void {
    this.total += chunk.length;
    if (chunk.length >= TRAILER) {
      // everything but the chunk's last 32 bytes is db data (and so is the held-back tail before it)
      if (this.tailLength) this.hash.update(this.tail.subarray(0, this.tailLength));
      this.hash.update(chunk.subarray(0, chunk.length - TRAILER));
      chunk.copy(this.tail, 0, chunk.length - TRAILER);
      this.tailLength = TRAILER;
      return;
    }
    // a piece shorter than the trailer: the oldest bytes of tail + piece beyond 32 are db data
    const joined = Buffer.concat([this.tail.subarray(0, this.tailLength), chunk]);
    const cut = Math.max(0, joined.length - TRAILER);
    if (cut) this.hash.update(joined.subarray(0, cut));
    joined.copy(this.tail, 0, cut);
    this.tailLength = joined.length - cut;
  }

  finish(): SnapshotDigestResult {
    if (this.tailLength < TRAILER) {
      throw new DrError(
        'SNAPSHOT_STREAM_FAILED',
        `snapshot from ${this.source}: stream ended after ${this.total} bytes, before etcd's sha256 trailer`,
      );
    }
    const dbSha256 = this.hash.copy().digest('hex');
    const etcdSha256 = this.tail.toString('hex');
    this.hash.update(this.tail);
    const sha256 = this.hash.digest('hex');
    if (dbSha256 !== etcdSha256) {
      throw new DrError(
        'SNAPSHOT_DIGEST_MISMATCH',
        `snapshot from ${this.source}: etcd's sha256 trailer ${etcdSha256} does not match the received data (${dbSha256})`,
      );
    }
    if ((this.total - TRAILER) % 512 !== 0) {
      throw new DrError(
        'SNAPSHOT_INVALID',
        `snapshot from ${this.source}: db size ${this.total - TRAILER} is not a multiple of 512`,
      );
    }
    return { sha256, dbSha256, etcdSha256, size: this.total, dbSize: this.total - TRAILER };
  }
}
