/**
 * `dr inspect keys`: the live key-values of a db as of a revision (keysAt), after checking the revision
 * against what the file holds so the error names the range that is available.
 */
import { DrError } from '../core/errors.js';
import type { ByteSource } from '../formats/byte-source.js';
import { openBbolt, type BboltDb } from '../formats/bbolt/open.js';
import type { KeyValue } from '../formats/mvcc/key-value.js';
import { keysAt, storeRevisions, type StoreRevisions } from '../formats/mvcc/store.js';

export interface OpenedStore {
  db: BboltDb;
  revisions: StoreRevisions;
}

export function openStore(src: ByteSource, label: string): OpenedStore {
  let db: BboltDb | null;
  try {
    db = openBbolt(src, { chunkSize: 1 << 20, chunks: 16 });
  } catch (err) {
    throw new DrError('SNAPSHOT_INVALID', `${label}: not a readable bbolt file: ${(err as Error).message}`);
  }
  if (!db) throw new DrError('SNAPSHOT_INVALID', `${label}: no valid bbolt meta page`);
  return { db, revisions: storeRevisions(db) };
}

/** The oldest revision keysAt can answer for (etcd serves the compact revision itself). */
export function oldestRevision(r: StoreRevisions): bigint {
  return r.compacted > 0n ? r.compacted : r.current > 0n ? 1n : 0n;
}

/** rev 0 = current; throws DrError USAGE naming the available range for a compacted or future revision. */
export function checkRevision(r: StoreRevisions, rev: bigint, label: string): bigint {
  const target = rev === 0n ? r.current : rev;
  const range = `${label} holds revisions ${oldestRevision(r)}..${r.current}${r.compacted > 0n ? ` (compacted at ${r.compacted})` : ''}`;
  if (target < 0n) throw new DrError('USAGE', `revision ${target} is negative`);
  if (target < r.compacted)
    throw new DrError('USAGE', `revision ${target} has been compacted: ${range}`, {
      revision: target.toString(),
      oldest: oldestRevision(r).toString(),
      current: r.current.toString(),
    });
  if (target > r.current)
    throw new DrError('USAGE', `revision ${target} is in the future: ${range}`, {
      revision: target.toString(),
      oldest: oldestRevision(r).toString(),
      current: r.current.toString(),
    });
  return target;
}

/** The live key-values under prefix at rev, in key (byte) order. */
export function liveKeys(store: OpenedStore, opts: { prefix?: Buffer; rev: bigint }): Generator<KeyValue> {
  return keysAt(store.db, { rev: opts.rev, ...(opts.prefix !== undefined ? { prefix: opts.prefix } : {}) });
}
