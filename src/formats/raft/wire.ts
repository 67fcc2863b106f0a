/**
 * Field-by-field reading with protobufjs's Reader for the two messages that occur once per WAL record
 * (walpb.Record, raftpb.Entry). The reflection decoder builds a message object and a Long per 64-bit field,
 * which dominates the cost of small records; these loops read the same wire format into locals instead.
 * Field numbers come from etcd's .proto via `fieldNumbers`. They keep gogoproto's strictness (see proto.ts): a known field with the wrong wire type, or a group, is an
 * error; unknown fields with valid wire types are skipped.
 */
import protobuf from 'protobufjs';
import { StrictDecodeError, T, u64 } from './proto.js';

/** The wire type of a field's values, from its .proto type (enums and varint scalars 0, messages 2). */
function wireOf(field: protobuf.Field): number {
  if (field.resolvedType instanceof protobuf.Enum) return 0;
  if (field.resolvedType instanceof protobuf.Type) return 2;
  const w = (protobuf.types.basic as Record<string, number | undefined>)[field.type];
  if (w === undefined) throw new Error(`protos: no wire type for ${field.fullName} (${field.type})`);
  return w;
}

/**
 * The field numbers of a message read by a hand-written loop, taken from etcd's .proto (one schema) and
 * checked against the wire type the loop reads each field with, so a vendored .proto that disagreed with
 * the loop fails at load instead of misreading records.
 */
export function fieldNumbers<K extends string>(
  type: protobuf.Type,
  wires: Record<K, number>,
): Record<K, number> {
  const out = {} as Record<K, number>;
  for (const name of Object.keys(wires) as K[]) {
    const field = type.fields[name];
    if (!field) throw new Error(`protos: ${type.fullName} has no field ${name}`);
    field.resolve();
    if (field.repeated || wireOf(field) !== wires[name])
      throw new Error(`protos: ${field.fullName} is not read as wire type ${wires[name]}`);
    out[name] = field.id;
  }
  return out;
}

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
  return u64(r.uint64());
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

/** walpb.Record's and raftpb.Entry's field numbers, with the wire type each loop reads. */
export const RECORD_FIELDS = fieldNumbers(T.walRecord, { type: 0, crc: 0, data: 2 });
export const ENTRY_FIELDS = fieldNumbers(T.entry, { type: 0, term: 0, index: 0, data: 2 });
