/**
 * The plain segment of the revision log (docs/revision-log.md §2): a header, one record per etcd
 * revision, an end marker. Pure: bytes in, values out (the protos are etcd's own, vendored).
 *
 *   header   8 bytes "DRREVLOG", 1 byte format version (1)
 *   record   u32 big-endian length N (N > 0), then N bytes: a RevisionRecord message
 *   end      u32 0 (nothing may follow)
 *
 *   message RevisionRecord {            // package etcddr.revlog, declared here
 *     int64 revision = 1;               // the etcd revision (one write transaction)
 *     int64 received_unix_ms = 2;       // when dr received it (wall clock, ms since the epoch)
 *     repeated mvccpb.Event events = 3; // etcd's own Event (kv.proto), in the order etcd sent them
 *   }
 *
 * The events are etcd's `mvccpb.Event` byte for byte (prev_kv unset): a reader that knows etcd's protos
 * reads them with no dr code. The length prefix lets a reader skip and bound records; the end marker tells
 * a segment cut at a record boundary from a complete one.
 */
import protobuf from 'protobufjs';
import { DrError } from '../core/errors.js';
import { ETCD_PROTO_FILES, loadEtcdProtos } from '../formats/raft/etcd-protos.js';

export const SEGMENT_MAGIC = Buffer.from('DRREVLOG');
export const SEGMENT_FORMAT_VERSION = 1;
export const SEGMENT_HEADER = Buffer.concat([SEGMENT_MAGIC, Buffer.from([SEGMENT_FORMAT_VERSION])]);
export const SEGMENT_END = Buffer.alloc(4);
/** Far above etcd's largest transaction (its request limit is 1.5 MiB by default); guards against garbage. */
export const MAX_RECORD_BYTES = 256 << 20;

export interface LogEvent {
  type: 'PUT' | 'DELETE';
  key: Buffer;
  /** empty for a DELETE */
  value: Buffer;
  createRevision: bigint;
  /** the revision of the change (a DELETE's too) */
  modRevision: bigint;
  version: bigint;
  lease: bigint;
}

export interface RevisionRecord {
  revision: bigint;
  /** wall-clock ms when dr received the revision */
  receivedAt: number;
  events: LogEvent[];
}

let types: { record: protobuf.Type } | undefined;

function recordType(): protobuf.Type {
  if (types) return types.record;
  const root = loadEtcdProtos([ETCD_PROTO_FILES.kv]);
  const record = new protobuf.Type('RevisionRecord')
    .add(new protobuf.Field('revision', 1, 'int64'))
    .add(new protobuf.Field('received_unix_ms', 2, 'int64'))
    .add(new protobuf.Field('events', 3, '.mvccpb.Event', 'repeated'));
  root.define('etcddr.revlog').add(record);
  root.resolveAll();
  types = { record };
  return record;
}

/** protobufjs's fromObject takes int64 values as decimal strings (through the `long` package: exact). */
const long = (v: bigint) => v.toString();

interface LongLike {
  low: number;
  high: number;
  unsigned: boolean;
}
function big(v: unknown): bigint {
  if (v === undefined || v === null) return 0n;
  if (typeof v === 'number') return BigInt(v);
  const l = v as LongLike;
  const x = (BigInt(l.high >>> 0) << 32n) | BigInt(l.low >>> 0);
  return l.unsigned ? x : BigInt.asIntN(64, x);
}

/** One record as it is written: the u32 length and the message. */
export function encodeRecord(rec: RevisionRecord): Buffer {
  for (const e of rec.events) {
    if (e.modRevision !== rec.revision)
      throw new DrError(
        'INTERNAL',
        `revlog: an event of revision ${e.modRevision} given in the record of revision ${rec.revision}`,
      );
  }
  const msg = recordType().fromObject({
    revision: long(rec.revision),
    received_unix_ms: long(BigInt(rec.receivedAt)),
    events: rec.events.map((e) => ({
      type: e.type === 'DELETE' ? 1 : 0,
      kv: {
        key: e.key,
        create_revision: long(e.createRevision),
        mod_revision: long(e.modRevision),
        version: long(e.version),
        value: e.value,
        lease: long(e.lease),
      },
    })),
  });
  const body = recordType().encode(msg).finish();
  const out = Buffer.allocUnsafe(4 + body.length);
  out.writeUInt32BE(body.length, 0);
  out.set(body, 4);
  return out;
}

const bytesOf = (v: unknown): Buffer =>
  v instanceof Uint8Array ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) : Buffer.alloc(0);

