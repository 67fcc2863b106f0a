/**
 * Cross-checks between a member's WAL and its snap files (docs/format.md §2.5, §2.7, §9):
 * - etcd loads the newest valid snap file whose (term, index) matches a WAL snapshot record with
 *   index <= the last HardState.commit; with none it cannot start;
 * - a WAL snapshot record newer than every usable snap file means a snap file was lost (etcd writes the
 *   snap file first, the WAL record second, so the reverse, an orphan snap file, is harmless);
 * - a snap file and a WAL record at the same index must agree on the term, and on the ConfState when
 *   the record carries one (3.5);
 * - the WAL's own node ID should be a member after replaying ConfChange entries over the snapshot's
 *   ConfState.
 */
import type { Finding } from '../finding.js';
import { hexId } from '../../formats/raft/member-json.js';
import { ConfChangeType } from '../../formats/raft/raft-messages.js';
import type { WalFacts } from '../wal/audit-wal.js';
import type { SnapFacts, SnapFileFacts } from './audit-snap.js';

export interface Membership {
  voters: bigint[];
  learners: bigint[];
  /** the snapshot the membership starts from (undefined: from the start of the WAL) */
  fromSnapshot?: string;
}

export interface WalSnapCrossCheck {
  findings: Finding[];
  /** the snap file etcd would load, if any */
  loadable?: SnapFileFacts;
  /** membership after the loaded snapshot plus committed ConfChange entries in the WAL */
  membership: Membership;
}

const RUNBOOK = 'runbooks/corrupt-snap.md';
const sortIds = (s: Iterable<bigint>) => [...s].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

