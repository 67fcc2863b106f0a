/**
 * One open segment: revision records are encoded (segment-format.ts), hashed, compressed with zstd and,
 * when the log is encrypted, sealed with age, as they arrive. What is kept is the stored bytes only (the
 * compressed, maybe encrypted output), so a segment costs its stored size in memory; the writer bounds
 * the plain size (`segmentMaxBytes`) and holds at most two segments (one filling, one uploading).
 *
 * zstd runs on the calling thread here (no worker): segments are small, and a worker per segment would
 * cost a thread start every few seconds.
 */
import { createHash } from 'node:crypto';
import type { SealedHeader } from '../crypto/age-header.js';
import { AgePayloadEncryptor } from '../crypto/age-stream.js';
import { DEFAULT_COMPRESSION_LEVEL } from '../pipeline/compression.js';
import { ZstdEncoder } from '../pipeline/zstd-encoder.js';
import { encodeRecord, SEGMENT_END, SEGMENT_HEADER, type RevisionRecord } from './segment-format.js';

export interface SealedSegment {
  firstRevision: bigint;
  lastRevision: bigint;
  firstTime: number;
  lastTime: number;
  revisionCount: number;
  eventCount: number;
  plain: { size: number; sha256: string };
  stored: { size: number; sha256: string; pieces: Buffer[] };
}

export class SegmentBuilder {
  private readonly zstd = new ZstdEncoder({
    level: DEFAULT_COMPRESSION_LEVEL,
    workers: 0,
    jobSize: 0,
    windowLog: 20,
    checksum: true,
  });
  private readonly age: AgePayloadEncryptor | null;
  private readonly plainHash = createHash('sha256');
  private readonly storedHash = createHash('sha256');
  private plainSize = 0;
  private storedSize = 0;
  private readonly pieces: Buffer[] = [];
  first: bigint | null = null;
  last: bigint | null = null;
  firstTime = 0;
  lastTime = 0;
  revisionCount = 0;
  eventCount = 0;
  private readonly store$ = (piece: Buffer) => {
    // zstd hands out slices of a slab it reuses only once full; age output is fresh: keep a copy either way
    const copy = Buffer.from(piece);
    this.storedHash.update(copy);
    this.storedSize += copy.length;
    this.pieces.push(copy);
  };
  private readonly emit$: (piece: Buffer) => void;

  constructor(age: SealedHeader | null) {
    this.age = age ? new AgePayloadEncryptor(age.fileKey, age.header) : null;
    this.emit$ = this.age ? (p) => this.age!.write(p, this.store$) : this.store$;
    this.plain(SEGMENT_HEADER);
  }

  private plain(b: Buffer): void {
    this.plainHash.update(b);
    this.plainSize += b.length;
    this.zstd.write(b, this.emit$);
  }

  get plainBytes(): number {
    return this.plainSize;
  }

  get empty(): boolean {
    return this.revisionCount === 0;
  }

  add(rec: RevisionRecord): void {
    if (this.last !== null && rec.revision <= this.last)
      throw new Error(`revlog: revision ${rec.revision} after ${this.last} in one segment`);
    this.plain(encodeRecord(rec));
    this.first ??= rec.revision;
    if (this.revisionCount === 0) this.firstTime = rec.receivedAt;
    this.last = rec.revision;
    this.lastTime = rec.receivedAt;
    this.revisionCount++;
    this.eventCount += rec.events.length;
  }

  seal(): SealedSegment {
    if (this.first === null || this.last === null) throw new Error('revlog: sealing an empty segment');
    this.plain(SEGMENT_END);
    this.zstd.end(this.emit$);
    this.age?.end(this.store$);
    return {
      firstRevision: this.first,
      lastRevision: this.last,
      firstTime: this.firstTime,
      lastTime: this.lastTime,
      revisionCount: this.revisionCount,
      eventCount: this.eventCount,
      plain: { size: this.plainSize, sha256: this.plainHash.digest('hex') },
      stored: { size: this.storedSize, sha256: this.storedHash.digest('hex'), pieces: this.pieces },
    };
  }
}
