/**
 * Cross-checks between a member's backend (member/snap/db) and its WAL and snap files (docs/format.md §2.7,
 * §5, §7, §9). Pure over the facts the three audits collected:
 *
 * - snapshot index <= consistent_index: etcd snapshots only after the backend has applied that far. When the
 *   db is behind, etcd swaps in `<snapshot index>.snap.db` (a backend received from the leader) at start;
 *   without one it cannot start.
 * - consistent_index <= the last entry etcd reads from the WAL (`lastIntactIndex`), give or take the entries
 *   of one raft Ready (UNSYNCED_WINDOW): a leader hands committed entries to the apply loop before its own
 *   WAL write of them returns. Beyond that the WAL lost entries the db applied: etcd starts, but its next
 *   writes get raft indexes the db counts as applied, so it skips them (a lone member accepts no write).
 * - consistent_index above the last HardState.commit on disk is normal: etcd fsyncs the WAL only when
 *   entries, term or vote change, and the backend saves consistent_index on its own timer (info).
 * - backend `term` <= HardState.term (3.5 writes `term`; 3.4 does not).
 * - the `members` bucket against the membership raft holds (the loaded snapshot's ConfState plus committed
 *   ConfChange entries). A 3.4 `snapshot restore` leaves the old cluster's members in the bucket and 3.4 reads
 *   membership from the v2 store, so in a 3.4 db a difference is expected and only noted.
 */
import type { Finding } from './finding.js';
import { finding } from './codes.js';
import { hexId } from '../formats/raft/member-json.js';
import type { SnapFacts } from './snap/audit-snap.js';
import type { Membership } from './snap/cross-check-wal-snap.js';
import type { WalFacts } from './wal/audit-wal.js';
import type { DbFacts } from './db-facts.js';

export interface DataDirFacts {
  wal: WalFacts;
  snap: SnapFacts;
  /** the snap file etcd would load (from the WAL <-> snap cross-check) */
  loadable?: { name: string; index: bigint; term: bigint };
  membership: Membership;
  db: DbFacts | null;
}

export interface CrossCheckLabels {
  /** e.g. member/snap/db */
  db: string;
  /** e.g. member/snap */
  snapDir: string;
}

/**
 * How far etcd's own backend may be ahead of its WAL: the entries of one raft Ready, which a leader applies
 * while it writes them (raft lets it write in parallel with replicating them). They were committed by the
 * followers, who have them; a restarted member gets them again and skips applying them. A generous bound.
 */
export const UNSYNCED_WINDOW = 64n;

