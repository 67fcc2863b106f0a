/**
 * The WAL record walk: the segments in name order, one read at a time (memory stays bounded by one
 * segment), the CRC chain carried from each segment into the next, every record's payload decoded by its
 * type and handed to a visitor. What the walk itself cannot read becomes a finding (an unreadable segment,
 * a payload that does not decode, an unknown record type); what the records mean is the visitor's job.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { WalRecordType } from '../../formats/wal/record-type.js';
import {
  decodeEntry,
  decodeHardState,
  decodeMetadata,
  decodeWalSnapshot,
  type HardState,
  type RaftEntry,
  type WalMetadata,
  type WalSnapshot,
} from '../../formats/raft/raft-messages.js';
import {
  decodeWalSegment,
  type SegmentDecodeResult,
  type WalRecord,
} from '../../formats/wal/segment-decoder.js';
import type { WalSegmentName } from '../../formats/wal/segment-name.js';
import type { WalEntryRecord, WalFacts, WalSegmentFacts, WalSource } from './wal-facts.js';
import type { WalFindings } from './wal-findings.js';

/** One record as the walk hands it on. */
export interface WalkedRecord {
  seg: WalSegmentName;
  segFacts: WalSegmentFacts;
  rec: WalRecord;
  /** the record's location, as findings give it */
  at: { offset: number; record: number };
}

/** How a segment began: the types of its first two records, and whether the first one's CRC held. */
export interface SegmentStart {
  types: number[];
  firstCrcValid: boolean;
}

/** One segment after its last record. */
export interface WalkedSegment {
  seg: WalSegmentName;
  /** position among the named segments */
  position: number;
  isLast: boolean;
  res: SegmentDecodeResult;
  segFacts: WalSegmentFacts;
  start: SegmentStart;
  /** the segment read before this one, unless a segment could not be read in between */
  prev: WalSegmentFacts | undefined;
}

export interface WalRecordVisitor {
  entry(r: WalkedRecord, entry: RaftEntry): void;
  state(r: WalkedRecord, hs: HardState): void;
  snapshot(r: WalkedRecord, s: WalSnapshot): void;
  metadata(r: WalkedRecord, md: WalMetadata, bytes: Buffer): void;
  /** a segment could not be read: etcd's reader stops there */
  unreadable(seg: WalSegmentName): void;
  segmentEnd(s: WalkedSegment): void;
}

export interface WalWalkOptions {
  /** each decoded entry, in file order; the entry's data is only valid during the call */
  onEntry?: (e: WalEntryRecord) => void;
  signal?: AbortSignal;
}

