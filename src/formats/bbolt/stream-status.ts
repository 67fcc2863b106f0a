/**
 * `etcdctl snapshot status` (hash, revision, total keys, size) computed while a snapshot streams by, with
 * no copy on disk and no second pass.
 *
 * The problem: the hash is one CRC32C over every top-level bucket's name and then its keys and values in
 * key order, but a snapshot arrives in page-id order, and bbolt places pages anywhere. The way around it:
 * CRC is linear, so crc(A || B) can be computed from crc(A), crc(B) and len(B) (crc32c-combine.ts). Each
 * leaf page is summarised as it arrives (CRC and length of its key/value bytes, element count, last key);
 * branch pages keep only their child ids; bucket entries keep their names and headers. When the stream
 * ends, the tree is walked from the current meta page over these summaries, in key order, and the page
 * CRCs are combined. Memory: a few bytes per page, not the pages.
 *
 * Bytes in, values out: feed chunks with update(), then call finish(). Pages that no bucket reaches (free
 * pages) are summarised too but never used, so stale content there cannot fail a backup; a reachable page
 * that is missing, of the wrong type, reached twice or out of bounds throws SNAPSHOT_INVALID.
 */
import { crc32c } from '@node-rs/crc32';
import { DrError } from '../../core/errors.js';
import { crc32cCombine } from '../crc32c-combine.js';
import { BIG, LITTLE, type Endian } from './endian.js';
import { parseMetaPage, type MetaPage } from './meta.js';
import {
  BUCKET_HEADER_SIZE,
  ELEMENT_SIZE,
  FLAG_BRANCH,
  FLAG_FREELIST,
  FLAG_LEAF,
  FLAG_META,
  LEAF_BUCKET,
  PAGE_HEADER_SIZE,
} from './page.js';
import type { SnapshotStatus } from './snapshot-status.js';

const CONSISTENT_INDEX = Buffer.from('consistent_index');
const KEY_BUCKET = 'key';
const META_BUCKET = 'meta';

/** One leaf's contribution, in element order: a run of plain key/values, or one bucket entry. */
type LeafItem =
  | { kind: 'kv'; crc: number; length: number; count: number }
  | { kind: 'bucket'; name: Buffer; root: number; inline: LeafSummary | null };

interface LeafSummary {
  items: LeafItem[];
  /** main revision in the last key's first 8 bytes (meaningful in the `key` bucket only) */
  lastKeyMain: bigint | null;
  consistentIndex: bigint | null;
}

const KIND_UNSEEN = 0;
const KIND_LEAF = 1;
const KIND_BRANCH = 2;
const KIND_OTHER = 3;
const KIND_BAD = 4;

export class StreamingSnapshotStatus {
  private e: Endian = LITTLE;
  private pageSize = 0;
  private pgid = 0;
  private readonly metas: (MetaPage | null)[] = [null, null];
  /** bytes of the page being assembled, and where in the stream it starts */
  private parts: Buffer[] = [];
  private partsBytes = 0;
  private scratch = Buffer.allocUnsafe(64 << 10);
  private offset = 0; // stream offset of parts[0][0]
  private total = 0;
  private kinds: Uint8Array = new Uint8Array(0);
  // A plain leaf (no bucket entries: nearly every page) is four numbers in typed arrays indexed by page
  // id, ~20 bytes a page; a JS object per page would cost ten times that on a 1 GiB db.
  private leafCrc = new Uint32Array(0);
  /** a leaf's key/value bytes (under 4 GiB: bbolt's largest value is 2 GiB; a longer one is a rich leaf) */
  private leafLength = new Uint32Array(0);
  private leafCount = new Uint32Array(0);
  private leafLastMain = new Float64Array(0); // NaN: no key of 8 bytes or more
  /** leaves holding bucket entries or meta/consistent_index: few, kept whole */
  private readonly richLeaves = new Map<number, LeafSummary>();
  private readonly branches = new Map<number, Uint32Array>();
  private readonly bad = new Map<number, string>();

  update(chunk: Buffer): void {
    this.total += chunk.length;
    this.parts.push(chunk);
    this.partsBytes += chunk.length;
    this.drain();
  }

