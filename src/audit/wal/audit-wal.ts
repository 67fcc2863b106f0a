/**
 * The WAL part of the corruption checklist (docs/format.md §9): segment names and seq gaps, crc then
 * metadata at the head of each segment, framing and padding, the CRC chain across segments, identical
 * metadata, non-last segments fully consumed, record types, entry / state / snapshot payloads, index
 * continuity and term monotonicity, HardState.commit within the log, and the last segment's tail told
 * apart: clean zero tail, torn record (warning: etcd repairs it), real corruption (error).
 *
 * This file wires one pass together; each check has its own module: the record walk (`record-walk.ts`),
 * segment names (`segment-names.ts`) and headers (`segment-header.ts`), index continuity
 * (`index-continuity.ts`), membership changes (`conf-changes.ts`) and tail classification
 * (`tail-classification.ts`). Segments are read one at a time through `WalSource.read` (memory stays
 * bounded by one segment); nothing here does I/O itself (see read-wal-dir.ts). Never throws on bad data:
 * every problem becomes a Finding, and the facts the cross-checks need come back alongside.
 */
import type { Finding } from '../finding.js';
import { checkWalNames } from '../../formats/wal/segment-name.js';
import { noteConfChanges } from './conf-changes.js';
import { IndexContinuity } from './index-continuity.js';
import { walkWal, type WalWalkOptions } from './record-walk.js';
import { checkSegmentHeader, MetadataAgreement } from './segment-header.js';
import { checkNameIndex, reportNameIssues } from './segment-names.js';
import { classifyTail, noteLeftovers, reportSegmentProblems, stopsReader } from './tail-classification.js';
import type { WalFacts, WalSource } from './wal-facts.js';
import { WalFindings } from './wal-findings.js';

// the audit's public shapes live in wal-facts.ts; importers of the audit find them here too
export type {
  WalConfChange,
  WalEntryRecord,
  WalFacts,
  WalSegmentFacts,
  WalSnapshotRecord,
  WalSource,
} from './wal-facts.js';

export interface WalAuditOptions extends WalWalkOptions {
  /** prefix for Finding.file, e.g. 'member/wal' @default '' */
  dirLabel?: string;
}

export interface WalAuditResult {
  findings: Finding[];
  facts: WalFacts;
}

export async function auditWal(src: WalSource, opts: WalAuditOptions = {}): Promise<WalAuditResult> {
  const out = new WalFindings(opts.dirLabel);
  const facts: WalFacts = {
    segments: [],
    snapshotRecords: [],
    entryCount: 0,
    confChanges: [],
    tail: 'none',
    bytesRead: 0,
    live: src.live === true,
  };

  noteLeftovers(src.names, out);
  const { segments, issues } = checkWalNames(src.names);
  reportNameIssues(issues, out);
  if (segments.length === 0) {
    out.add(
      'error',
      'WAL_DIR_EMPTY',
      undefined,
      undefined,
      `wal: no <seq>-<index>.wal segment found${opts.dirLabel ? ` in ${opts.dirLabel}` : ''}`,
      'missing-segment',
    );
    return { findings: out.list, facts };
  }

  const continuity = new IndexContinuity(facts, out);
  const metadata = new MetadataAgreement(facts, out);
  await walkWal(
    src,
    segments,
    facts,
    out,
    {
      entry: (r, entry) => {
        if (continuity.entry(r, entry)) noteConfChanges(r, entry, facts, out);
      },
      state: (r, hs) => continuity.hardState(r, hs),
      snapshot: (r, s) => continuity.snapshot(r, s),
      metadata: (r, md, bytes) => metadata.record(r, md, bytes),
      unreadable: () => continuity.stopReading(),
      segmentEnd: (s) => {
        reportSegmentProblems(s.seg.name, s.res, s.isLast, src.live === true, out);
        if (stopsReader(s.res.end)) continuity.stopReading();
        checkSegmentHeader(s, out);
        checkNameIndex(s, out);
        if (s.isLast) classifyTail(s.seg.name, s.res, facts, out);
      },
    },
    opts,
  );
  continuity.finish();
  return { findings: out.list, facts };
}