export async function walkWal(
  src: WalSource,
  segments: readonly WalSegmentName[],
  facts: WalFacts,
  out: WalFindings,
  visitor: WalRecordVisitor,
  opts: WalWalkOptions = {},
): Promise<void> {
  let prevCrc: number | undefined;
  let prevSegment: WalSegmentFacts | undefined;

  for (const [si, seg] of segments.entries()) {
    opts.signal?.throwIfAborted();
    const isLast = si === segments.length - 1;
    let buf: Buffer;
    try {
      buf = await src.read(seg.name);
      if (src.live && isLast) buf = await settleLiveTail(src, seg.name, buf, prevCrc, opts.signal);
    } catch (err) {
      // a running member purged it (etcd removes the oldest segments) after the directory was listed
      if (src.live && (err as NodeJS.ErrnoException).code === 'ENOENT' && facts.segments.length === 0)
        continue;
      out.add(
        'error',
        'WAL_SEGMENT_UNREADABLE',
        seg.name,
        undefined,
        `wal: cannot read ${out.label(seg.name)}: ${(err as Error).message}`,
        'missing-segment',
      );
      visitor.unreadable(seg);
      prevCrc = undefined;
      prevSegment = undefined;
      continue;
    }
    facts.bytesRead += buf.length;
    const segLabel = out.label(seg.name);
    const segFacts: WalSegmentFacts = {
      name: seg.name,
      seq: seg.seq,
      index: seg.index,
      size: buf.length,
      records: 0,
      end: 'eof',
      validEnd: 0,
    };
    const start: SegmentStart = { types: [], firstCrcValid: false };
    const handleRecord = (rec: WalRecord) => {
      if (start.types.length < 2) start.types.push(rec.type);
      if (rec.ordinal === 0) start.firstCrcValid = rec.crcValid && !rec.resynced;
      const r: WalkedRecord = { seg, segFacts, rec, at: { offset: rec.offset, record: rec.ordinal } };
      /** the record's payload decoded, or undefined (and a finding) when it does not decode */
      const payload = <T>(what: string, decode: (bytes: Buffer) => T): T | undefined => {
        try {
          return decode(rec.data ?? Buffer.alloc(0));
        } catch (err) {
          out.add(
            'error',
            'WAL_PAYLOAD_DECODE',
            seg.name,
            r.at,
            `wal: ${what} record ${rec.ordinal} at offset ${rec.offset} in ${segLabel} does not decode: ${(err as Error).message}`,
            'corrupt-record',
          );
          return undefined;
        }
      };
      switch (rec.type) {
        case WalRecordType.Entry: {
          const entry = payload('entry', decodeEntry);
          if (!entry) return;
          facts.entryCount++;
          opts.onEntry?.({ file: segLabel, offset: rec.offset, entry, crcValid: rec.crcValid });
          visitor.entry(r, entry);
          return;
        }
        case WalRecordType.State: {
          const hs = payload('state', decodeHardState);
          if (hs) visitor.state(r, hs);
          return;
        }
        case WalRecordType.Snapshot: {
          const s = payload('snapshot', decodeWalSnapshot);
          if (s) visitor.snapshot(r, s);
          return;
        }
        case WalRecordType.Metadata: {
          // the bytes too: every segment's metadata must be the same bytes
          const md = payload('metadata', (bytes) => ({ md: decodeMetadata(bytes), bytes }));
          if (md) visitor.metadata(r, md.md, md.bytes);
          return;
        }
        case WalRecordType.Crc:
          return;
        default:
          out.add(
            'error',
            'WAL_RECORD_TYPE_UNKNOWN',
            seg.name,
            r.at,
            `wal: record ${rec.ordinal} at offset ${rec.offset} in ${segLabel} has type ${rec.type}; etcd knows 1..5 and refuses to start ("unexpected block type")`,
            'corrupt-record',
          );
      }
    };

    const res = decodeWalSegment(buf, { prevCrc, isLast, continuePastError: true }, handleRecord);
    segFacts.records = res.records;
    segFacts.end = res.end;
    segFacts.validEnd = res.validEnd;
    visitor.segmentEnd({ seg, position: si, isLast, res, segFacts, start, prev: prevSegment });
    prevCrc = res.endCrc;
    prevSegment = segFacts;
    facts.segments.push(segFacts);
  }
}

/** problems a running member's last segment shows while a record is being appended (already info there) */
const IN_FLIGHT_CODES = new Set(['WAL_TORN_TAIL', 'WAL_TAIL_NOT_ZERO']);
const LIVE_REREADS = 3;
const LIVE_REREAD_DELAY_MS = 100;

/**
 * The last segment of a running member, read again while it shows damage. A read that runs beside etcd's
 * append copies the file page by page while etcd fills it page by page, so it can see a page of the append
 * still zero and the page after it already written: a zero length field with records after it and an index
 * gap, which a stopped member would never show. Damage that is really on disk is there in every read and is
 * reported; a write in flight is gone from the next one.
 */
async function settleLiveTail(
  src: WalSource,
  name: string,
  first: Buffer,
  prevCrc: number | undefined,
  signal: AbortSignal | undefined,
): Promise<Buffer> {
  let buf = first;
  for (let i = 0; i < LIVE_REREADS; i++) {
    const probe = decodeWalSegment(buf, { prevCrc, isLast: true, continuePastError: true });
    if (probe.problems.every((p) => IN_FLIGHT_CODES.has(p.code))) return buf;
    await sleep(LIVE_REREAD_DELAY_MS, undefined, { signal });
    buf = await src.read(name);
  }
  return buf;
}
