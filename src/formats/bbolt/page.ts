/**
 * Page header and element layout (docs/format.md §4.1, §4.3). Offsets are relative to the start of a page
 * buffer; element `pos` fields are relative to the element itself.
 */
import type { Endian } from './endian.js';

export const PAGE_HEADER_SIZE = 16;
export const ELEMENT_SIZE = 16;
/** a bucket header inside a leaf value: root pgid u64, sequence u64 */
export const BUCKET_HEADER_SIZE = 16;

export const FLAG_BRANCH = 0x01;
export const FLAG_LEAF = 0x02;
export const FLAG_META = 0x04;
export const FLAG_FREELIST = 0x10;
/** leaf element flag: the value is a bucket header */
export const LEAF_BUCKET = 0x01;

export interface PageHeader {
  id: number;
  flags: number;
  count: number;
  overflow: number;
}

export function parsePageHeader(e: Endian, b: Buffer, o = 0): PageHeader {
  return { id: e.u64n(b, o), flags: e.u16(b, o + 8), count: e.u16(b, o + 10), overflow: e.u32(b, o + 12) };
}

export function pageTypeName(flags: number): string {
  switch (flags) {
    case FLAG_BRANCH:
      return 'branch';
    case FLAG_LEAF:
      return 'leaf';
    case FLAG_META:
      return 'meta';
    case FLAG_FREELIST:
      return 'freelist';
    default:
      return `unknown(0x${flags.toString(16)})`;
  }
}
