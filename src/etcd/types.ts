/**
 * The etcd client contract used by the rest of dr. IDs, revisions and raft indexes are bigint
 * (they are uint64 on the wire and routinely exceed 2^53).
 */
import type { Readable } from 'node:stream';

export interface TlsFiles {
  caFile?: string;
  certFile?: string;
  keyFile?: string;
}

export interface EtcdConnectionOptions extends TlsFiles {
  /** e.g. ["https://10.0.0.1:2379", "10.0.0.2:2379"]; scheme defaults to http unless TLS files are given. */
  endpoints: string[];
  user?: string;
  password?: string;
  /** @default 5000 */
  dialTimeoutMs?: number;
  /** @default 10000 (snapshot streams are bounded by an idle timeout of the same length instead) */
  requestTimeoutMs?: number;
  /**
   * First wait before reconnecting to a member that refused or dropped the connection (it grows 1.6x per
   * try, up to 10x this). Short for a caller that waits for members it has just started. @default 500
   */
  reconnectBackoffMs?: number;
  /** Which member to snapshot from. @default 'follower' */
  snapshotFrom?: 'follower' | 'leader' | 'any';
}

export interface MemberStatus {
  endpoint: string;
  memberId: bigint;
  clusterId: bigint;
  leaderId: bigint;
  version: string;
  dbSize: bigint;
  dbSizeInUse: bigint;
  raftIndex: bigint;
  raftTerm: bigint;
  raftAppliedIndex: bigint;
  revision: bigint;
  isLearner: boolean;
  errors: string[];
}

export interface Member {
  id: bigint;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
}

export interface Alarm {
  memberId: bigint;
  alarm: 'NONE' | 'NOSPACE' | 'CORRUPT' | (string & Record<never, never>); // the known ones, and any other
}

export interface HashKVResult {
  endpoint: string;
  memberId: bigint;
  hash: number;
  compactRevision: bigint;
  /** the header revision of the response */
  revision: bigint;
}

export interface SnapshotSource {
  endpoint: string;
  status: MemberStatus;
  /** Every blob of Maintenance.Snapshot in order: the db bytes followed by etcd's 32-byte sha256. */
  stream: Readable;
}

/** One answer of statusAll(): the member's status, or why it did not answer. */
export interface EndpointStatus {
  endpoint: string;
  status?: MemberStatus;
  error?: import('../core/errors.js').DrError;
}

export interface KeyValue {
  key: Buffer;
  value: Buffer;
  createRevision: bigint;
  modRevision: bigint;
  version: bigint;
  lease: bigint;
}

/** One operation of a transaction: a put (lease 0n: none), or the delete of one key. */
export type TxnOp =
  { type: 'put'; key: Uint8Array; value: Uint8Array; lease: bigint } | { type: 'delete'; key: Uint8Array };

/**
 * A condition on a transaction: `key`'s mod_revision equals `modRevision` (etcd's Compare, target MOD,
 * result EQUAL). The replay guards each pipelined revision on a key its predecessor wrote
 * (src/replay/txn-pipeline.ts).
 */
export interface TxnGuard {
  key: Uint8Array;
  modRevision: bigint;
}

/** What etcd answered a transaction: its revision, and whether the guard held (false: nothing written). */
export interface TxnAnswer {
  revision: bigint;
  succeeded: boolean;
}

// etcd's Compare enums (rpc.proto), as numbers: an encoder without fromObject takes no enum names
const COMPARE_EQUAL = 0;
const COMPARE_TARGET_MOD = 2;

/**
 * The TxnRequest of the operations, unconditional or under one guard (nothing in the failure branch), in
 * the shape etcd's protos name (protobufjs, keepCase).
 */
export function txnRequest(
  ops: readonly TxnOp[],
  guard?: TxnGuard,
): {
  compare: unknown[];
  success: unknown[];
  failure: [];
} {
  return {
    compare: guard
      ? [
          {
            result: COMPARE_EQUAL,
            target: COMPARE_TARGET_MOD,
            key: guard.key,
            mod_revision: guard.modRevision.toString(),
          },
        ]
      : [],
    success: ops.map((o) =>
      o.type === 'put'
        ? { request_put: { key: o.key, value: o.value, lease: o.lease.toString() } }
        : { request_delete_range: { key: o.key } },
    ),
    failure: [],
  };
}

export interface PutItem {
  key: string | Uint8Array;
  value: string | Uint8Array;
  /** lease ID from leaseGrant(); 0n or absent for none */
  lease?: bigint;
}

export type SnapshotPreference = 'follower' | 'leader' | 'any';

/** One event of a watch: a PUT (the key's new KeyValue) or a DELETE (the key, mod_revision = the deletion's revision). */
export interface WatchEvent {
  type: 'PUT' | 'DELETE';
  kv: KeyValue;
}

/** One WatchResponse, with etcd's meaning kept (rpc.proto). */
export interface WatchResponse {
  /** the member's revision when it sent this response (a progress notification: everything up to it was sent) */
  headerRevision: bigint;
  memberId: bigint;
  created: boolean;
  canceled: boolean;
  /** set when the watch was cancelled because its start revision is compacted: the oldest revision left */
  compactRevision: bigint;
  cancelReason: string;
  /** more responses follow with the rest of this revision's events (only when asked for with `fragment`) */
  fragment: boolean;
  events: WatchEvent[];
}

export interface WatchOptions {
  /** the range watched: key "\0" with rangeEnd "\0" is every key */
  key: Buffer;
  rangeEnd: Buffer;
  startRevision: bigint;
  progressNotify?: boolean;
}

/** A watch on one member. Iterate for responses; reading slowly holds etcd back (HTTP/2 flow control). */
export interface WatchStream extends AsyncIterable<WatchResponse> {
  readonly endpoint: string;
  close(): void;
}

export interface LeaseTimeToLive {
  id: bigint;
  /** seconds left; -1 when the lease has expired or was revoked */
  ttl: bigint;
  /** the TTL it was granted with (0 when it is gone) */
  grantedTtl: bigint;
}