export function crossCheckWalSnap(
  wal: WalFacts,
  snap: SnapFacts,
  labels: {
    walDir?: string;
    snapDir?: string;
    /**
     * How far the backend has applied (its consistent_index). A running member's db is usually ahead of the
     * last HardState on disk (etcd fsyncs the WAL only for new entries, term or vote), and membership changes
     * up to there are in effect.
     */
    appliedIndex?: bigint;
  } = {},
): WalSnapCrossCheck {
  const findings: Finding[] = [];
  const snapLabel = (n: string) => (labels.snapDir ? `${labels.snapDir}/${n}` : n);
  const commit = wal.lastHardState?.commit ?? 0n;
  const records = wal.snapshotRecords.filter((r) => r.index > 0n);
  const usable = records.filter((r) => r.index <= commit);
  const valid = snap.files.filter((f) => f.valid);

  for (const r of records) {
    const f = snap.files.find((x) => x.index === r.index);
    if (f && f.term !== r.term)
      findings.push({
        severity: 'error',
        code: 'SNAP_TERM_MISMATCH',
        file: snapLabel(f.name),
        location: { index: r.index.toString() },
        message: `snap: ${snapLabel(f.name)} has term ${f.term} but the WAL snapshot record at ${r.file} offset ${r.offset} says term ${r.term} for index ${r.index}`,
        runbook: `${RUNBOOK}#missing-snap-file`,
      });
  }

  const byKey = new Set(usable.map((r) => `${r.term}/${r.index}`));
  const loadable = [...valid].reverse().find((f) => byKey.has(`${f.term}/${f.index}`));
  const newest = usable.at(-1);
  if (newest && (!loadable || loadable.index < newest.index)) {
    // without a usable snap file etcd starts from the WAL's beginning, which works while segment 0 (index 0)
    // is still there: etcd 3.4 sets the broken files aside as .broken, 3.5 skips them
    const first = wal.segments[0];
    const fromZero = first !== undefined && first.seq === 0n && first.index === 0n;
    const covered = loadable
      ? wal.firstIndex !== undefined && wal.firstIndex <= loadable.index + 1n
      : fromZero;
    // no .snap file at all: etcd 3.8 stops writing them, so this is not damage by itself
    const none = snap.files.length === 0;
    const from = loadable ? snapLabel(loadable.name) : 'the start of the WAL (index 0)';
    findings.push({
      severity: covered || none ? 'warning' : 'error',
      code: 'WAL_SNAPSHOT_FILE_MISSING',
      file: newest.file,
      location: { offset: newest.offset, index: newest.index.toString() },
      message: covered
        ? `snap: the WAL records a snapshot at index ${newest.index} term ${newest.term} (${newest.file} offset ${newest.offset}) but no valid snap file matches it; etcd falls back to ${from} and replays the WAL from there (nothing is lost)`
        : none
          ? `snap: the WAL records a snapshot at index ${newest.index} term ${newest.term} (${newest.file} offset ${newest.offset}) and there is no snap file at all; etcd 3.4-3.7 need the matching snap file (or a WAL that still starts at index 0) to start, etcd 3.8+ writes none`
          : `snap: the WAL records a snapshot at index ${newest.index} term ${newest.term} (${newest.file} offset ${newest.offset}) but no valid snap file matches ${loadable ? 'it after ' + from + ', and the WAL no longer holds the entries after that' : 'any WAL snapshot record, and the WAL no longer starts at index 0'}: etcd cannot start`,
      runbook: `${RUNBOOK}#missing-snap-file`,
    });
  }
  const newestRecord = records.at(-1)?.index ?? 0n;
  for (const f of valid)
    if (f.index > newestRecord)
      findings.push({
        severity: 'info',
        code: 'SNAP_ORPHAN',
        file: snapLabel(f.name),
        location: { index: f.index.toString() },
        message: `snap: ${snapLabel(f.name)} is newer than every WAL snapshot record (written just before a crash?); etcd ignores it`,
        runbook: `${RUNBOOK}#orphan-snap-file`,
      });

  if (loadable?.confState) {
    const rec = usable.find((r) => r.index === loadable.index && r.confState);
    if (rec?.confState && sortIds(rec.confState.voters).join() !== sortIds(loadable.confState.voters).join())
      findings.push({
        severity: 'error',
        code: 'SNAP_CONFSTATE_MISMATCH',
        file: snapLabel(loadable.name),
        location: { index: loadable.index.toString() },
        message: `snap: ${snapLabel(loadable.name)} lists voters [${loadable.confState.voters.map(hexId).join(', ')}] but the WAL snapshot record (${rec.file} offset ${rec.offset}) lists [${rec.confState.voters.map(hexId).join(', ')}]`,
        runbook: `${RUNBOOK}#members-mismatch`,
      });
  }

  const voters = new Set(loadable?.confState?.voters ?? []);
  const learners = new Set(loadable?.confState?.learners ?? []);
  const base = loadable?.index ?? 0n;
  const applied =
    labels.appliedIndex !== undefined && labels.appliedIndex > commit ? labels.appliedIndex : commit;
  for (const c of wal.confChanges) {
    if (c.index <= base || c.index > applied) continue;
    if (c.type === ConfChangeType.AddNode) {
      voters.add(c.nodeId);
      learners.delete(c.nodeId);
    } else if (c.type === ConfChangeType.AddLearnerNode) {
      if (!voters.has(c.nodeId)) learners.add(c.nodeId);
    } else if (c.type === ConfChangeType.RemoveNode) {
      voters.delete(c.nodeId);
      learners.delete(c.nodeId);
    }
  }
  const membership: Membership = {
    voters: sortIds(voters),
    learners: sortIds(learners),
    ...(loadable ? { fromSnapshot: snapLabel(loadable.name) } : {}),
  };
  const node = wal.metadata?.nodeId;
  if (
    node !== undefined &&
    (voters.size > 0 || learners.size > 0) &&
    !voters.has(node) &&
    !learners.has(node)
  )
    findings.push({
      severity: 'warning',
      code: 'WAL_NODE_NOT_MEMBER',
      ...(wal.segments[0]
        ? { file: `${labels.walDir ? `${labels.walDir}/` : ''}${wal.segments[0].name}` }
        : {}),
      message: `wal: the WAL belongs to member ${hexId(node)}, which is not a voter or learner after replaying membership (voters [${membership.voters.map(hexId).join(', ')}])`,
      runbook: `${RUNBOOK}#members-mismatch`,
    });
  return { findings, ...(loadable ? { loadable } : {}), membership };
}
