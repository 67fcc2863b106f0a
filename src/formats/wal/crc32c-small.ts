/**
 * CRC32C (Castagnoli, reflected polynomial 0x82f63b78) of a byte range, for the WAL's per-record chain.
 *
 * Why not always @node-rs/crc32: its hardware CRC is far faster per byte, but each call crosses N-API and
 * needs a Buffer view, a fixed cost of a few hundred ns that dominates records of ~150 bytes (the common
 * size of a Kubernetes WAL entry). Below SMALL_LIMIT bytes a table-driven loop (slicing by 8) over the
 * segment buffer is several times faster; above it the library is used. Both give the same values (a test
 * compares them on random data).
 */
import { crc32c as crc32cNative } from '@node-rs/crc32';

/** ranges shorter than this are computed in JS (the measured crossover is ~300 bytes) */
export const SMALL_LIMIT = 256;

const TABLE = (() => {
  const t = new Int32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[n] = c;
  }
  // t[k*256 + n]: the CRC of byte n followed by k zero bytes
  for (let n = 0; n < 256; n++) {
    let c = t[n]!;
    for (let k = 1; k < 8; k++) {
      c = t[c & 0xff]! ^ (c >>> 8);
      t[k * 256 + n] = c;
    }
  }
  return t;
})();

/** CRC32C of buf[start, end) in JS, continuing from `crc` (the value a previous call returned). */
export function crc32cRangeJs(buf: Uint8Array, start: number, end: number, crc: number): number {
  const t = TABLE;
  let c = ~crc;
  let p = start;
  for (; p + 8 <= end; p += 8) {
    const a = c ^ (buf[p]! | (buf[p + 1]! << 8) | (buf[p + 2]! << 16) | (buf[p + 3]! << 24));
    c =
      t[1792 + (a & 0xff)]! ^
      t[1536 + ((a >>> 8) & 0xff)]! ^
      t[1280 + ((a >>> 16) & 0xff)]! ^
      t[1024 + (a >>> 24)]! ^
      t[768 + buf[p + 4]!]! ^
      t[512 + buf[p + 5]!]! ^
      t[256 + buf[p + 6]!]! ^
      t[buf[p + 7]!]!;
  }
  for (; p < end; p++) c = t[(c ^ buf[p]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/** CRC32C of buf[start, end) continuing from `crc`; picks the faster implementation for the length. */
export function crc32cRange(buf: Buffer, start: number, end: number, crc: number): number {
  if (end - start < SMALL_LIMIT) return crc32cRangeJs(buf, start, end, crc);
  return crc32cNative(buf.subarray(start, end), crc) >>> 0;
}
