/**
 * Builds WAL segment bytes the way etcd's encoder frames them (docs/format.md §2.2, §2.4). etcd-dr never writes a
 * member's WAL; this exists so tests and benchmarks can make synthetic segments and check the decoder
 * against an independent path.
 */
import { crc32c } from '@node-rs/crc32';
import { T } from '../raft/proto.js';
import { WalRecordType } from './record-type.js';

export interface RecordToEncode {
  type: number;
  data?: Uint8Array;
}

/**
 * Frames records, chaining the CRC from prevCrc. A crc record gets the running value. `legacy` frames them as
 * etcd before 3.0 did: the plain length, no padding (etcd 3.0+ reads a top byte of 0 as "no padding").
 */
export function encodeWalRecords(
  records: readonly RecordToEncode[],
  prevCrc = 0,
  opts: { legacy?: boolean } = {},
): { bytes: Buffer; endCrc: number } {
  let running = prevCrc >>> 0;
  const parts: Buffer[] = [];
  for (const r of records) {
    if (r.type !== WalRecordType.Crc && r.data && r.data.length > 0) running = crc32c(r.data, running) >>> 0;
    const body = Buffer.from(
      T.walRecord
        .encode({ type: r.type, crc: running, ...(r.data && r.data.length > 0 ? { data: r.data } : {}) })
        .finish(),
    );
    const pad = opts.legacy ? 0 : (8 - (body.length % 8)) % 8;
    const len = Buffer.alloc(8);
    len.writeUInt32LE(body.length % 0x1_0000_0000, 0);
    len.writeUInt32LE((Math.floor(body.length / 0x1_0000_0000) | (pad ? (0x80 | pad) << 24 : 0)) >>> 0, 4);
    parts.push(len, body, Buffer.alloc(pad));
  }
  return { bytes: Buffer.concat(parts), endCrc: running };
}

/**
 * The same segment framed the pre-3.0 way: every frame's length field without the padding marker and no
 * padding; the records, and so the CRC chain, are unchanged. The result has the input's size (zeros after the
 * last frame). Stops at the first zero length field; `frames` says where the frames are in `buf`.
 */
export function reframeLegacy(buf: Buffer, frames: readonly { offset: number; recBytes: number }[]): Buffer {
  const out = Buffer.alloc(buf.length);
  let at = 0;
  for (const f of frames) {
    out.writeUInt32LE(f.recBytes % 0x1_0000_0000, at);
    out.writeUInt32LE(Math.floor(f.recBytes / 0x1_0000_0000), at + 4);
    buf.copy(out, at + 8, f.offset + 8, f.offset + 8 + f.recBytes);
    at += 8 + f.recBytes;
  }
  return out;
}
