/**
 * The cross-checks' rules on synthetic facts, for the cases real 3.4 files cannot produce (a 3.5 db with
 * `term`, members rewritten by a 3.5 restore) and for the db ahead of the WAL (in flight, or gutted WAL).
 */
import { expect, test } from 'vitest';
import { UNSYNCED_WINDOW, crossCheckDataDir, type DataDirFacts } from '../../src/audit/cross-checks.js';
import type { DbFacts } from '../../src/audit/db-facts.js';
import type { WalFacts } from '../../src/audit/wal/audit-wal.js';

const labels = { db: 'member/snap/db', snapDir: 'member/snap' };

function facts(db: Partial<DbFacts>, wal: Partial<WalFacts> = {}): DataDirFacts {
  return {
    wal: {
      segments: [],
      snapshotRecords: [],
      entryCount: 10,
      confChanges: [],
      tail: 'clean',
      bytesRead: 0,
      live: false,
      lastIntactIndex: 100n,
      lastHardState: { term: 3n, vote: 1n, commit: 100n, file: 'member/wal/x.wal', offset: 8 },
      ...wal,
    },
    snap: { files: [], snapDbs: [], hasDb: true },
    loadable: { name: 'member/snap/0000000000000003-0000000000000050.snap', index: 80n, term: 3n },
    membership: { voters: [1n, 2n], learners: [] },
    db: {
      fileSize: 0,
      pageSize: 4096,
      dbSize: 0,
      txid: 1n,
      consistentIndex: 90n,
      term: null,
      schema: '3.4',
      revision: 5n,
      compactRevision: 0n,
      scheduledCompactRevision: 0n,
      members: [1n, 2n].map((id) => ({ id, name: '', peerURLs: [], isLearner: false })),
      removedMembers: [],
      ...db,
    },
  };
}
const codes = (f: DataDirFacts) => crossCheckDataDir(f, labels).map((x) => `${x.code}:${x.severity}`);

test('consistent: snapshot index <= consistent_index <= commit, same members: nothing', () => {
  expect(codes(facts({}))).toEqual([]);
  expect(codes(facts({ consistentIndex: 80n }))).toEqual([]);
  expect(codes(facts({ consistentIndex: 100n }))).toEqual([]);
});

test('3.5 db: term above the HardState term is an error; equal is fine', () => {
  expect(codes(facts({ schema: '3.5', term: 4n }))).toEqual(['CROSS_TERM_AHEAD:error']);
  expect(codes(facts({ schema: '3.5', term: 3n }))).toEqual([]);
});

test('members bucket vs raft membership: info on 3.4 (stale after restore), warning on 3.5', () => {
  const other = [{ id: 9n, name: 'old', peerURLs: [], isLearner: false }];
  expect(codes(facts({ members: other }))).toEqual(['CROSS_MEMBERS_STALE:info']);
  expect(codes(facts({ members: other, schema: '3.5', term: 3n }))).toEqual([
    'CROSS_MEMBERS_MISMATCH:warning',
  ]);
  // a removed member listed in members_removed does not count
  const withRemoved = [...facts({}).db!.members, ...other];
  expect(codes(facts({ members: withRemoved, removedMembers: [9n] }))).toEqual([]);
});

test('applied beyond the last HardState commit: info (etcd fsyncs the WAL lazily), whatever the tail', () => {
  expect(codes(facts({ consistentIndex: 101n }))).toEqual(['CROSS_INDEX_BEYOND_COMMIT:info']);
  expect(codes(facts({ consistentIndex: 101n }, { tail: 'torn' }))).toEqual([
    'CROSS_INDEX_BEYOND_COMMIT:info',
  ]);
});

test('applied beyond the last intact WAL entry by more than the in-flight window: error, whatever the tail', () => {
  const top = 100n;
  expect(codes(facts({ consistentIndex: top + UNSYNCED_WINDOW }, { lastIntactIndex: top }))).toEqual([
    'CROSS_INDEX_BEYOND_COMMIT:info',
  ]);
  for (const tail of ['clean', 'torn'] as const)
    expect(
      codes(facts({ consistentIndex: top + UNSYNCED_WINDOW + 1n }, { lastIntactIndex: top, tail })),
    ).toEqual(['CROSS_INDEX_BEYOND_WAL:error']);
  // a gutted WAL: commit and entries far behind the db
  expect(codes(facts({ consistentIndex: 5000n }, { lastIntactIndex: 20n }))).toEqual([
    'CROSS_INDEX_BEYOND_WAL:error',
  ]);
});

test('.snap.db: pending when it matches the snapshot the db is behind, leftover when the db is past it', () => {
  const f = facts({ consistentIndex: 70n });
  expect(codes(f)).toEqual(['CROSS_INDEX_BEHIND_SNAPSHOT:error']);
  f.snap.snapDbs = [
    { name: '0000000000000050.snap.db', index: 80n },
    { name: '0000000000000010.snap.db', index: 16n },
  ];
  expect(codes(f)).toEqual(['CROSS_SNAP_DB_PENDING:info', 'CROSS_SNAP_DB_LEFTOVER:info']);
});