const sorted = (ids: Iterable<bigint>): bigint[] => [...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
const list = (ids: Iterable<bigint>): string => `[${sorted(ids).map(hexId).join(', ')}]`;

export function crossCheckDataDir(f: DataDirFacts, labels: CrossCheckLabels): Finding[] {
  const out: Finding[] = [];
  const db = f.db;
  if (!db) return out;
  const hs = f.wal.lastHardState;
  const ci = db.consistentIndex;
  const snapIndex = f.loadable?.index ?? 0n;
  const snapDbs = f.snap.snapDbs;
  const pending = snapDbs.find((d) => d.index === snapIndex && snapIndex > 0n);

  if (ci !== null) {
    if (ci < snapIndex) {
      if (pending)
        out.push(
          finding(
            'CROSS_SNAP_DB_PENDING',
            `${labels.db} has applied up to index ${ci}, behind snapshot ${f.loadable!.name} at index ${snapIndex}; etcd replaces it with ${labels.snapDir}/${pending.name} (received from the leader) at its next start`,
            { file: `${labels.snapDir}/${pending.name}`, location: { index: snapIndex.toString() } },
          ),
        );
      else if (f.wal.live)
        out.push(
          finding(
            'CROSS_INDEX_BEHIND_SNAPSHOT',
            `${labels.db} had applied up to index ${ci} when it was read; the running member saved snapshot ${f.loadable!.name} at index ${snapIndex} since then`,
            { file: labels.db, location: { index: ci.toString() }, severity: 'info' },
          ),
        );
      else
        out.push(
          finding(
            'CROSS_INDEX_BEHIND_SNAPSHOT',
            `${labels.db} has consistent_index ${ci}, behind the snapshot etcd loads (${f.loadable!.name}, index ${snapIndex}), and there is no ${labels.snapDir}/${snapIndex.toString(16).padStart(16, '0')}.snap.db to catch up from: etcd cannot start ("failed to find database snapshot file")`,
            { file: labels.db, location: { index: ci.toString() } },
          ),
        );
    }
    const walTop = f.wal.lastIntactIndex;
    if (walTop !== undefined && ci > walTop + UNSYNCED_WINDOW) {
      const tail =
        f.wal.tail === 'torn' && f.wal.repairAt
          ? `; the WAL tail is torn and etcd cuts it at ${f.wal.repairAt.file} offset ${f.wal.repairAt.offset}`
          : '';
      out.push(
        finding(
          'CROSS_INDEX_BEYOND_WAL',
          `${labels.db} has applied up to index ${ci}, but the last entry etcd can read from the WAL is ${walTop}${tail}: ${ci - walTop} applied entries are gone from the WAL. etcd starts, but gives its next writes indexes the db counts as applied and skips them: a lone member accepts no write`,
          { file: labels.db, location: { index: ci.toString() } },
        ),
      );
    } else if (hs && ci > hs.commit) {
      out.push(
        finding(
          'CROSS_INDEX_BEYOND_COMMIT',
          `${labels.db} has applied up to index ${ci}, the last HardState on disk (${hs.file} offset ${hs.offset}) says ${hs.commit}: normal for a running or killed member (etcd fsyncs the WAL only for new entries, term or vote; the db saves its index on its own timer)${walTop !== undefined && ci > walTop ? `; ${ci - walTop} of them are not in this WAL yet (a leader applies entries while it writes them)` : ''}`,
          { file: labels.db, location: { index: ci.toString() } },
        ),
      );
    }
  }
  for (const d of snapDbs) {
    if (d === pending) continue;
    if (ci !== null && d.index <= ci)
      out.push(
        finding(
          'CROSS_SNAP_DB_LEFTOVER',
          `${labels.snapDir}/${d.name} (index ${d.index}) is not newer than what ${labels.db} has applied (${ci}); etcd no longer needs it`,
          { file: `${labels.snapDir}/${d.name}`, location: { index: d.index.toString() } },
        ),
      );
  }
  if (db.term !== null && hs && db.term > hs.term)
    out.push(
      finding(
        'CROSS_TERM_AHEAD',
        `${labels.db} meta/term is ${db.term}, above the term of the last HardState (${hs.term}, ${hs.file} offset ${hs.offset})`,
        { file: labels.db },
      ),
    );

  const raft = new Set([...f.membership.voters, ...f.membership.learners]);
  if (raft.size > 0) {
    const removed = new Set(db.removedMembers);
    const inDb = new Set(db.members.map((m) => m.id).filter((id) => !removed.has(id)));
    const onlyDb = [...inDb].filter((id) => !raft.has(id));
    const onlyRaft = [...raft].filter((id) => !inDb.has(id));
    if (onlyDb.length > 0 || onlyRaft.length > 0) {
      const from = f.membership.fromSnapshot ? `${f.membership.fromSnapshot} and the WAL` : 'the WAL';
      const detail = `the members bucket lists ${list(inDb)}, raft membership (${from}) is ${list(raft)}`;
      out.push(
        db.schema === '3.4'
          ? finding(
              'CROSS_MEMBERS_STALE',
              `${labels.db}: ${detail}. etcd 3.4 reads membership from the v2 store, and a 3.4 snapshot restore leaves the old cluster's members in this bucket, so this is expected after a restore`,
              { file: labels.db },
            )
          : finding('CROSS_MEMBERS_MISMATCH', `${labels.db}: ${detail}`, { file: labels.db }),
      );
    }
  }
  return out;
}
