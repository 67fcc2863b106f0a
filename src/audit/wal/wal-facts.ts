/**
 * What the WAL audit reads from and what it establishes: its input (`WalSource`) and the facts the
 * cross-checks need (metadata IDs, last HardState, snapshot records, ConfChange entries, the tail). One home
 * for these shapes, so that the record walk, index continuity and tail classification share them without
 * importing each other.
 */
import type { SegmentDecodeResult } from '../../formats/wal/segment-decoder.js';
import type { ConfState, HardState, RaftEntry } from '../../formats/raft/raft-messages.js';
import type { MemberJson } from '../../formats/raft/member-json.js';

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
