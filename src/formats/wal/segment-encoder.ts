/**
 * Builds WAL segment bytes the way etcd's encoder frames them (§2.2, §2.4). etcd-dr never writes a
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

/** Frames records, chaining the CRC from prevCrc. A crc record gets the running value. */
export function encodeWalRecords(
  records: readonly RecordToEncode[],
  prevCrc = 0,
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
    const pad = (8 - (body.length % 8)) % 8;
    const len = Buffer.alloc(8);
    len.writeUInt32LE(body.length % 0x1_0000_0000, 0);
    len.writeUInt32LE((Math.floor(body.length / 0x1_0000_0000) | (pad ? (0x80 | pad) << 24 : 0)) >>> 0, 4);
    parts.push(len, body, Buffer.alloc(pad));
  }
  return { bytes: Buffer.concat(parts), endCrc: running };
}