export function decodeRecordBody(body: Uint8Array): RevisionRecord {
  const m = recordType().decode(body) as unknown as {
    revision: unknown;
    received_unix_ms: unknown;
    events?: { type?: number; kv?: Record<string, unknown> }[];
  };
  return {
    revision: big(m.revision),
    receivedAt: Number(big(m.received_unix_ms)),
    events: (m.events ?? []).map((e) => ({
      type: e.type === 1 ? 'DELETE' : 'PUT',
      key: bytesOf(e.kv?.key),
      value: bytesOf(e.kv?.value),
      createRevision: big(e.kv?.create_revision),
      modRevision: big(e.kv?.mod_revision),
      version: big(e.kv?.version),
      lease: big(e.kv?.lease),
    })),
  };
}

/**
 * Reads a plain segment pushed in pieces of any size; holds at most one record's bytes. Every problem is
 * VERIFY_FAILED (check `segment-format`) naming the offset where valid data ends.
 */
export class SegmentDecoder {
  private buf: Buffer = Buffer.alloc(0);
  /** pieces not joined to buf yet: a long record is joined once, when it is complete, not piece by piece */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** bytes buf must hold before parsing can make progress */
  private need = SEGMENT_HEADER.length;
  /** offset in the segment of buf[0] */
  private base = 0;
  private headerSeen = false;
  private ended = false;
  records = 0;

  constructor(private readonly what: string) {}

  private fail(offset: number, why: string): never {
    throw new DrError('VERIFY_FAILED', `${this.what}: ${why} at offset ${offset}`, {
      check: 'segment-format',
      offset,
    });
  }

  /** The records completed by `chunk`. */
  push(chunk: Buffer): RevisionRecord[] {
    const out: RevisionRecord[] = [];
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.buf.length + this.pendingBytes < this.need) return out;
    this.buf = Buffer.concat([this.buf, ...this.pending]);
    this.pending = [];
    this.pendingBytes = 0;
    let pos = 0;
    if (!this.headerSeen) {
      if (this.buf.length < SEGMENT_HEADER.length) {
        if (!SEGMENT_HEADER.subarray(0, this.buf.length).equals(this.buf))
          this.fail(0, 'not a revision log segment');
        return out;
      }
      if (!this.buf.subarray(0, SEGMENT_MAGIC.length).equals(SEGMENT_MAGIC))
        this.fail(0, 'not a revision log segment (no DRREVLOG header)');
      const v = this.buf[SEGMENT_MAGIC.length]!;
      if (v !== SEGMENT_FORMAT_VERSION)
        this.fail(
          SEGMENT_MAGIC.length,
          `segment format version ${v} is not supported (this dr reads ${SEGMENT_FORMAT_VERSION})`,
        );
      this.headerSeen = true;
      pos = SEGMENT_HEADER.length;
    }
    while (this.buf.length - pos >= 4) {
      if (this.ended) this.fail(this.base + pos, 'bytes after the end marker');
      const n = this.buf.readUInt32BE(pos);
      if (n === 0) {
        this.ended = true;
        pos += 4;
        continue;
      }
      if (n > MAX_RECORD_BYTES) this.fail(this.base + pos, `a record length of ${n} bytes`);
      if (this.buf.length - pos - 4 < n) break;
      let rec: RevisionRecord;
      try {
        rec = decodeRecordBody(this.buf.subarray(pos + 4, pos + 4 + n));
      } catch (err) {
        this.fail(this.base + pos, `a record that does not decode (${(err as Error).message})`);
      }
      out.push(rec);
      this.records++;
      pos += 4 + n;
    }
    if (this.ended && this.buf.length > pos) this.fail(this.base + pos, 'bytes after the end marker');
    this.base += pos;
    this.buf = this.buf.subarray(pos);
    this.need = !this.headerSeen
      ? SEGMENT_HEADER.length
      : this.ended
        ? 1
        : this.buf.length < 4
          ? 4
          : 4 + this.buf.readUInt32BE(0);
    return out;
  }

  /** Throws when the segment stopped before its end marker (cut short). */
  end(): void {
    if (!this.headerSeen) this.fail(this.base, 'the segment ends inside its header');
    if (this.ended && this.pendingBytes > 0) this.fail(this.base, 'bytes after the end marker');
    if (!this.ended)
      this.fail(
        this.base,
        this.buf.length + this.pendingBytes
          ? 'the segment ends inside a record'
          : 'the segment ends without its end marker',
      );
  }
}

/** A whole plain segment (tests, small tools): header, records, end marker. */
export function encodeSegment(records: readonly RevisionRecord[]): Buffer {
  return Buffer.concat([SEGMENT_HEADER, ...records.map(encodeRecord), SEGMENT_END]);
}
