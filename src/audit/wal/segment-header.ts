/**
 * The head of every segment: a crc record, then a metadata record whose bytes are the same in every
 * segment (etcd writes them with each cut). A segment with no record at all, or one whose records continue
 * the CRC chain without these two, is told apart: a zeroed last segment etcd writes on into is a warning,
 * anything else an error. The first metadata seen is the WAL's node and cluster ID.
 */
import { hexId } from '../../formats/raft/member-json.js';
import type { WalMetadata } from '../../formats/raft/raft-messages.js';
import { WalRecordType, WAL_RECORD_TYPE_NAMES } from '../../formats/wal/record-type.js';
import type { WalFacts } from './wal-facts.js';
import type { WalFindings } from './wal-findings.js';
import type { WalkedRecord, WalkedSegment } from './record-walk.js';

/** The crc and metadata records a segment must start with (or the trace of a zeroed segment written on into). */
export function checkSegmentHeader(
  { seg, position, isLast, res, start }: WalkedSegment,
  out: WalFindings,
): void {
  const label = out.label(seg.name);
  if (res.records === 0 && isLast && res.end === 'zero-tail' && position > 0)
    // etcd never leaves this: its cut writes the new segment's crc, metadata and state records into the
    // preallocated file and fsyncs it before renaming it into place (and Create renames the whole WAL dir
    // only once segment 0 holds its records). A lost write or a zeroing tool did it. etcd reads the WAL as
    // ending with the segment before (a zero length field is its end) and appends to this file, so it
    // starts; whatever the file held is gone (the db cross-check tells whether applied entries were in it)
    out.add(
      'warning',
      'WAL_SEGMENT_EMPTY',
      seg.name,
      { offset: 0 },
      `wal: ${label}, the last segment, is all zeros: etcd never renames a segment into place before its first records are on disk, so damage erased what it held; etcd starts, reads the WAL up to the segment before and writes on into this one`,
      'corrupt-record',
    );
  else if (res.records === 0) {
    out.add(
      'error',
      'WAL_SEGMENT_EMPTY',
      seg.name,
      { offset: 0 },
      `wal: ${label} holds no record (every segment starts with a crc and a metadata record)`,
      'corrupt-record',
    );
  } else {
    const types = start.types;
    // no header records, but the records continue the CRC chain of the segment before: what etcd leaves
    // when it appends to a zeroed last segment (WAL_SEGMENT_EMPTY). etcd reads it as it is (the chain holds;
    // the metadata comes from the earlier segments), so it is that damage's trace, not a refusal to start
    const headerless =
      types[0] !== WalRecordType.Crc &&
      position > 0 &&
      start.firstCrcValid &&
      !res.problems.some((p) => p.code === 'WAL_CRC_MISMATCH');
    if (types[0] !== WalRecordType.Crc)
      out.add(
        headerless ? 'warning' : 'error',
        'WAL_SEGMENT_NO_CRC_RECORD',
        seg.name,
        { offset: 0, record: 0 },
        headerless
          ? `wal: ${label} has no crc and metadata records at its start, but its records continue the CRC chain of the segment before: etcd wrote them into a segment that had been zeroed (what it held before is lost); etcd reads it`
          : `wal: ${label} starts with a ${WAL_RECORD_TYPE_NAMES[types[0]!] ?? `type ${types[0]}`} record, not the crc record every segment starts with`,
        'corrupt-record',
      );
    if (!headerless && res.records > 1 && types[1] !== WalRecordType.Metadata)
      out.add(
        'error',
        'WAL_SEGMENT_NO_METADATA',
        seg.name,
        { record: 1 },
        `wal: the second record of ${label} is a ${WAL_RECORD_TYPE_NAMES[types[1]!] ?? `type ${types[1]}`} record, not metadata`,
        'corrupt-record',
      );
  }
}

/** Every metadata record holds the bytes of the first one (the WAL's node and cluster ID). */
export class MetadataAgreement {
  private firstBytes: Buffer | undefined;
  private firstFile = '';

  constructor(
    private readonly facts: WalFacts,
    private readonly out: WalFindings,
  ) {}

  record({ seg, rec, at }: WalkedRecord, md: WalMetadata, bytes: Buffer): void {
    const { facts, out } = this;
    if (!this.firstBytes) {
      this.firstBytes = Buffer.from(bytes);
      this.firstFile = seg.name;
      facts.metadata = md;
    } else if (!this.firstBytes.equals(bytes) && rec.crcValid) {
      const first = facts.metadata!;
      out.add(
        'error',
        'WAL_METADATA_CONFLICT',
        seg.name,
        at,
        `wal: metadata at offset ${rec.offset} in ${out.label(seg.name)} (node ${hexId(md.nodeId)}, cluster ${hexId(md.clusterId)}) differs from ${out.label(this.firstFile)} (node ${hexId(first.nodeId)}, cluster ${hexId(first.clusterId)})`,
        'metadata-conflict',
      );
    }
  }
}
