/**
 * Segment names as findings: the directory's name rules (valid names, consecutive seq numbers, start
 * indexes in order; checked by formats/wal/segment-name.ts), and each name against what etcd's cut
 * writes: segment 0 at index 0, every later segment named for the entry after the last one of the segment
 * before it.
 */
import type { WalNameIssue } from '../../formats/wal/segment-name.js';
import type { WalFindings } from './wal-findings.js';
import type { WalkedSegment } from './record-walk.js';

export function reportNameIssues(issues: readonly WalNameIssue[], out: WalFindings): void {
  for (const is of issues) {
    const loc = { index: is.missing ? `${is.missing.from}..${is.missing.to}` : undefined };
    if (is.kind === 'invalid-name')
      out.add('warning', 'WAL_NAME_INVALID', is.name, undefined, is.message, 'misnamed-segment');
    else if (is.kind === 'seq-gap')
      out.add('error', 'WAL_SEQ_GAP', is.name, is.missing ? loc : undefined, is.message, 'missing-segment');
    else if (is.kind === 'seq-duplicate')
      out.add('error', 'WAL_SEQ_DUPLICATE', is.name, undefined, is.message, 'misnamed-segment');
    else out.add('error', 'WAL_NAME_INDEX_ORDER', is.name, undefined, is.message, 'misnamed-segment');
  }
}

/** A segment's name against its place in the log, once its records are read. */
export function checkNameIndex({ seg, prev }: WalkedSegment, out: WalFindings): void {
  // a cut names the new segment after the last entry saved in the previous one
  if (
    prev &&
    prev.seq + 1n === seg.seq &&
    prev.end === 'eof' &&
    prev.lastEntryIndex !== undefined &&
    seg.index !== prev.lastEntryIndex + 1n
  )
    out.add(
      'error',
      'WAL_NAME_INDEX_MISMATCH',
      seg.name,
      undefined,
      `wal: ${out.label(seg.name)} is named for raft index ${seg.index}, but the previous segment ${out.label(prev.name)} ends with entry ${prev.lastEntryIndex}: expected index ${prev.lastEntryIndex + 1n} in the name`,
      'misnamed-segment',
    );
  if (seg.seq === 0n && seg.index !== 0n)
    out.add(
      'error',
      'WAL_NAME_INDEX_MISMATCH',
      seg.name,
      undefined,
      `wal: the first segment (seq 0) is named for raft index ${seg.index}; etcd creates it with index 0`,
      'misnamed-segment',
    );
}
