/**
 * Reading etcd's key-value history offline, straight from a backend file or snapshot: the live keys as of a
 * revision (`etcdctl get --rev`) and HashKV (docs/format.md §5), with the key index rebuilt from the `key`
 * bucket. Memory holds one small entry per user key, never the values.
 */
import { crc32c } from '@node-rs/crc32';
import { DrError } from '../../core/errors.js';
import type { ByteSource } from '../byte-source.js';
import { get, lastKey } from '../bbolt/lookup.js';
import { openBbolt, type BboltDb } from '../bbolt/open.js';
import type { PageReaderOptions } from '../bbolt/page-reader.js';
import type { ProblemHandler } from '../bbolt/problem.js';
import { walkTree } from '../bbolt/walk.js';
import { BUCKET } from './buckets.js';
import { decodeKeyValue, userKeyOf, type KeyValue } from './key-value.js';
import { parseRevisionKey } from './revision.js';

const KEY = Buffer.from(BUCKET.key);
const META = Buffer.from(BUCKET.meta);

export interface StoreRevisions {
  /** main revision of the last `key` entry (0 when empty) */
  current: bigint;
  /** meta/finishedCompactRev (0 when absent) */
  compacted: bigint;
  scheduledCompact: bigint;
}

function open(src: ByteSource | BboltDb, opts?: PageReaderOptions & { onProblem?: ProblemHandler }): BboltDb {
  return 'reader' in src ? src : openBbolt(src, { chunkSize: 1 << 20, chunks: 16, ...opts })!;
}

export function storeRevisions(db: BboltDb): StoreRevisions {
  const last = lastKey(db, [KEY]);
  const rev = (name: string): bigint => {
    const v = get(db, [META], Buffer.from(name));
    return v && v.length >= 8 ? v.readBigInt64BE(0) : 0n;
  };
  return {
    current: last && last.length >= 8 ? last.readBigInt64BE(0) : 0n,
    compacted: rev('finishedCompactRev'),
    scheduledCompact: rev('scheduledCompactRev'),
  };
}

/** Resolves rev (0 = current) and refuses compacted or future revisions, as etcd does. */
function targetRevision(r: StoreRevisions, rev: bigint, compacted = r.compacted): bigint {
  const target = rev === 0n ? r.current : rev;
  if (target < compacted) {
    throw new DrError('USAGE', `mvcc: revision ${target} has been compacted (compact revision ${compacted})`);
  }
  if (target > r.current) {
    throw new DrError('USAGE', `mvcc: revision ${target} is in the future (current revision ${r.current})`);
  }
  return target;
}

export interface KeysAtOptions {
  /** only keys starting with these bytes */
  prefix?: Buffer | string;
  /** @default 0 = the current revision */
  rev?: bigint;
  /** structural problems in the file; @default throw DrError SNAPSHOT_INVALID */
  onProblem?: ProblemHandler;
}

/**
 * The live key-values as of `rev`, in key order: what `etcdctl get --prefix P --rev N` shows.
 * Throws DrError('USAGE') for a compacted or future revision.
 */
export function* keysAt(src: ByteSource | BboltDb, opts: KeysAtOptions = {}): Generator<KeyValue> {
  const db = open(src, opts);
  const target = targetRevision(storeRevisions(db), opts.rev ?? 0n);
  const prefix = opts.prefix === undefined ? null : Buffer.from(opts.prefix);
  // user key (latin1, so string order is byte order) -> revision key of its latest change <= target
  const latest = new Map<string, Buffer>();
  for (const e of walkTree(db, { bucket: [KEY], onProblem: opts.onProblem })) {
    if (e.path.length !== 1) continue;
    const r = parseRevisionKey(e.key);
    if (r === null || r.main > target) continue;
    let uk: Buffer;
    try {
      uk = userKeyOf(e.value);
    } catch {
      continue;
    }
    if (prefix && (uk.length < prefix.length || !uk.subarray(0, prefix.length).equals(prefix))) continue;
    latest.set(uk.toString('latin1'), Buffer.from(e.key));
  }
  const live = [...latest]
    .filter(([, k]) => k.length === 17)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  latest.clear();
  for (const [, revKey] of live) {
    const v = get(db, [KEY], revKey);
    if (v) yield decodeKeyValue(v);
  }
}

