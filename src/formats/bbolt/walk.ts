/**
 * Full tree walk: every bucket and key/value of a bbolt file in key order, depth first (a nested bucket's
 * contents come right after its own entry in the parent). One explicit stack, no recursion, so a hostile
 * file cannot blow the JS stack; every page is visited at most once, so cycles and shared pages cannot make
 * it loop. Structural problems go to `onProblem` and the damaged subtree is skipped.
 *
 * Over 400 lines on purpose: one explicit-stack walk whose page checks and bucket descent share state; a
 * split would pass that state between files.
 */
import { openBucket } from './lookup.js';
import type { BboltDb } from './open.js';
import {
  BUCKET_HEADER_SIZE,
  ELEMENT_SIZE,
  FLAG_BRANCH,
  FLAG_LEAF,
  LEAF_BUCKET,
  PAGE_HEADER_SIZE,
  pageTypeName,
} from './page.js';
import { throwProblem, type BboltProblem, type ProblemHandler } from './problem.js';

export interface WalkEntry {
  /** names of the enclosing buckets, outermost first; [] for the top-level buckets themselves */
  path: readonly Buffer[];
  key: Buffer;
  /** the value; for a bucket entry, the raw bucket header (plus its inline page, if any) */
  value: Buffer;
  isBucket: boolean;
  /** page holding the element (for an inline bucket: the page holding that bucket) */
  page: number;
}

export interface PageVisit {
  id: number;
  type: 'branch' | 'leaf';
  overflow: number;
  count: number;
  /** bytes used in the span: header, elements and their data */
  used: number;
  /** (overflow + 1) × pageSize */
  span: number;
  path: readonly Buffer[];
  /** 0 for a bucket's root page */
  depth: number;
}

/** One bit per page id below the high-water mark: pages already reached. */
export class PageMarks {
  readonly bits: Uint8Array;
  constructor(readonly limit: number) {
    this.bits = new Uint8Array(Math.ceil(limit / 8));
  }
  has(id: number): boolean {
    return ((this.bits[id >>> 3] ?? 0) & (1 << (id & 7))) !== 0;
  }
  add(id: number): void {
    this.bits[id >>> 3]! |= 1 << (id & 7);
  }
  count(): number {
    let n = 0;
    for (const b of this.bits) {
      let x = b;
      while (x) {
        x &= x - 1;
        n++;
      }
    }
    return n;
  }
}

export interface WalkOptions {
  /** @default throwProblem */
  onProblem?: ProblemHandler;
  onPage?: (visit: PageVisit) => void;
  /** pages already reached (pre-marked: metas, freelist); the walk adds every tree page it visits */
  marks?: PageMarks;
  /** page ids in the freelist: reaching one from the tree is a problem */
  free?: PageMarks;
  /** walk only inside this bucket (path of names); entries keep their full path */
  bucket?: readonly Buffer[];
}

interface Frame {
  path: Buffer[];
  /** the page id, or for an inline bucket the id of the page that holds it */
  pgid: number;
  inline: boolean;
  overflow: number;
  buf: Buffer;
  /** file offset of buf[0]; -1 when unknown */
  base: number;
  leaf: boolean;
  count: number;
  i: number;
  lo: Buffer | null;
  hi: Buffer | null;
  prev: Buffer | null;
  depth: number;
}

const printable = (b: Buffer): string => {
  const s = b.toString('latin1');
  return /^[\x20-\x7e]*$/.test(s) ? s : `0x${b.toString('hex')}`;
};
const pathName = (path: readonly Buffer[]): string => path.map(printable).join('/');

/** Makes a PageMarks for `db` with the metas (pages 0 and 1) already marked. */
export function newMarks(db: BboltDb): PageMarks {
  const limit = Math.max(2, Math.min(db.pgid, Math.ceil(db.src.size / db.pageSize) + 1));
  const marks = new PageMarks(limit);
  marks.add(0);
  marks.add(1);
  return marks;
}

