/**
 * What `etcdctl snapshot status -w json` prints, computed from the file itself (docs/format.md §5):
 * hash = CRC32C over every top-level bucket name followed by each of its (k, v) in key order; revision =
 * main revision of the last key in `key`; totalKey = pairs across all top-level buckets; totalSize =
 * pgid × pageSize. Read page by page; bytes past pgid × pageSize (etcd's sha256 trailer) are ignored.
 */
import { crc32c } from '@node-rs/crc32';
import { DrError } from '../../core/errors.js';
import type { ByteSource } from '../byte-source.js';
import { readFreelist } from './freelist.js';
import { openBbolt } from './open.js';
import type { PageReaderOptions } from './page-reader.js';
import { newMarks, walkTree } from './walk.js';

export { readMetas } from './meta.js';
export type { MetaPage, Metas } from './meta.js';

export interface SnapshotStatus {
  /** CRC32C as etcdctl computes it (JSON prints it in decimal) */
  hash: number;
  revision: bigint;
  totalKey: number;
  totalSize: number;
  pageSize: number;
  txid: bigint;
  /** meta/consistent_index, null when absent */
  consistentIndex: bigint | null;
}

const KEY_BUCKET = Buffer.from('key');
const META_BUCKET = Buffer.from('meta');
const CONSISTENT_INDEX = Buffer.from('consistent_index');

/**
 * Throws DrError('SNAPSHOT_INVALID') naming the problem and its page/offset when the file cannot be walked
 * (no valid meta, truncated, a page out of bounds, reached twice, of the wrong type, keys out of order...).
 */
export function snapshotStatus(src: ByteSource, opts: PageReaderOptions = {}): SnapshotStatus {
  const db = openBbolt(src, { chunkSize: 1 << 20, chunks: 16, ...opts })!;
  const marks = newMarks(db);
  const freelist = readFreelist(db);
  if (freelist) for (let p = freelist.page; p <= freelist.page + freelist.overflow; p++) marks.add(p);
  let hash = 0;
  let totalKey = 0;
  let lastRevKey: Buffer | null = null;
  let consistentIndex: bigint | null = null;
  let inKey = false;
  let inMeta = false;
  for (const entry of walkTree(db, { marks })) {
    const depth = entry.path.length;
    if (depth === 0) {
      hash = crc32c(entry.key, hash);
      inKey = entry.key.equals(KEY_BUCKET);
      inMeta = entry.key.equals(META_BUCKET);
    } else if (depth === 1) {
      hash = crc32c(entry.key, hash);
      // a nested bucket has a nil value in bbolt's ForEach: only its name is hashed
      if (!entry.isBucket) hash = crc32c(entry.value, hash);
      totalKey++;
      if (inKey) lastRevKey = entry.key;
      else if (inMeta && entry.value.length === 8 && entry.key.equals(CONSISTENT_INDEX)) {
        consistentIndex = entry.value.readBigUInt64BE(0);
      }
    }
  }
  let revision = 0n;
  if (lastRevKey) {
    if (lastRevKey.length < 8) {
      throw new DrError(
        'SNAPSHOT_INVALID',
        `bbolt: last key of bucket "key" is ${lastRevKey.length} bytes, not a revision`,
      );
    }
    revision = lastRevKey.readBigInt64BE(0);
  }
  return {
    hash: hash >>> 0,
    revision,
    totalKey,
    totalSize: db.size,
    pageSize: db.pageSize,
    txid: db.meta.txid,
    consistentIndex,
  };
}