export interface HashKVResult {
  hash: number;
  compactRevision: bigint;
  /** the revision hashed (rev, or the current revision for 0) */
  revision: bigint;
}

export interface OfflineHashKVOptions {
  onProblem?: ProblemHandler;
  /**
   * Hash as a member holding this data and compacted at this revision would answer (a live member compacted
   * after the file was taken). Must be at least the file's own compact revision: below it, the revisions it
   * would count are gone from the file (DrError USAGE). @default the file's compact revision
   */
  compactRevision?: bigint;
}

/**
 * HashKV(rev) as a live member computes it (mvcc hash.go / kvstore.go): CRC32C over "key" and then every
 * (k, v) of the `key` bucket with main <= rev, leaving out revisions <= the compact revision that the key
 * index would not keep, and tombstones at exactly the compact revision.
 *
 * A member compacted at C' later than the file's C answers from fewer revisions; the file still holds every
 * revision that member counts (those above C' up to rev, and below it only what Keep(rev) names, which a
 * compaction never removes), so the same walk with C' in place of C gives that member's answer.
 */
export function offlineHashKV(
  src: ByteSource | BboltDb,
  rev = 0n,
  opts: OfflineHashKVOptions = {},
): HashKVResult {
  const db = open(src, opts);
  const revs = storeRevisions(db);
  const own = revs.compacted;
  const C = opts.compactRevision !== undefined && opts.compactRevision > 0n ? opts.compactRevision : own;
  if (C < own)
    throw new DrError(
      'USAGE',
      `mvcc: cannot hash as compacted at ${C}: the file is compacted at ${own}, the revisions in between are gone`,
    );
  const target = targetRevision(revs, rev, C);
  // keep(target) only matters for revisions <= C, so without a compaction there is no first pass
  const keep = C > 0n ? keepAt(db, target, opts.onProblem) : new Set<string>();
  let hash = crc32c(KEY, 0);
  for (const e of walkTree(db, { bucket: [KEY], onProblem: opts.onProblem })) {
    if (e.path.length !== 1 || e.key.length < 17) continue;
    const main = e.key.readBigInt64BE(0);
    if (main > target) continue;
    if (main <= C && keep.size > 0 && !keep.has(e.key.toString('latin1', 0, 17))) continue;
    if (main === C && e.key.length === 18) continue;
    hash = crc32c(e.key, hash);
    hash = crc32c(e.value, hash);
  }
  return { hash: hash >>> 0, compactRevision: C, revision: target };
}

/**
 * The revisions (as 17-byte latin1 strings) that etcd's keyIndex.Keep(rev) returns: per user key, in the first
 * generation whose tombstone is after rev (or the last generation), the newest revision <= rev, unless that is
 * a tombstone.
 */
function keepAt(db: BboltDb, rev: bigint, onProblem?: ProblemHandler): Set<string> {
  // per user key: candidate revision in the generation being read, and whether a generation was chosen
  const state = new Map<string, { cand: string | null; done: boolean }>();
  for (const e of walkTree(db, { bucket: [KEY], onProblem })) {
    if (e.path.length !== 1) continue;
    const r = parseRevisionKey(e.key);
    if (r === null) continue;
    let uk: string;
    try {
      uk = userKeyOf(e.value).toString('latin1');
    } catch {
      continue;
    }
    let s = state.get(uk);
    if (!s) state.set(uk, (s = { cand: null, done: false }));
    if (s.done) continue;
    if (r.main <= rev) s.cand = e.key.toString('latin1', 0, 17);
    if (r.tombstone) {
      if (r.main > rev)
        s.done = true; // this generation holds rev
      else s.cand = null; // the generation ended at or before rev: look at the next one
    }
  }
  const keep = new Set<string>();
  for (const s of state.values()) if (s.cand !== null) keep.add(s.cand);
  return keep;
}