export function* walkTree(db: BboltDb, opts: WalkOptions = {}): Generator<WalkEntry, void, undefined> {
  const onProblem = opts.onProblem ?? throwProblem;
  const onPage = opts.onPage;
  const marks = opts.marks ?? newMarks(db);
  const free = opts.free;
  const e = db.endian;
  const { pageSize, pgid, reader } = db;
  const fileSize = db.src.size;
  const stack: Frame[] = [];

  const problem = (p: BboltProblem): void => onProblem(p);

  const onStack = (id: number): boolean =>
    stack.some((f) => !f.inline && f.pgid <= id && id <= f.pgid + f.overflow);

  /** Checks the element table fits and builds the frame; reports and returns null otherwise. */
  const frameFor = (
    buf: Buffer,
    id: number,
    inline: boolean,
    base: number,
    flags: number,
    count: number,
    overflow: number,
    path: Buffer[],
    lo: Buffer | null,
    hi: Buffer | null,
    depth: number,
  ): Frame | null => {
    const fits = Math.floor((buf.length - PAGE_HEADER_SIZE) / ELEMENT_SIZE);
    if (count > fits) {
      problem({
        code: 'ELEMENT_OUT_OF_BOUNDS',
        message: `${pageTypeName(flags)} page claims ${count} elements but only ${Math.max(0, fits)} fit`,
        page: id,
        offset: base >= 0 ? base + 10 : undefined,
        bucket: pathName(path),
      });
      count = Math.max(0, fits);
    }
    if (flags === FLAG_BRANCH && count === 0) {
      problem({
        code: 'EMPTY_BRANCH',
        message: 'branch page with no elements',
        page: id,
        offset: base,
        bucket: pathName(path),
      });
      return null;
    }
    const leaf = flags === FLAG_LEAF;
    if (onPage) {
      let used = PAGE_HEADER_SIZE + count * ELEMENT_SIZE;
      if (count > 0) {
        const off = PAGE_HEADER_SIZE + (count - 1) * ELEMENT_SIZE;
        const end = leaf
          ? off + e.u32(buf, off + 4) + e.u32(buf, off + 8) + e.u32(buf, off + 12)
          : off + e.u32(buf, off) + e.u32(buf, off + 4);
        if (end <= buf.length) used = Math.max(used, end);
      }
      if (!inline) {
        onPage({ id, type: leaf ? 'leaf' : 'branch', overflow, count, used, span: buf.length, path, depth });
      }
    }
    return { path, pgid: id, inline, overflow, buf, base, leaf, count, i: 0, lo, hi, prev: null, depth };
  };

  /** Loads a tree page reached from `from`; reports and returns null when it cannot be walked. */
  const loadPage = (
    id: number,
    from: number,
    path: Buffer[],
    lo: Buffer | null,
    hi: Buffer | null,
    depth: number,
  ): Frame | null => {
    if (!Number.isSafeInteger(id) || id >= pgid) {
      problem({
        code: 'PAGE_OUT_OF_BOUNDS',
        message: `page ${id} referenced from page ${from} is out of bounds (pgid ${pgid})`,
        page: from,
        bucket: pathName(path),
      });
      return null;
    }
    const base = id * pageSize;
    if (base + pageSize > fileSize) {
      problem({
        code: 'PAGE_BEYOND_EOF',
        message: `page ${id} referenced from page ${from} lies past the end of the file (${fileSize} bytes)`,
        page: id,
        offset: base,
        bucket: pathName(path),
      });
      return null;
    }
    if (id >= marks.limit || marks.has(id)) {
      const cycle = onStack(id);
      problem({
        code: cycle ? 'PAGE_CYCLE' : 'PAGE_MULTIPLE_REFERENCES',
        message: cycle
          ? `page ${id} referenced from page ${from} is its own ancestor (cycle)`
          : `page ${id} referenced from page ${from} was already reached (multiple references)`,
        page: id,
        offset: base,
        bucket: pathName(path),
      });
      return null;
    }
    marks.add(id);
    if (free?.has(id)) {
      problem({
        code: 'PAGE_REACHABLE_FREED',
        message: `page ${id} is reachable but listed in the freelist`,
        page: id,
        offset: base,
        bucket: pathName(path),
      });
    }
    let buf = reader.pages(id, 1);
    const hid = e.u64n(buf, 0);
    const flags = e.u16(buf, 8);
    const count = e.u16(buf, 10);
    const overflow = e.u32(buf, 12);
    if (hid !== id) {
      problem({
        code: 'PAGE_ID_MISMATCH',
        message: `page ${id} carries id ${hid} in its header`,
        page: id,
        offset: base,
        bucket: pathName(path),
      });
      return null;
    }
    if (flags !== FLAG_BRANCH && flags !== FLAG_LEAF) {
      problem({
        code: 'PAGE_INVALID_TYPE',
        message: `page ${id} reached from page ${from} is a ${pageTypeName(flags)} page, not a branch or leaf`,
        page: id,
        offset: base + 8,
        bucket: pathName(path),
      });
      return null;
    }
    if (overflow > 0) {
      if (id + overflow >= pgid) {
        problem({
          code: 'PAGE_OVERFLOW_OUT_OF_BOUNDS',
          message: `page ${id} overflows by ${overflow} pages, past pgid ${pgid}`,
          page: id,
          offset: base + 12,
          bucket: pathName(path),
        });
        return null;
      }
      if (base + (overflow + 1) * pageSize > fileSize) {
        problem({
          code: 'PAGE_BEYOND_EOF',
          message: `page ${id} with ${overflow} overflow pages runs past the end of the file (${fileSize} bytes)`,
          page: id,
          offset: base,
          bucket: pathName(path),
        });
        return null;
      }
      for (let p = id + 1; p <= id + overflow; p++) {
        if (p >= marks.limit || marks.has(p)) {
          problem({
            code: 'PAGE_MULTIPLE_REFERENCES',
            message: `overflow page ${p} of page ${id} was already reached (multiple references)`,
            page: p,
            offset: p * pageSize,
            bucket: pathName(path),
          });
          return null;
        }
        marks.add(p);
        if (free?.has(p)) {
          problem({
            code: 'PAGE_REACHABLE_FREED',
            message: `overflow page ${p} of page ${id} is reachable but listed in the freelist`,
            page: p,
            offset: p * pageSize,
            bucket: pathName(path),
          });
        }
      }
      buf = reader.pages(id, overflow + 1);
    }
    return frameFor(buf, id, false, base, flags, count, overflow, path, lo, hi, depth);
  };

  /** Pushes the root of the bucket whose header is `value` (an element of frame `f`). */
  const enterBucket = (f: Frame, key: Buffer, value: Buffer, valueOffset: number): void => {
    const path = [...f.path, key];
    const abs = f.base >= 0 ? f.base + valueOffset : undefined;
    if (value.length < BUCKET_HEADER_SIZE) {
      problem({
        code: 'BUCKET_HEADER_INVALID',
        message: `bucket header is ${value.length} bytes, expected at least ${BUCKET_HEADER_SIZE}`,
        page: f.pgid,
        offset: abs,
        bucket: pathName(path),
      });
      return;
    }
    const root = e.u64n(value, 0);
    let child: Frame | null;
    if (root === 0) {
      const ib = value.subarray(BUCKET_HEADER_SIZE);
      const ibase = abs !== undefined ? abs + BUCKET_HEADER_SIZE : -1;
      if (ib.length < PAGE_HEADER_SIZE) {
        problem({
          code: 'INLINE_PAGE_INVALID',
          message: `inline bucket holds ${ib.length} bytes, too short for a page header`,
          page: f.pgid,
          offset: abs,
          bucket: pathName(path),
        });
        return;
      }
      const flags = e.u16(ib, 8);
      if (flags !== FLAG_LEAF) {
        problem({
          code: 'INLINE_PAGE_INVALID',
          message: `inline bucket page is a ${pageTypeName(flags)} page, expected leaf`,
          page: f.pgid,
          offset: ibase >= 0 ? ibase + 8 : undefined,
          bucket: pathName(path),
        });
        return;
      }
      child = frameFor(ib, f.pgid, true, ibase, flags, e.u16(ib, 10), 0, path, null, null, 0);
    } else {
      child = loadPage(root, f.pgid, path, null, null, 0);
    }
    if (child) stack.push(child);
  };

  const checkKey = (f: Frame, key: Buffer, elemOffset: number): void => {
    const at = f.base >= 0 ? f.base + elemOffset : undefined;
    if (key.length === 0) {
      problem({
        code: 'EMPTY_KEY',
        message: 'empty key',
        page: f.pgid,
        offset: at,
        bucket: pathName(f.path),
      });
    }
    if (f.prev !== null) {
      if (Buffer.compare(key, f.prev) <= 0) {
        problem({
          code: 'KEY_ORDER',
          message: `key ${printable(key)} (element ${f.i}) is not after the previous key ${printable(f.prev)}`,
          page: f.pgid,
          offset: at,
          bucket: pathName(f.path),
        });
      }
    } else if (f.lo !== null && Buffer.compare(key, f.lo) < 0) {
      problem({
        code: 'KEY_ORDER',
        message: `first key ${printable(key)} is before its parent's separator ${printable(f.lo)}`,
        page: f.pgid,
        offset: at,
        bucket: pathName(f.path),
      });
    }
    if (f.hi !== null && Buffer.compare(key, f.hi) >= 0) {
      problem({
        code: 'KEY_ORDER',
        message: `key ${printable(key)} is not before the next separator ${printable(f.hi)}`,
        page: f.pgid,
        offset: at,
        bucket: pathName(f.path),
      });
    }
    f.prev = key;
  };

  if (opts.bucket) {
    const ref = openBucket(db, opts.bucket);
    if (ref === null) return;
    const path = [...opts.bucket];
    const start = ref.inline
      ? frameFor(ref.inline, 0, true, -1, e.u16(ref.inline, 8), e.u16(ref.inline, 10), 0, path, null, null, 0)
      : loadPage(ref.root, 0, path, null, null, 0);
    if (start) stack.push(start);
  } else {
    const root = loadPage(db.meta.root, 0, [], null, null, 0);
    if (root) stack.push(root);
  }

  while (stack.length > 0) {
    const f = stack[stack.length - 1]!;
    if (f.i >= f.count) {
      stack.pop();
      continue;
    }
    const i = f.i++;
    const off = PAGE_HEADER_SIZE + i * ELEMENT_SIZE;
    const buf = f.buf;
    if (f.leaf) {
      const flags = e.u32(buf, off);
      const kstart = off + e.u32(buf, off + 4);
      const kend = kstart + e.u32(buf, off + 8);
      const vend = kend + e.u32(buf, off + 12);
      if (vend > buf.length) {
        problem({
          code: 'ELEMENT_OUT_OF_BOUNDS',
          message: `leaf element ${i} data [${kstart}, ${vend}) runs past the page span (${buf.length} bytes)`,
          page: f.pgid,
          offset: f.base >= 0 ? f.base + off : undefined,
          bucket: pathName(f.path),
        });
        continue;
      }
      if ((flags & ~LEAF_BUCKET) !== 0) {
        problem({
          code: 'LEAF_FLAGS',
          message: `leaf element ${i} has unknown flags 0x${flags.toString(16)}`,
          page: f.pgid,
          offset: f.base >= 0 ? f.base + off : undefined,
          bucket: pathName(f.path),
        });
      }
      const key = buf.subarray(kstart, kend);
      checkKey(f, key, off);
      const value = buf.subarray(kend, vend);
      const isBucket = (flags & LEAF_BUCKET) !== 0;
      if (f.path.length === 0 && !isBucket) {
        problem({
          code: 'ROOT_ENTRY_NOT_BUCKET',
          message: `top-level entry ${printable(key)} is not a bucket`,
          page: f.pgid,
          offset: f.base >= 0 ? f.base + off : undefined,
        });
      }
      yield { path: f.path, key, value, isBucket, page: f.pgid };
      if (isBucket) enterBucket(f, key, value, kend);
    } else {
      const kstart = off + e.u32(buf, off);
      const kend = kstart + e.u32(buf, off + 4);
      const child = e.u64n(buf, off + 8);
      if (kend > buf.length) {
        problem({
          code: 'ELEMENT_OUT_OF_BOUNDS',
          message: `branch element ${i} key [${kstart}, ${kend}) runs past the page span (${buf.length} bytes)`,
          page: f.pgid,
          offset: f.base >= 0 ? f.base + off : undefined,
          bucket: pathName(f.path),
        });
        continue;
      }
      const key = buf.subarray(kstart, kend);
      checkKey(f, key, off);
      let hi = f.hi;
      if (i + 1 < f.count) {
        const noff = off + ELEMENT_SIZE;
        const ns = noff + e.u32(buf, noff);
        const ne = ns + e.u32(buf, noff + 4);
        if (ne <= buf.length) hi = buf.subarray(ns, ne);
      }
      const next = loadPage(child, f.pgid, f.path, key, hi, f.depth + 1);
      if (next) stack.push(next);
    }
  }
}
