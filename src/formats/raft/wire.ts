/**
 * Field-by-field reading with protobufjs's Reader for the two messages that occur once per WAL record
 * (walpb.Record, raftpb.Entry). The reflection decoder builds a message object and a Long per 64-bit field,
 * which dominates the cost of small records; these loops read the same wire format into locals instead.
 * They keep gogoproto's strictness (see proto.ts): a known field with the wrong wire type, or a group, is an
 * error; unknown fields with valid wire types are skipped.
 */
import protobuf from 'protobufjs';
import { StrictDecodeError, u64 } from './proto.js';

/**
 * A uint64 varint as a bigint. `Reader.uint32` reads the low 32 bits of any varint; it is exact when it
 * consumed at most 4 bytes, or 5 with no bits above 2^32 in the last one. Otherwise re-read with
 * `Reader.uint64` (a Long): raft indexes and terms are below 2^32 in practice, so that path is rare.
 */
export function readU64(r: protobuf.Reader): bigint {
  const start = r.pos;
  const lo = r.uint32();
  const used = r.pos - start;
  if (used <= 4 || (used === 5 && r.buf[r.pos - 1]! < 0x10)) return BigInt(lo);
  r.pos = start;
  return u64(r.uint64() as unknown as Parameters<typeof u64>[0]);
}

/** Throws like gogo for a known field that arrives with another wire type, and for groups. */
export function expectWire(msg: string, field: number, wire: number, want: number): void {
  if (wire !== want) throw new StrictDecodeError(`${msg}: wrong wire type ${wire} for field ${field}`);
}

/** Skips an unknown field; groups are refused as gogo does. */
export function skipUnknown(r: protobuf.Reader, msg: string, field: number, wire: number): void {
  if (wire === 3 || wire === 4) throw new StrictDecodeError(`${msg}: group wire type on field ${field}`);
  if (field === 0) throw new StrictDecodeError(`${msg}: illegal field number 0`);
  r.skipType(wire);
}

/** A bytes field as a view into the reader's buffer; empty means absent (proto3). */
export function readBytesView(r: protobuf.Reader): Buffer | undefined {
  const len = r.uint32();
  const start = r.pos;
  const end = start + len;
  if (end > r.len) throw new RangeError(`index out of range: ${start} + ${len} > ${r.len}`);
  r.pos = end;
  if (len === 0) return undefined;
  const b = r.buf;
  return Buffer.isBuffer(b) ? b.subarray(start, end) : Buffer.from(b.buffer, b.byteOffset + start, len);
}

/** A reader over buf[start, start + len): reads past the end throw instead of running into the next frame. */
export function readerOver(buf: Uint8Array, start = 0, len = buf.length - start): protobuf.Reader {
  const r = protobuf.Reader.create(buf);
  r.pos = start;
  r.len = start + len;
  return r;
}
