/**
 * The WAL part of the corruption checklist (docs/format.md §9): segment names and seq gaps, crc then
 * metadata at the head of each segment, framing and padding, the CRC chain across segments, identical
 * metadata, non-last segments fully consumed, record types, entry / state / snapshot payloads, index
 * continuity and term monotonicity, HardState.commit within the log, and the last segment's tail told
 * apart: clean zero tail, torn record (warning: etcd repairs it), real corruption (error).
 *
 * Segments are read one at a time through `WalSource.read` (memory stays bounded by one segment);
 * nothing here does I/O itself (see read-wal-dir.ts). Never throws on bad data: every problem becomes a
 * Finding, and the facts the cross-checks need (metadata IDs, last HardState, snapshot records,
 * ConfChange entries) come back alongside.
 *
 * Over 400 lines: the record walk, index continuity and tail classification share one pass's state. Its
 * split into three files is still to do (issue: one home for each concept).
 */
import type { Finding, Severity } from '../finding.js';
import { decodeEntryPayload } from '../../formats/raft/entry-payload.js';
import { hexId, type MemberJson } from '../../formats/raft/member-json.js';
import {
  EntryType,
  decodeEntry,
  decodeHardState,
  decodeMetadata,
  decodeWalSnapshot,
  type ConfState,
  type HardState,
  type RaftEntry,
} from '../../formats/raft/raft-messages.js';
import { WalRecordType, WAL_RECORD_TYPE_NAMES } from '../../formats/wal/record-type.js';
import {
  decodeWalSegment,
  type SegmentDecodeResult,
  type WalProblemCode,
} from '../../formats/wal/segment-decoder.js';
import { checkWalNames } from '../../formats/wal/segment-name.js';

export interface WalSource {
  /** every file name in the WAL directory; only `*.wal` are segments, a few others are noted */
  names: readonly string[];
  /** the bytes of one segment; called once per segment, in name order */
  read(name: string): Promise<Buffer>;
  /**
   * A running etcd holds the WAL (it locks its open segments): the last segment is being appended to while it
   * is read, so a partly written last record is the record in flight, not a torn write.
   */
  live?: boolean;
}

export interface WalEntryRecord {
  file: string;
  offset: number;
  entry: RaftEntry;
  /** false when the record failed its CRC (the entry may be garbage) */
  crcValid: boolean;
}

export interface WalAuditOptions {
  /** prefix for Finding.file, e.g. 'member/wal' @default '' */
  dirLabel?: string;
  /** each decoded entry, in file order (forensic views); the entry's data is only valid during the call */
  onEntry?: (e: WalEntryRecord) => void;
  signal?: AbortSignal;
}

export interface WalSegmentFacts {
  name: string;
  seq: bigint;
  index: bigint;
  size: number;
  records: number;
  end: SegmentDecodeResult['end'];
  validEnd: number;
  firstEntryIndex?: bigint;
  lastEntryIndex?: bigint;
}

export interface WalSnapshotRecord {
  index: bigint;
  term: bigint;
  confState?: ConfState;
  file: string;
  offset: number;
}

export interface WalConfChange {
  index: bigint;
  term: bigint;
  /** raftpb.ConfChangeType */
  type: number;
  nodeId: bigint;
  member?: MemberJson;
  file: string;
  offset: number;
}

export interface WalFacts {
  segments: WalSegmentFacts[];
  metadata?: { nodeId: bigint; clusterId: bigint };
  lastHardState?: HardState & { file: string; offset: number };
  snapshotRecords: WalSnapshotRecord[];
  firstIndex?: bigint;
  lastIndex?: bigint;
  /**
   * The highest raft index etcd itself reads from this WAL: the last entry (or snapshot record) before the
   * first problem that stops etcd's reader or that its repair cuts off. Undefined when none.
   */
  lastIntactIndex?: bigint;
  /** the WAL was read while a running etcd held it (see WalSource.live) */
  live: boolean;
  entryCount: number;
  confChanges: WalConfChange[];
  /** the last segment's tail: none = no segment at all */
  tail: 'clean' | 'torn' | 'corrupt' | 'garbage' | 'none';
  /** where etcd's Repair truncates the last segment when the tail is torn */
  repairAt?: { file: string; offset: number };
  bytesRead: number;
}

