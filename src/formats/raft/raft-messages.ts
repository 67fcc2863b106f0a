/**
 * raftpb / walpb / etcdserverpb.Metadata messages as TypeScript values (docs/format.md §2.3, §2.8). Every decoder
 * throws on malformed bytes (protobufjs error or StrictDecodeError); callers that must not throw wrap
 * them (see src/formats/wal/ and src/audit/).
 */
import type protobuf from 'protobufjs';
import { T, strictDecode, u64 } from './proto.js';
import { ENTRY_FIELDS, expectWire, readBytesView, readerOver, readU64, skipUnknown } from './wire.js';

export const EntryType = { Normal: 0, ConfChange: 1, ConfChangeV2: 2 } as const;
export const ENTRY_TYPE_NAMES: Record<number, string> = {
  0: 'EntryNormal',
  1: 'EntryConfChange',
  2: 'EntryConfChangeV2',
};

export const ConfChangeType = { AddNode: 0, RemoveNode: 1, UpdateNode: 2, AddLearnerNode: 3 } as const;
export const CONF_CHANGE_TYPE_NAMES: Record<number, string> = {
  0: 'ConfChangeAddNode',
  1: 'ConfChangeRemoveNode',
  2: 'ConfChangeUpdateNode',
  3: 'ConfChangeAddLearnerNode',
};

export interface RaftEntry {
  type: number;
  term: bigint;
  index: bigint;
  /** view into the decoded buffer; undefined when absent or empty */
  data: Buffer | undefined;
}

export interface HardState {
  term: bigint;
  vote: bigint;
  commit: bigint;
}

export interface ConfState {
  voters: bigint[];
  learners: bigint[];
  votersOutgoing: bigint[];
  learnersNext: bigint[];
  autoLeave: boolean;
}

export interface ConfChange {
  id: bigint;
  type: number;
  nodeId: bigint;
  context: Buffer | undefined;
}

export interface ConfChangeV2 {
  transition: number;
  changes: { type: number; nodeId: bigint }[];
  context: Buffer | undefined;
}

export interface WalSnapshot {
  index: bigint;
  term: bigint;
  /** written by etcd 3.5+ only */
  confState: ConfState | undefined;
}

export interface RaftSnapshot {
  /** the v2 store JSON in etcd */
  data: Buffer | undefined;
  metadata: { confState: ConfState; index: bigint; term: bigint };
}

export interface WalMetadata {
  nodeId: bigint;
  clusterId: bigint;
}

type Obj = Record<string, unknown>;
type Long = Parameters<typeof u64>[0];

function bytes(v: unknown): Buffer | undefined {
  if (!(v instanceof Uint8Array) || v.length === 0) return undefined;
  return Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

const has = (m: object, k: string) => Object.prototype.hasOwnProperty.call(m, k);

/**
 * One per WAL entry record, so it reads the fields with the Reader directly (wire.ts) instead of building a
 * protobufjs message and two Longs; the payload in `data` is left undecoded (decodeEntryPayload).
 */
export function decodeEntry(buf: Uint8Array): RaftEntry {
  return decodeEntryAt(buf, 0, buf.length);
}

/** decodeEntry of buf[start, start + len), e.g. a WAL record's data in place (WalRecord.dataOffset). */
export function decodeEntryAt(buf: Uint8Array, start: number, len: number): RaftEntry {
  const r = readerOver(buf, start, len);
  let type = 0;
  let term = 0n;
  let index = 0n;
  let data: Buffer | undefined;
  const { type: TYPE, term: TERM, index: INDEX, data: DATA } = ENTRY_FIELDS;
  while (r.pos < r.len) {
    const tag = r.uint32();
    const field = tag >>> 3;
    const wire = tag & 7;
    if (field === TYPE) {
      expectWire('Entry', field, wire, 0);
      type = r.int32();
    } else if (field === TERM) {
      expectWire('Entry', field, wire, 0);
      term = readU64(r);
    } else if (field === INDEX) {
      expectWire('Entry', field, wire, 0);
      index = readU64(r);
    } else if (field === DATA) {
      expectWire('Entry', field, wire, 2);
      data = readBytesView(r);
    } else skipUnknown(r, 'Entry', field, wire);
  }
  return { type, term, index, data };
}

export function decodeHardState(buf: Uint8Array): HardState {
  const m = strictDecode(T.hardState, buf) as unknown as Obj;
  return { term: u64(m.term as Long), vote: u64(m.vote as Long), commit: u64(m.commit as Long) };
}

function confStateFrom(m: Obj | undefined): ConfState {
  const list = (k: string) => ((m?.[k] as Long[] | undefined) ?? []).map(u64);
  return {
    voters: list('voters'),
    learners: list('learners'),
    votersOutgoing: list('votersOutgoing'),
    learnersNext: list('learnersNext'),
    autoLeave: Boolean(m?.autoLeave),
  };
}

export function decodeConfState(buf: Uint8Array): ConfState {
  return confStateFrom(strictDecode(T.confState, buf) as unknown as Obj);
}

export function decodeConfChange(buf: Uint8Array): ConfChange {
  const m = strictDecode(T.confChange, buf) as unknown as Obj;
  return {
    id: u64(m.id as Long),
    type: (m.type as number) ?? 0,
    nodeId: u64(m.nodeId as Long),
    context: bytes(m.context),
  };
}

export function decodeConfChangeV2(buf: Uint8Array): ConfChangeV2 {
  const m = strictDecode(T.confChangeV2, buf) as unknown as Obj;
  const changes = ((m.changes as Obj[] | undefined) ?? []).map((c) => ({
    type: (c.type as number) ?? 0,
    nodeId: u64(c.nodeId as Long),
  }));
  return { transition: (m.transition as number) ?? 0, changes, context: bytes(m.context) };
}

export function decodeWalSnapshot(buf: Uint8Array): WalSnapshot {
  const m = strictDecode(T.walSnapshot, buf) as unknown as Obj;
  return {
    index: u64(m.index as Long),
    term: u64(m.term as Long),
    confState: has(m, 'confState') ? confStateFrom(m.confState as Obj) : undefined,
  };
}

export function decodeRaftSnapshot(buf: Uint8Array): RaftSnapshot {
  const m = strictDecode(T.raftSnapshot, buf) as unknown as Obj;
  const md = (m.metadata as Obj | undefined) ?? {};
  return {
    data: bytes(m.data),
    metadata: {
      confState: confStateFrom(md.confState as Obj | undefined),
      index: u64(md.index as Long),
      term: u64(md.term as Long),
    },
  };
}

export function decodeMetadata(buf: Uint8Array): WalMetadata {
  const m = strictDecode(T.metadata, buf) as unknown as Obj;
  return { nodeId: u64(m.nodeId as Long), clusterId: u64(m.clusterId as Long) };
}

/** Encoders exist for tests and benchmarks that build synthetic WALs; etcd-dr never writes a WAL. */
export function encodeMessage(type: protobuf.Type, value: Obj): Buffer {
  return Buffer.from(type.encode(type.fromObject(value)).finish());
}

/** bigint -> the decimal string protobufjs fromObject accepts for 64-bit fields. */
export function encodeU64(v: bigint): string {
  return v.toString();
}
