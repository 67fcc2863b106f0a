/**
 * The two meta pages (docs/format.md §4.2). A meta is valid when magic, version and its FNV-1a 64 checksum
 * over the first 56 bytes of the meta struct all match; the current meta is the valid one with the higher
 * txid. Page size is read from meta 0 when it is valid, otherwise found by probing for a valid meta 1 at
 * 1 KiB << i, as bbolt does.
 */
import type { ByteSource } from '../byte-source.js';
import { BIG, LITTLE, type Endian } from './endian.js';
import { PAGE_HEADER_SIZE, parsePageHeader, type PageHeader } from './page.js';

export const MAGIC = 0xed0cdaed;
export const VERSION = 2;
/** bytes of the meta struct covered by the checksum */
const CHECKSUMMED = 56;
const META_SIZE = 64;
const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;
const MASK64 = 0xffffffffffffffffn;

export interface MetaPage {
  /** 0 or 1: which meta page */
  slot: 0 | 1;
  /** file offset of the page (the meta struct is 16 bytes further) */
  offset: number;
  header: PageHeader;
  littleEndian: boolean;
  magic: number;
  version: number;
  pageSize: number;
  flags: number;
  /** root bucket's root page id */
  root: number;
  rootSequence: bigint;
  /** freelist page id, or null when not persisted (all ones: etcd's NoFreelistSync) */
  freelist: number | null;
  /** high-water mark: valid page ids are < pgid */
  pgid: number;
  txid: bigint;
  checksum: bigint;
  computedChecksum: bigint;
  /** magic, version and checksum all match (bbolt's own test) and the page size is usable */
  valid: boolean;
  /** why it is not valid (empty when valid) */
  problems: string[];
}

export interface Metas {
  /** meta 0 and meta 1 as read (null when the bytes are missing or the page size is unknown) */
  metas: [MetaPage | null, MetaPage | null];
  /** which meta bbolt would use, or null when neither is valid */
  current: 0 | 1 | null;
  /** page size used to locate meta 1 (null when none could be determined) */
  pageSize: number | null;
  littleEndian: boolean;
}

export function fnv1a64(b: Buffer): bigint {
  let h = FNV_OFFSET;
  for (const byte of b) h = ((h ^ BigInt(byte)) * FNV_PRIME) & MASK64;
  return h;
}

function endianOf(b: Buffer, o: number): Endian | null {
  if (b.length < o + 4) return null;
  if (b.readUInt32LE(o) === MAGIC) return LITTLE;
  if (b.readUInt32BE(o) === MAGIC) return BIG;
  return null;
}

function validPageSize(n: number): boolean {
  return n >= 512 && n <= 1 << 26 && (n & (n - 1)) === 0;
}

/** Parses the meta page whose bytes start at `b[0]` (the page header). Null when fewer than 80 bytes. */
export function parseMetaPage(
  b: Buffer,
  slot: 0 | 1,
  offset: number,
  fallback: Endian = LITTLE,
): MetaPage | null {
  if (b.length < PAGE_HEADER_SIZE + META_SIZE) return null;
  const m = PAGE_HEADER_SIZE;
  const e = endianOf(b, m) ?? fallback;
  const computedChecksum = fnv1a64(b.subarray(m, m + CHECKSUMMED));
  const meta: MetaPage = {
    slot,
    offset,
    header: parsePageHeader(e, b, 0),
    littleEndian: e.little,
    magic: e.u32(b, m),
    version: e.u32(b, m + 4),
    pageSize: e.u32(b, m + 8),
    flags: e.u32(b, m + 12),
    root: e.u64n(b, m + 16),
    rootSequence: e.u64(b, m + 24),
    freelist: e.isAllOnes(b, m + 32) ? null : e.u64n(b, m + 32),
    pgid: e.u64n(b, m + 40),
    txid: e.u64(b, m + 48),
    checksum: e.u64(b, m + 56),
    computedChecksum,
    valid: false,
    problems: [],
  };
  if (meta.magic !== MAGIC) meta.problems.push(`bad magic 0x${meta.magic.toString(16)}`);
  if (meta.version !== VERSION) meta.problems.push(`unsupported version ${meta.version}`);
  if (meta.checksum !== computedChecksum) {
    meta.problems.push(
      `checksum mismatch (stored 0x${meta.checksum.toString(16)}, computed 0x${computedChecksum.toString(16)})`,
    );
  }
  if (meta.problems.length === 0 && !validPageSize(meta.pageSize)) {
    meta.problems.push(`unusable page size ${meta.pageSize}`);
  }
  meta.valid = meta.problems.length === 0;
  return meta;
}

/**
 * Reads both meta pages. Never throws on bad data: validity is reported per meta, and `current` is null when
 * bbolt would refuse the file.
 */
export function readMetas(src: ByteSource): Metas {
  const head = src.read(0, PAGE_HEADER_SIZE + META_SIZE);
  const meta0 = parseMetaPage(head, 0, 0);
  const endian = endianOf(head, PAGE_HEADER_SIZE) ?? LITTLE;
  let pageSize: number | null = null;
  let meta1: MetaPage | null = null;
  if (meta0?.valid) {
    pageSize = meta0.pageSize;
  } else {
    // meta 0 cannot be trusted for the page size: look for a valid meta 1 where each page size would put it
    for (let i = 0; i <= 14; i++) {
      const off = 1024 << i;
      if (off + PAGE_HEADER_SIZE + META_SIZE > src.size) break;
      const m = parseMetaPage(src.read(off, PAGE_HEADER_SIZE + META_SIZE), 1, off, endian);
      if (m?.valid && m.pageSize === off) {
        pageSize = off;
        meta1 = m;
        break;
      }
    }
    // fall back on meta 0's own claim (when plausible) so that an invalid meta 1 can still be shown
    if (pageSize === null && meta0 && validPageSize(meta0.pageSize)) pageSize = meta0.pageSize;
  }
  if (meta1 === null && pageSize !== null) {
    meta1 = parseMetaPage(src.read(pageSize, PAGE_HEADER_SIZE + META_SIZE), 1, pageSize, endian);
  }
  return {
    metas: [meta0, meta1],
    current: pickCurrent(meta0, meta1),
    pageSize,
    littleEndian:
      (meta0?.valid ? meta0.littleEndian : meta1?.valid ? meta1.littleEndian : endian.little) ?? true,
  };
}

function pickCurrent(m0: MetaPage | null, m1: MetaPage | null): 0 | 1 | null {
  // bbolt: prefer the higher txid when it is valid, else the other one when valid
  const [a, b] = m1 && m0 && m1.txid > m0.txid ? [m1, m0] : [m0, m1];
  if (a?.valid) return a.slot;
  if (b?.valid) return b.slot;
  return null;
}