export interface WalAuditResult {
  findings: Finding[];
  facts: WalFacts;
}

const RUNBOOK = 'runbooks/corrupt-wal.md';

const PROBLEM_META: Record<WalProblemCode, { severity: Severity; anchor: string }> = {
  WAL_LENGTH_INVALID: { severity: 'info', anchor: 'corrupt-record' },
  WAL_RECORD_TOO_LARGE: { severity: 'error', anchor: 'corrupt-record' },
  WAL_PADDING_NONZERO: { severity: 'warning', anchor: 'nonzero-padding' },
  WAL_RECORD_DECODE: { severity: 'error', anchor: 'corrupt-record' },
  WAL_CRC_MISMATCH: { severity: 'error', anchor: 'corrupt-record' },
  WAL_CRC_CHAIN_BROKEN: { severity: 'error', anchor: 'crc-chain-broken' },
  WAL_TORN_TAIL: { severity: 'warning', anchor: 'torn-tail' },
  WAL_ZEROED_SECTOR: { severity: 'error', anchor: 'zeroed-sector' },
  WAL_SEGMENT_TRUNCATED: { severity: 'error', anchor: 'truncated-segment' },
  WAL_SEGMENT_ENDS_EARLY: { severity: 'error', anchor: 'truncated-segment' },
  WAL_RECORDS_AFTER_END: { severity: 'error', anchor: 'records-after-end' },
  WAL_TAIL_NOT_ZERO: { severity: 'warning', anchor: 'torn-tail' },
};

/** term per raft index for the most recent entries, enough to check terms across an overwrite */
const TERM_WINDOW = 1 << 16;