  /** The status of the complete stream (the db bytes; a trailing sha256 is ignored like bbolt does). */
  finish(): SnapshotStatus {
    const meta = this.currentMeta();
    if (this.total < this.pgid * this.pageSize) {
      throw invalid(
        `the stream ended at ${this.total} bytes, before page ${this.pgid} (pgid x ${this.pageSize})`,
      );
    }
    const visited = new Set<number>();
    let hash = 0;
    let totalKey = 0;
    let revision = 0n;
    let consistentIndex: bigint | null = null;
    for (const bucket of this.bucketEntries(meta.root, visited)) {
      hash = crc32c(bucket.name, hash);
      const name = bucket.name.toString('latin1');
      let last: bigint | null = null;
      for (const leaf of bucket.inline ? [bucket.inline] : this.leavesOf(bucket.root, visited)) {
        for (const item of leaf.items) {
          if (item.kind === 'kv') {
            hash = crc32cCombine(hash, item.crc, item.length);
            totalKey += item.count;
          } else {
            // a nested bucket: bbolt's ForEach gives its name with a nil value, and etcdctl does not descend
            hash = crc32c(item.name, hash);
            totalKey++;
          }
        }
        if (leaf.items.length) last = leaf.lastKeyMain;
        if (name === META_BUCKET && leaf.consistentIndex !== null) consistentIndex = leaf.consistentIndex;
      }
      if (name === KEY_BUCKET && last !== null) revision = last;
    }
    return {
      hash,
      revision,
      totalKey,
      totalSize: this.pgid * this.pageSize,
      pageSize: this.pageSize,
      txid: meta.txid,
      consistentIndex,
    };
  }

  // ---- page assembly -------------------------------------------------------------------------------------

  private drain(): void {
    for (;;) {
      if (this.pageSize === 0) {
        // page 0 holds the meta that gives the page size (and, via the magic, the byte order)
        if (this.partsBytes < PAGE_HEADER_SIZE + 64) return;
        const head = this.peek(PAGE_HEADER_SIZE + 64);
        const m0 = parseMetaPage(head, 0, 0);
        if (!m0 || !m0.valid)
          throw invalid(`meta page 0 is not valid (${m0?.problems.join('; ') ?? 'too short'})`);
        this.e = m0.littleEndian ? LITTLE : BIG;
        this.pageSize = m0.pageSize;
        this.pgid = m0.pgid;
        this.kinds = new Uint8Array(this.pgid);
        this.leafCrc = new Uint32Array(this.pgid);
        this.leafLength = new Uint32Array(this.pgid);
        this.leafCount = new Uint32Array(this.pgid);
        this.leafLastMain = new Float64Array(this.pgid);
      }
      const id = this.offset / this.pageSize;
      if (id >= this.pgid) {
        // past the last page: the trailer (and anything else) is not part of the db
        this.parts = [];
        this.offset += this.partsBytes;
        this.partsBytes = 0;
        return;
      }
      if (this.partsBytes < PAGE_HEADER_SIZE) return;
      const header = this.peek(PAGE_HEADER_SIZE);
      const overflow = this.e.u32(header, 12);
      const span = (overflow + 1) * this.pageSize;
      // a page whose overflow runs past pgid is damaged: treat just this page as bad
      const size = id + overflow < this.pgid ? span : this.pageSize;
      if (this.partsBytes < size) return;
      const page = this.take(size);
      this.onPage(id, page, size === span ? overflow : 0);
    }
  }

  /**
   * The first n buffered bytes, without consuming them. Bytes that straddle chunks are gathered into a
   * scratch buffer that is reused: a page is summarised before the next one is assembled, and no summary
   * keeps a view of its page, so one buffer serves every page (allocating one per straddling page was most
   * of the garbage V8 had to collect during a backup).
   */
  private peek(n: number): Buffer {
    const first = this.parts[0]!;
    if (first.length >= n) return first.subarray(0, n);
    if (this.scratch.length < n) this.scratch = Buffer.allocUnsafe(Math.max(n, this.scratch.length * 2));
    let filled = 0;
    for (const part of this.parts) {
      filled += part.copy(this.scratch, filled, 0, Math.min(part.length, n - filled));
      if (filled === n) break;
    }
    return this.scratch.subarray(0, n);
  }

