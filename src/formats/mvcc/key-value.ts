/**
 * mvccpb.KeyValue, the value of every `key` bucket entry. `decodeKeyValue` is the full decode; `scanKeyValue`
 * reads the same message with protobufjs's Reader but leaves the value as an offset into the input, so a scan
 * over a 1 GiB db does not copy every value.
 */
import protobuf from 'protobufjs';
import { big, bytes, KeyValueType } from './protos.js';

export interface KeyValue {
  key: Buffer;
  createRevision: bigint;
  modRevision: bigint;
  version: bigint;
  value: Buffer;
  lease: bigint;
}

export interface KeyValueScan extends Omit<KeyValue, 'value'> {
  valueOffset: number;
  valueLength: number;
}

/** Throws protobufjs's error on a malformed message. */
export function decodeKeyValue(buf: Buffer): KeyValue {
  const m = KeyValueType.decode(buf) as unknown as Record<string, unknown>;
  return {
    key: bytes(m.key),
    createRevision: big(m.create_revision),
    modRevision: big(m.mod_revision),
    version: big(m.version),
    value: bytes(m.value),
    lease: big(m.lease),
  };
}

/** Throws on a malformed message (truncated varint, bad wire type for a known field, ...). */
export function scanKeyValue(buf: Buffer): KeyValueScan {
  const r = protobuf.Reader.create(buf);
  const out: KeyValueScan = {
    key: Buffer.alloc(0),
    createRevision: 0n,
    modRevision: 0n,
    version: 0n,
    lease: 0n,
    valueOffset: 0,
    valueLength: 0,
  };
  while (r.pos < r.len) {
    const tag = r.uint32();
    const field = tag >>> 3;
    const wire = tag & 7;
    const expect = field === 1 || field === 5 ? 2 : field >= 2 && field <= 6 ? 0 : -1;
    if (expect >= 0 && wire !== expect) throw new Error(`KeyValue field ${field} has wire type ${wire}`);
    switch (field) {
      case 1:
        out.key = bytes(r.bytes());
        break;
      case 2:
        out.createRevision = big(r.int64());
        break;
      case 3:
        out.modRevision = big(r.int64());
        break;
      case 4:
        out.version = big(r.int64());
        break;
      case 5: {
        const len = r.uint32();
        if (r.pos + len > r.len) throw new Error('KeyValue value runs past the end of the message');
        out.valueOffset = r.pos;
        out.valueLength = len;
        r.skip(len);
        break;
      }
      case 6:
        out.lease = big(r.int64());
        break;
      default:
        r.skipType(wire);
    }
  }
  return out;
}

/** Only the user key (field 1): what building the key index needs. */
export function userKeyOf(buf: Buffer): Buffer {
  const r = protobuf.Reader.create(buf);
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag >>> 3 === 1 && (tag & 7) === 2) return bytes(r.bytes());
    r.skipType(tag & 7);
  }
  return Buffer.alloc(0);
}