export async function auditWal(src: WalSource, opts: WalAuditOptions = {}): Promise<WalAuditResult> {
  const findings: Finding[] = [];
  const label = (name: string) => (opts.dirLabel ? `${opts.dirLabel}/${name}` : name);
  const add = (
    severity: Severity,
    code: string,
    file: string | undefined,
    location: Finding['location'] | undefined,
    message: string,
    anchor: string,
  ) => {
    findings.push({
      severity,
      code,
      ...(file !== undefined ? { file: label(file) } : {}),
      ...(location ? { location } : {}),
      message,
      runbook: `${RUNBOOK}#${anchor}`,
    });
  };
  const facts: WalFacts = {
    segments: [],
    snapshotRecords: [],
    entryCount: 0,
    confChanges: [],
    tail: 'none',
    bytesRead: 0,
    live: src.live === true,
  };
  /** false from the first problem that stops etcd's reader (or its repair) on */
  let intact = true;
  // the last entry in file order: a later, lower index is raft overwriting a conflicting tail
  const noteIntact = (index: bigint) => {
    facts.lastIntactIndex = index;
  };

  for (const n of src.names) {
    if (n.endsWith('.wal.broken'))
      add(
        'info',
        'WAL_BROKEN_COPY',
        n,
        undefined,
        `wal: ${label(n)} is the copy etcd keeps when it repairs a torn last segment: this WAL was repaired before`,
        'torn-tail',
      );
    else if (/^\d+\.tmp$/.test(n))
      add(
        'info',
        'WAL_TMP_SEGMENT',
        n,
        undefined,
        `wal: ${label(n)} is the next segment etcd preallocates and keeps ready while it runs (left in place when it stops)`,
        'torn-tail',
      );
  }

  const { segments, issues } = checkWalNames(src.names);
  for (const is of issues) {
    const loc = { index: is.missing ? `${is.missing.from}..${is.missing.to}` : undefined };
    if (is.kind === 'invalid-name')
      add('warning', 'WAL_NAME_INVALID', is.name, undefined, is.message, 'misnamed-segment');
    else if (is.kind === 'seq-gap')
      add('error', 'WAL_SEQ_GAP', is.name, is.missing ? loc : undefined, is.message, 'missing-segment');
    else if (is.kind === 'seq-duplicate')
      add('error', 'WAL_SEQ_DUPLICATE', is.name, undefined, is.message, 'misnamed-segment');
    else add('error', 'WAL_NAME_INDEX_ORDER', is.name, undefined, is.message, 'misnamed-segment');
  }
  if (segments.length === 0) {
    add(
      'error',
      'WAL_DIR_EMPTY',
      undefined,
      undefined,
      `wal: no <seq>-<index>.wal segment found${opts.dirLabel ? ` in ${opts.dirLabel}` : ''}`,
      'missing-segment',
    );
    return { findings, facts };
  }

  let prevCrc: number | undefined;
  let metadataBytes: Buffer | undefined;
  let metadataFile = '';
  let prevIndex: bigint | undefined;
  let prevSegment: WalSegmentFacts | undefined;
  const termAt = new Float64Array(TERM_WINDOW);
  let windowLo = 0; // lowest index whose term is in termAt
  let prevN: number | undefined;
  let firstN = 0;
  let damagedSlots = 0;
  let maxEntryTerm = { termN: 0, term: 0n, index: 0n, file: '', offset: 0 };
  let lastEntryFile = '';
  let lastEntryOffset = 0;
  /** the highest snapshot record seen before the first entry: the log may start right after it */
  let snapBeforeFirst = 0n;

  for (const [si, seg] of segments.entries()) {
    opts.signal?.throwIfAborted();
    const isLast = si === segments.length - 1;
    let buf: Buffer;
    try {
      buf = await src.read(seg.name);
    } catch (err) {
      // a running member purged it (etcd removes the oldest segments) after the directory was listed
      if (src.live && (err as NodeJS.ErrnoException).code === 'ENOENT' && facts.segments.length === 0)
        continue;
      add(
        'error',
        'WAL_SEGMENT_UNREADABLE',
        seg.name,
        undefined,
        `wal: cannot read ${label(seg.name)}: ${(err as Error).message}`,
        'missing-segment',
      );
      intact = false;
      prevCrc = undefined;
      prevSegment = undefined;
      continue;
    }
    facts.bytesRead += buf.length;
    const segLabel = label(seg.name);
    const segFacts: WalSegmentFacts = {
      name: seg.name,
      seq: seg.seq,
      index: seg.index,
      size: buf.length,
      records: 0,
      end: 'eof',
      validEnd: 0,
    };
    let recordTypes: number[] = [];
    let firstCrcValid = false;
    const handleRecord = (rec: import('../../formats/wal/segment-decoder.js').WalRecord) => {
      if (recordTypes.length < 2) recordTypes.push(rec.type);
      if (rec.ordinal === 0) firstCrcValid = rec.crcValid && !rec.resynced;
      const at = { offset: rec.offset, record: rec.ordinal };
      const payloadError = (what: string, err: unknown) =>
        add(
          'error',
          'WAL_PAYLOAD_DECODE',
          seg.name,
          at,
          `wal: ${what} record ${rec.ordinal} at offset ${rec.offset} in ${label(seg.name)} does not decode: ${(err as Error).message}`,
          'corrupt-record',
        );
      switch (rec.type) {
        case WalRecordType.Entry: {
          let entry: RaftEntry;
          try {
            entry = decodeEntry(rec.data ?? Buffer.alloc(0));
          } catch (err) {
            payloadError('entry', err);
            return;
          }
          facts.entryCount++;
          opts.onEntry?.({ file: segLabel, offset: rec.offset, entry, crcValid: rec.crcValid });
          const i = entry.index;
          // continuity arithmetic in doubles: exact below 2^53, and an index beyond that is a gap anyway
          const n = Number(i);
          if (!rec.crcValid) {
            // a damaged entry (already reported) still fills its slot when its index is the expected one;
            // otherwise it may stand for one lost entry, so the next gap is allowed to be one wider
            if (prevN === undefined || n !== prevN + 1) {
              damagedSlots++;
              return;
            }
          }
          if (facts.firstIndex === undefined && rec.crcValid) {
            // etcd keeps entries after the snapshot it starts from and needs the first one to be the next
            // index ("slice out of range" otherwise): a log that starts at segment 0 starts at entry 1, one
            // that etcd purged starts at its first segment's name (or right after a snapshot record)
            const seg0 = (facts.segments[0] ?? seg).index; // the first segment read
            // (a snapshot record can be written after entries past it: take the later of the two starts)
            const byName = seg0 > 0n ? seg0 : 1n;
            const expected = snapBeforeFirst + 1n > byName ? snapBeforeFirst + 1n : byName;
            if (i > expected)
              add(
                'error',
                'WAL_INDEX_GAP',
                seg.name,
                { ...at, index: i.toString() },
                `wal: the first entry is ${i} (${segLabel} offset ${rec.offset}), but the log starts at ${expected}: entries ${expected}..${i - 1n} are missing`,
                'index-gap',
              );
          }
          if (segFacts.firstEntryIndex === undefined) segFacts.firstEntryIndex = i;
          segFacts.lastEntryIndex = i;
          if (facts.firstIndex === undefined || n < firstN) {
            facts.firstIndex = i;
            firstN = n;
          }
          const term = Number(entry.term);
          if (term > maxEntryTerm.termN)
            maxEntryTerm = { termN: term, term: entry.term, index: i, file: seg.name, offset: rec.offset };
          if (rec.crcValid && term === 0)
            // raft gives every entry it writes a term of at least 1: a term-0 entry is bytes of another
            // record read as an entry (the record type is outside the CRC, so a flipped type passes it)
            add(
              'error',
              'WAL_TERM_DECREASE',
              seg.name,
              { ...at, index: i.toString() },
              `wal: entry ${i} at offset ${rec.offset} in ${segLabel} has term 0, which raft never writes: a damaged record type (another record read as an entry)?`,
              'index-gap',
            );
          else if (prevN !== undefined) {
            if (n > prevN + 1) {
              if (n > prevN + 1 + damagedSlots)
                add(
                  'error',
                  'WAL_INDEX_GAP',
                  seg.name,
                  { ...at, index: i.toString() },
                  `wal: entry index jumps from ${prevIndex} (${label(lastEntryFile)} offset ${lastEntryOffset}) to ${i} (${segLabel} offset ${rec.offset}): entries ${prevIndex! + 1n}..${i - 1n} are missing`,
                  'index-gap',
                );
              windowLo = n;
            } else {
              const before = n - 1;
              if (rec.crcValid && before >= windowLo && term < termAt[before % TERM_WINDOW]!)
                add(
                  'error',
                  'WAL_TERM_DECREASE',
                  seg.name,
                  { ...at, index: i.toString() },
                  `wal: entry ${i} at offset ${rec.offset} in ${segLabel} has term ${entry.term}, lower than term ${termAt[before % TERM_WINDOW]} of entry ${before}`,
                  'index-gap',
                );
            }
          } else windowLo = n;
          if (n < windowLo) windowLo = n;
          if (n - windowLo >= TERM_WINDOW) windowLo = n - TERM_WINDOW + 1;
          termAt[n % TERM_WINDOW] = term;
          prevIndex = i;
          prevN = n;
          damagedSlots = 0;
          lastEntryFile = seg.name;
          lastEntryOffset = rec.offset;
          facts.lastIndex = i;
          if (intact && rec.intact) noteIntact(i);
          if (
            rec.crcValid &&
            (entry.type === EntryType.ConfChange || entry.type === EntryType.ConfChangeV2)
          ) {
            const p = decodeEntryPayload(entry);
            if (p.kind === 'confChange')
              facts.confChanges.push({
                index: i,
                term: entry.term,
                type: p.change.type,
                nodeId: p.change.nodeId,
                ...(p.member ? { member: p.member } : {}),
                file: label(seg.name),
                offset: rec.offset,
              });
            else if (p.kind === 'confChangeV2')
              for (const c of p.change.changes)
                facts.confChanges.push({
                  index: i,
                  term: entry.term,
                  type: c.type,
                  nodeId: c.nodeId,
                  file: label(seg.name),
                  offset: rec.offset,
                });
            else
              add(
                'error',
                'WAL_PAYLOAD_DECODE',
                seg.name,
                { ...at, index: i.toString() },
                `wal: membership entry ${i} at offset ${rec.offset} in ${label(seg.name)} does not decode: ${p.kind === 'undecodable' ? p.error : p.kind}`,
                'corrupt-record',
              );
          }
          return;
        }
        case WalRecordType.State: {
          try {
            const hs = decodeHardState(rec.data ?? Buffer.alloc(0));
            // raft never persists a HardState whose term is behind an entry it already wrote (its term only
            // grows). The record type sits outside the CRC, so an entry whose type byte flipped to "state"
            // decodes as a HardState with the entry's type (0 or 1) as its term: this is how it shows.
            // the same flip on the first entry of a WAL: raft never persists term 0 with a vote or a commit
            if (hs.term === 0n && (hs.commit > 0n || hs.vote > 0n))
              add(
                'error',
                'WAL_STATE_TERM_BEHIND',
                seg.name,
                at,
                `wal: the state record at offset ${rec.offset} in ${label(seg.name)} has term 0 with vote ${hs.vote} and commit ${hs.commit}, which raft never writes: a damaged record type or a damaged record`,
                'corrupt-record',
              );
            else if (hs.term < maxEntryTerm.term)
              add(
                'error',
                'WAL_STATE_TERM_BEHIND',
                seg.name,
                at,
                `wal: the state record at offset ${rec.offset} in ${label(seg.name)} has term ${hs.term}, below term ${maxEntryTerm.term} of entry ${maxEntryTerm.index} written before it: a damaged record type or a damaged record`,
                'corrupt-record',
              );
            if (rec.crcValid) facts.lastHardState = { ...hs, file: label(seg.name), offset: rec.offset };
          } catch (err) {
            payloadError('state', err);
          }
          return;
        }
        case WalRecordType.Snapshot: {
          try {
            const s = decodeWalSnapshot(rec.data ?? Buffer.alloc(0));
            if (rec.crcValid && facts.firstIndex === undefined && s.index > snapBeforeFirst)
              snapBeforeFirst = s.index;
            if (rec.crcValid && intact && rec.intact && (facts.lastIntactIndex ?? 0n) < s.index)
              noteIntact(s.index);
            if (rec.crcValid)
              facts.snapshotRecords.push({
                index: s.index,
                term: s.term,
                ...(s.confState ? { confState: s.confState } : {}),
                file: label(seg.name),
                offset: rec.offset,
              });
          } catch (err) {
            payloadError('snapshot', err);
          }
          return;
        }
        case WalRecordType.Metadata: {
          const bytes = rec.data ?? Buffer.alloc(0);
          try {
            const md = decodeMetadata(bytes);
            if (!metadataBytes) {
              metadataBytes = Buffer.from(bytes);
              metadataFile = seg.name;
              facts.metadata = md;
            } else if (!metadataBytes.equals(bytes) && rec.crcValid) {
              const first = facts.metadata!;
              add(
                'error',
                'WAL_METADATA_CONFLICT',
                seg.name,
                at,
                `wal: metadata at offset ${rec.offset} in ${label(seg.name)} (node ${hexId(md.nodeId)}, cluster ${hexId(md.clusterId)}) differs from ${label(metadataFile)} (node ${hexId(first.nodeId)}, cluster ${hexId(first.clusterId)})`,
                'metadata-conflict',
              );
            }
          } catch (err) {
            payloadError('metadata', err);
          }
          return;
        }
        case WalRecordType.Crc:
          return;
        default:
          add(
            'error',
            'WAL_RECORD_TYPE_UNKNOWN',
            seg.name,
            at,
            `wal: record ${rec.ordinal} at offset ${rec.offset} in ${label(seg.name)} has type ${rec.type}; etcd knows 1..5 and refuses to start ("unexpected block type")`,
            'corrupt-record',
          );
      }
    };

    const res = decodeWalSegment(buf, { prevCrc, isLast, continuePastError: true }, handleRecord);
    const liveTail = isLast && src.live === true && res.end === 'torn';
    segFacts.records = res.records;
    segFacts.end = res.end;
    segFacts.validEnd = res.validEnd;
    for (const p of res.problems) {
      const meta = PROBLEM_META[p.code];
      const after =
        res.recovered > 0 &&
        p === res.problems.find((q) => q.code !== 'WAL_PADDING_NONZERO' && q.code !== 'WAL_LENGTH_INVALID')
          ? ` (${res.recovered} record(s) recovered after it)`
          : '';
      // the member runs: its last record is being written while we read it (etcd fsyncs before it acks)
      // (or etcd is writing records past what it wrote when we read the length field: bytes of a write in
      // progress beyond a still-zero length field)
      const inFlight =
        (liveTail && p.code === 'WAL_TORN_TAIL') ||
        (isLast && src.live === true && p.code === 'WAL_TAIL_NOT_ZERO');
      add(
        inFlight ? 'info' : meta.severity,
        p.code,
        seg.name,
        { offset: p.offset, ...(p.record !== undefined ? { record: p.record } : {}) },
        inFlight
          ? `wal: ${label(seg.name)}: the running member is writing its last records while we read (${p.message})`
          : `wal: ${label(seg.name)}: ${p.message}${after}`,
        meta.anchor,
      );
    }
    // etcd reads no record after a problem that stops it (or that its repair truncates at)
    if (res.end === 'torn' || res.end === 'corrupt') intact = false;

    if (res.records === 0 && isLast && res.end === 'zero-tail' && si > 0)
      // etcd never leaves this: its cut writes the new segment's crc, metadata and state records into the
      // preallocated file and fsyncs it before renaming it into place (and Create renames the whole WAL dir
      // only once segment 0 holds its records). A lost write or a zeroing tool did it. etcd reads the WAL as
      // ending with the segment before (a zero length field is its end) and appends to this file, so it
      // starts; whatever the file held is gone (the db cross-check tells whether applied entries were in it)
      add(
        'warning',
        'WAL_SEGMENT_EMPTY',
        seg.name,
        { offset: 0 },
        `wal: ${label(seg.name)}, the last segment, is all zeros: etcd never renames a segment into place before its first records are on disk, so damage erased what it held; etcd starts, reads the WAL up to the segment before and writes on into this one`,
        'corrupt-record',
      );
    else if (res.records === 0) {
      add(
        'error',
        'WAL_SEGMENT_EMPTY',
        seg.name,
        { offset: 0 },
        `wal: ${label(seg.name)} holds no record (every segment starts with a crc and a metadata record)`,
        'corrupt-record',
      );
    } else {
      // no header records, but the records continue the CRC chain of the segment before: what etcd leaves
      // when it appends to a zeroed last segment (WAL_SEGMENT_EMPTY). etcd reads it as it is (the chain holds;
      // the metadata comes from the earlier segments), so it is that damage's trace, not a refusal to start
      const headerless =
        recordTypes[0] !== WalRecordType.Crc &&
        si > 0 &&
        firstCrcValid &&
        !res.problems.some((p) => p.code === 'WAL_CRC_MISMATCH');
      if (recordTypes[0] !== WalRecordType.Crc)
        add(
          headerless ? 'warning' : 'error',
          'WAL_SEGMENT_NO_CRC_RECORD',
          seg.name,
          { offset: 0, record: 0 },
          headerless
            ? `wal: ${label(seg.name)} has no crc and metadata records at its start, but its records continue the CRC chain of the segment before: etcd wrote them into a segment that had been zeroed (what it held before is lost); etcd reads it`
            : `wal: ${label(seg.name)} starts with a ${WAL_RECORD_TYPE_NAMES[recordTypes[0]!] ?? `type ${recordTypes[0]}`} record, not the crc record every segment starts with`,
          'corrupt-record',
        );
      if (!headerless && res.records > 1 && recordTypes[1] !== WalRecordType.Metadata)
        add(
          'error',
          'WAL_SEGMENT_NO_METADATA',
          seg.name,
          { record: 1 },
          `wal: the second record of ${label(seg.name)} is a ${WAL_RECORD_TYPE_NAMES[recordTypes[1]!] ?? `type ${recordTypes[1]}`} record, not metadata`,
          'corrupt-record',
        );
    }
    if (!isLast && res.end === 'torn') {
      /* the decoder reports truncation of non-last segments itself */
    }
    // a cut names the new segment after the last entry saved in the previous one
    if (
      prevSegment &&
      prevSegment.seq + 1n === seg.seq &&
      prevSegment.end === 'eof' &&
      prevSegment.lastEntryIndex !== undefined &&
      seg.index !== prevSegment.lastEntryIndex + 1n
    )
      add(
        'error',
        'WAL_NAME_INDEX_MISMATCH',
        seg.name,
        undefined,
        `wal: ${label(seg.name)} is named for raft index ${seg.index}, but the previous segment ${label(prevSegment.name)} ends with entry ${prevSegment.lastEntryIndex}: expected index ${prevSegment.lastEntryIndex + 1n} in the name`,
        'misnamed-segment',
      );
    if (seg.seq === 0n && seg.index !== 0n)
      add(
        'error',
        'WAL_NAME_INDEX_MISMATCH',
        seg.name,
        undefined,
        `wal: the first segment (seq 0) is named for raft index ${seg.index}; etcd creates it with index 0`,
        'misnamed-segment',
      );

    if (isLast) {
      facts.tail =
        res.end === 'eof' || res.end === 'zero-tail'
          ? 'clean'
          : res.end === 'torn'
            ? 'torn'
            : res.end === 'garbage-tail'
              ? 'garbage'
              : 'corrupt';
      if (res.end === 'torn') facts.repairAt = { file: label(seg.name), offset: res.validEnd };
    }
    prevCrc = res.endCrc;
    prevSegment = segFacts;
    facts.segments.push(segFacts);
    recordTypes = [];
  }

  // no intact entry at all: the WAL holds nothing past where its first segment starts (a segment is named for
  // the index of the first entry it is meant to hold; older ones were covered by a snapshot and purged)
  if (facts.lastIntactIndex === undefined && facts.segments.length > 0) {
    const first = facts.segments[0]!.index;
    facts.lastIntactIndex = first > 0n ? first - 1n : 0n;
  }

  if (facts.lastHardState) {
    const hs = facts.lastHardState;
    const snapMax = facts.snapshotRecords.reduce((m, s) => (s.index > m ? s.index : m), 0n);
    const top = facts.lastIndex !== undefined && facts.lastIndex > snapMax ? facts.lastIndex : snapMax;
    // raft persists a new term's HardState with (or before) its first entries: no entry may be ahead
    if (maxEntryTerm.term > hs.term)
      add(
        'error',
        'WAL_TERM_AHEAD',
        maxEntryTerm.file,
        { offset: maxEntryTerm.offset, index: maxEntryTerm.index.toString() },
        `wal: entry ${maxEntryTerm.index} at offset ${maxEntryTerm.offset} in ${label(maxEntryTerm.file)} has term ${maxEntryTerm.term}, above the last HardState term ${hs.term}`,
        'index-gap',
      );
    if (hs.commit > top)
      findings.push({
        severity: 'error',
        code: 'WAL_COMMIT_BEYOND_LOG',
        file: hs.file,
        location: { offset: hs.offset, index: hs.commit.toString() },
        message: `wal: the last HardState (${hs.file} offset ${hs.offset}) says entries up to ${hs.commit} are committed, but the WAL holds entries only up to ${top}: committed entries are missing`,
        runbook: `${RUNBOOK}#index-gap`,
      });
  } else if (facts.entryCount > 0) {
    add(
      'warning',
      'WAL_NO_HARDSTATE',
      undefined,
      undefined,
      'wal: entries are present but no HardState record was found',
      'corrupt-record',
    );
  }
  return { findings, facts };
}
