/**
 * The membership changes the WAL holds (ConfChange and ConfChangeV2 entries), kept as facts for the
 * cross-check that replays them against the snap file's members. A membership entry that does not decode
 * is a finding: etcd would fail to apply it.
 */
import { decodeEntryPayload } from '../../formats/raft/entry-payload.js';
import { EntryType, type RaftEntry } from '../../formats/raft/raft-messages.js';
import type { WalFacts } from './wal-facts.js';
import type { WalFindings } from './wal-findings.js';
import type { WalkedRecord } from './record-walk.js';

export function noteConfChanges(
  { seg, rec, at }: WalkedRecord,
  entry: RaftEntry,
  facts: WalFacts,
  out: WalFindings,
): void {
  if (!rec.crcValid || (entry.type !== EntryType.ConfChange && entry.type !== EntryType.ConfChangeV2)) return;
  const i = entry.index;
  const p = decodeEntryPayload(entry);
  if (p.kind === 'confChange')
    facts.confChanges.push({
      index: i,
      term: entry.term,
      type: p.change.type,
      nodeId: p.change.nodeId,
      ...(p.member ? { member: p.member } : {}),
      file: out.label(seg.name),
      offset: rec.offset,
    });
  else if (p.kind === 'confChangeV2')
    for (const c of p.change.changes)
      facts.confChanges.push({
        index: i,
        term: entry.term,
        type: c.type,
        nodeId: c.nodeId,
        file: out.label(seg.name),
        offset: rec.offset,
      });
  else
    out.add(
      'error',
      'WAL_PAYLOAD_DECODE',
      seg.name,
      { ...at, index: i.toString() },
      `wal: membership entry ${i} at offset ${rec.offset} in ${out.label(seg.name)} does not decode: ${p.kind === 'undecodable' ? p.error : p.kind}`,
      'corrupt-record',
    );
}