  /** The first n buffered bytes, consumed (valid until the next peek or take). */
  private take(n: number): Buffer {
    const out = this.peek(n);
    let left = n;
    while (left > 0) {
      const first = this.parts[0]!;
      if (first.length > left) {
        this.parts[0] = first.subarray(left);
        break;
      }
      left -= first.length;
      this.parts.shift();
    }
    this.partsBytes -= n;
    this.offset += n;
    return out;
  }

  // ---- per-page summaries --------------------------------------------------------------------------------

  private onPage(id: number, page: Buffer, overflow: number): void {
    const e = this.e;
    const pid = e.u64n(page, 0);
    const flags = e.u16(page, 8);
    const count = e.u16(page, 10);
    for (let i = 1; i <= overflow; i++) this.kinds[id + i] = KIND_OTHER; // continuation pages
    if (pid !== id) return this.markBad(id, `page ${id} says it is page ${pid}`);
    if (flags === FLAG_META) {
      if (id <= 1) this.metas[id] = parseMetaPage(page, id as 0 | 1, id * this.pageSize, e);
      this.kinds[id] = KIND_OTHER;
    } else if (flags === FLAG_FREELIST) {
      this.kinds[id] = KIND_OTHER;
    } else if (flags === FLAG_BRANCH) {
      const children = new Uint32Array(count);
      for (let i = 0; i < count; i++) {
        const el = PAGE_HEADER_SIZE + i * ELEMENT_SIZE;
        if (el + ELEMENT_SIZE > page.length)
          return this.markBad(id, `branch page ${id}: element ${i} past the page`);
        const child = e.u64n(page, el + 8);
        children[i] = child >= this.pgid ? 0xffffffff : child; // out of bounds either way
      }
      this.branches.set(id, children);
      this.kinds[id] = KIND_BRANCH;
    } else if (flags === FLAG_LEAF) {
      const summary = this.summariseLeaf(page, id);
      if (typeof summary === 'string') return this.markBad(id, summary);
      const only = summary.items[0];
      if (
        summary.consistentIndex === null &&
        summary.items.length <= 1 &&
        (!only || (only.kind === 'kv' && only.length <= 0xffffffff))
      ) {
        this.leafCrc[id] = only ? only.crc : 0;
        this.leafLength[id] = only ? only.length : 0;
        this.leafCount[id] = only ? only.count : 0;
        this.leafLastMain[id] = summary.lastKeyMain === null ? NaN : Number(summary.lastKeyMain);
      } else this.richLeaves.set(id, summary);
      this.kinds[id] = KIND_LEAF;
    } else {
      this.markBad(id, `page ${id} has unknown flags 0x${flags.toString(16)}`);
    }
  }

  private markBad(id: number, why: string): void {
    this.kinds[id] = KIND_BAD;
    this.bad.set(id, why);
  }

