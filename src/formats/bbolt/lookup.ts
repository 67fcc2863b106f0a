/**
 * Point lookups: find a bucket by path and a key inside it by descending the B+tree (binary search per
 * page), without walking the whole file. Lenient: any structural surprise yields null (the audit and the
 * walker are where damage gets reported).
 */
import type { BboltDb } from './open.js';
import {
  BUCKET_HEADER_SIZE,
  ELEMENT_SIZE,
  FLAG_BRANCH,
  FLAG_LEAF,
  LEAF_BUCKET,
  PAGE_HEADER_SIZE,
} from './page.js';

/** A bucket's root: a page id, or (root 0) the bytes of its inline page. */
export interface BucketRef {
  root: number;
  inline: Buffer | null;
}

export function rootBucket(db: BboltDb): BucketRef {
  return { root: db.meta.root, inline: null };
}

const MAX_DEPTH = 64;

function loadTreePage(db: BboltDb, id: number): Buffer | null {
  if (id < 2 || id >= db.pgid || (id + 1) * db.pageSize > db.src.size) return null;
  const head = db.reader.pages(id, 1);
  if (db.endian.u64n(head, 0) !== id) return null;
  const overflow = db.endian.u32(head, 12);
  if (overflow === 0) return head;
  if (id + overflow >= db.pgid || (id + overflow + 1) * db.pageSize > db.src.size) return null;
  return db.reader.pages(id, overflow + 1);
}

/** The leaf element for `key` in bucket `b`: its value and flags, or null. */
export function seek(db: BboltDb, b: BucketRef, key: Buffer): { value: Buffer; flags: number } | null {
  const e = db.endian;
  let buf = b.inline ?? loadTreePage(db, b.root);
  for (let depth = 0; buf && depth < MAX_DEPTH; depth++) {
    const flags = e.u16(buf, 8);
    const count = e.u16(buf, 10);
    if (PAGE_HEADER_SIZE + count * ELEMENT_SIZE > buf.length || count === 0) return null;
    const keyAt = (i: number): Buffer | null => {
      const off = PAGE_HEADER_SIZE + i * ELEMENT_SIZE;
      const ks = off + e.u32(buf!, off + (flags === FLAG_LEAF ? 4 : 0));
      const ke = ks + e.u32(buf!, off + (flags === FLAG_LEAF ? 8 : 4));
      return ke <= buf!.length ? buf!.subarray(ks, ke) : null;
    };
    // largest i with key_i <= key (or -1)
    let lo = 0;
    let hi = count - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const k = keyAt(mid);
      if (k === null) return null;
      const c = Buffer.compare(k, key);
      if (c <= 0) {
        found = mid;
        if (c === 0) break;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (flags === FLAG_BRANCH) {
      const off = PAGE_HEADER_SIZE + Math.max(0, found) * ELEMENT_SIZE;
      buf = loadTreePage(db, e.u64n(buf, off + 8));
      continue;
    }
    if (flags !== FLAG_LEAF || found < 0) return null;
    const off = PAGE_HEADER_SIZE + found * ELEMENT_SIZE;
    const ks = off + e.u32(buf, off + 4);
    const ke = ks + e.u32(buf, off + 8);
    const ve = ke + e.u32(buf, off + 12);
    if (ve > buf.length || !buf.subarray(ks, ke).equals(key)) return null;
    return { value: buf.subarray(ke, ve), flags: e.u32(buf, off) };
  }
  return null;
}

export function openBucket(db: BboltDb, path: readonly Buffer[]): BucketRef | null {
  let b = rootBucket(db);
  for (const name of path) {
    const hit = seek(db, b, name);
    if (!hit || (hit.flags & LEAF_BUCKET) === 0 || hit.value.length < BUCKET_HEADER_SIZE) return null;
    const root = db.endian.u64n(hit.value, 0);
    b = { root, inline: root === 0 ? hit.value.subarray(BUCKET_HEADER_SIZE) : null };
  }
  return b;
}

/** The value stored under `key` in the bucket at `path` (not a sub-bucket), or null. */
export function get(db: BboltDb, path: readonly Buffer[], key: Buffer): Buffer | null {
  const b = openBucket(db, path);
  const hit = b && seek(db, b, key);
  return hit && (hit.flags & LEAF_BUCKET) === 0 ? hit.value : null;
}

/** The last (largest) key of the bucket at `path`, or null when empty or unreadable. */
export function lastKey(db: BboltDb, path: readonly Buffer[]): Buffer | null {
  const b = openBucket(db, path);
  if (!b) return null;
  const e = db.endian;
  let buf = b.inline ?? loadTreePage(db, b.root);
  for (let depth = 0; buf && depth < MAX_DEPTH; depth++) {
    const flags = e.u16(buf, 8);
    const count = e.u16(buf, 10);
    if (count === 0 || PAGE_HEADER_SIZE + count * ELEMENT_SIZE > buf.length) return null;
    const off = PAGE_HEADER_SIZE + (count - 1) * ELEMENT_SIZE;
    if (flags === FLAG_BRANCH) {
      buf = loadTreePage(db, e.u64n(buf, off + 8));
      continue;
    }
    if (flags !== FLAG_LEAF) return null;
    const ks = off + e.u32(buf, off + 4);
    const ke = ks + e.u32(buf, off + 8);
    return ke <= buf.length ? buf.subarray(ks, ke) : null;
  }
  return null;
}
