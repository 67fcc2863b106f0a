/**
 * bbolt writes its structures in host byte order: little-endian on amd64/arm64, big-endian on s390x. The
 * magic number tells which; everything after that reads through one of these two accessors.
 */
export interface Endian {
  readonly little: boolean;
  u16(b: Buffer, o: number): number;
  u32(b: Buffer, o: number): number;
  /** a u64 as a JS number: exact below 2^53, and a huge (out-of-bounds) number above, which is all page ids need */
  u64n(b: Buffer, o: number): number;
  u64(b: Buffer, o: number): bigint;
  /** true when the u64 at o is 0xFFFFFFFFFFFFFFFF (bbolt's "no page") */
  isAllOnes(b: Buffer, o: number): boolean;
}

const TWO32 = 0x1_0000_0000;

export const LITTLE: Endian = {
  little: true,
  u16: (b, o) => b.readUInt16LE(o),
  u32: (b, o) => b.readUInt32LE(o),
  u64n: (b, o) => b.readUInt32LE(o) + b.readUInt32LE(o + 4) * TWO32,
  u64: (b, o) => b.readBigUInt64LE(o),
  isAllOnes: (b, o) => b.readUInt32LE(o) === 0xffffffff && b.readUInt32LE(o + 4) === 0xffffffff,
};

export const BIG: Endian = {
  little: false,
  u16: (b, o) => b.readUInt16BE(o),
  u32: (b, o) => b.readUInt32BE(o),
  u64n: (b, o) => b.readUInt32BE(o + 4) + b.readUInt32BE(o) * TWO32,
  u64: (b, o) => b.readBigUInt64BE(o),
  isAllOnes: (b, o) => b.readUInt32BE(o) === 0xffffffff && b.readUInt32BE(o + 4) === 0xffffffff,
};