  /**
   * A leaf's elements. bbolt writes each key followed by its value right after the element array, so the
   * key/value bytes of consecutive plain elements are usually one contiguous run: one CRC call covers it.
   */
  private summariseLeaf(page: Buffer, id: number): LeafSummary | string {
    const e = this.e;
    const count = e.u16(page, 10);
    const items: LeafItem[] = [];
    let runStart = -1;
    let runEnd = -1;
    let runCount = 0;
    let runCrc = 0;
    let runLength = 0;
    let lastKeyMain: bigint | null = null;
    let consistentIndex: bigint | null = null;
    const flushRun = () => {
      if (runStart >= 0)
        runCrc = crc32cCombine(runCrc, crc32c(page.subarray(runStart, runEnd)), runEnd - runStart);
      if (runCount) items.push({ kind: 'kv', crc: runCrc, length: runLength, count: runCount });
      runStart = runEnd = -1;
      runCount = runCrc = runLength = 0;
    };
    for (let i = 0; i < count; i++) {
      const el = PAGE_HEADER_SIZE + i * ELEMENT_SIZE;
      if (el + ELEMENT_SIZE > page.length) return `leaf page ${id}: element ${i} past the page`;
      const flags = e.u32(page, el);
      const kStart = el + e.u32(page, el + 4);
      const ksize = e.u32(page, el + 8);
      const vsize = e.u32(page, el + 12);
      const vEnd = kStart + ksize + vsize;
      if (vEnd > page.length || ksize === 0)
        return `leaf page ${id}: element ${i} (key ${ksize} + value ${vsize} bytes) outside the page`;
      if (i === count - 1 && ksize >= 8) lastKeyMain = page.readBigUInt64BE(kStart);
      if (
        ksize === CONSISTENT_INDEX.length &&
        vsize === 8 &&
        page.subarray(kStart, kStart + ksize).equals(CONSISTENT_INDEX)
      ) {
        consistentIndex = page.readBigUInt64BE(kStart + ksize);
      }
      if (flags & LEAF_BUCKET) {
        flushRun();
        if (vsize < BUCKET_HEADER_SIZE)
          return `leaf page ${id}: bucket element ${i} has a ${vsize}-byte header`;
        const v = kStart + ksize;
        const root = e.u64n(page, v);
        let inline: LeafSummary | null = null;
        if (root === 0) {
          const sub = this.summariseLeaf(page.subarray(v + BUCKET_HEADER_SIZE, vEnd), id);
          if (typeof sub === 'string') return sub;
          inline = sub;
        }
        items.push({
          kind: 'bucket',
          name: Buffer.from(page.subarray(kStart, kStart + ksize)),
          root,
          inline,
        });
        continue;
      }
      if (kStart === runEnd) runEnd = vEnd;
      else {
        if (runStart >= 0)
          runCrc = crc32cCombine(runCrc, crc32c(page.subarray(runStart, runEnd)), runEnd - runStart);
        runStart = kStart;
        runEnd = vEnd;
      }
      runLength += ksize + vsize;
      runCount++;
    }
    flushRun();
    return { items, lastKeyMain, consistentIndex };
  }

  // ---- the walk over summaries ---------------------------------------------------------------------------

  private currentMeta(): MetaPage {
    const valid = this.metas.filter((m): m is MetaPage => m !== null && m.valid);
    if (!valid.length) throw invalid('neither meta page is valid');
    return valid.reduce((a, b) => (b.txid > a.txid ? b : a));
  }

  /** The leaf summaries of the tree rooted at `root`, in key order. */
  private *leavesOf(root: number, visited: Set<number>): Generator<LeafSummary> {
    const stack: number[] = [root];
    while (stack.length) {
      const id = stack.pop()!;
      if (id < 2 || id >= this.pgid) throw invalid(`page id ${id} is out of bounds (pgid ${this.pgid})`);
      if (visited.has(id)) throw invalid(`page ${id} is reached twice`);
      visited.add(id);
      switch (this.kinds[id]) {
        case KIND_LEAF:
          yield this.richLeaves.get(id) ?? this.plainLeaf(id);
          break;
        case KIND_BRANCH: {
          const children = this.branches.get(id)!;
          for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]!);
          break;
        }
        case KIND_BAD:
          throw invalid(this.bad.get(id)!);
        case KIND_UNSEEN:
          throw invalid(`page ${id} never arrived`);
        default:
          throw invalid(`page ${id} is reached from the tree but is not a branch or leaf page`);
      }
    }
  }

  private plainLeaf(id: number): LeafSummary {
    const count = this.leafCount[id]!;
    const last = this.leafLastMain[id]!;
    return {
      items: count ? [{ kind: 'kv', crc: this.leafCrc[id]!, length: this.leafLength[id]!, count }] : [],
      lastKeyMain: Number.isNaN(last) ? null : BigInt(last),
      consistentIndex: null,
    };
  }

  private *bucketEntries(
    root: number,
    visited: Set<number>,
  ): Generator<Extract<LeafItem, { kind: 'bucket' }>> {
    for (const leaf of this.leavesOf(root, visited)) {
      for (const item of leaf.items) {
        if (item.kind !== 'bucket') throw invalid('the root bucket holds a plain key, not a bucket');
        yield item;
      }
    }
  }
}

function invalid(message: string): DrError {
  return new DrError('SNAPSHOT_INVALID', `bbolt: ${message}`);
}
