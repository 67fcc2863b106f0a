/**
 * `dr inspect wal`: every record of a WAL directory as a reader-friendly item, in file order, one segment in
 * memory at a time. Entries carry their decoded request (keys put / deleted with value sizes, txn branches,
 * lease, compaction, member and auth changes); state, snapshot and metadata records come along (with an
 * index range, a state record by its commit index and a snapshot record by its index); framing
 * problems become `problem` items (the decoder continues past them; `dr audit` judges them).
 *
 * Values are handed to the callback as views into the segment buffer, valid only during the call: the
 * caller decides whether to show them (they may hold secrets). Request payloads are decoded only for
 * entries that pass the index filter.
 *
 * Over 400 lines on purpose: one reader-facing view of every record kind; the kinds share the range and
 * filter logic, so splitting them apart would spread one idea over several files.
 */
import type { WalSource } from '../audit/wal/audit-wal.js';
import {
  decodeEntryPayload,
  entryEffects,
  type EntryPayload,
  type MemberChange,
} from '../formats/raft/entry-payload.js';
import { hexId } from '../formats/raft/member-json.js';
import {
  decodeEntryAt,
  decodeHardState,
  decodeMetadata,
  decodeWalSnapshot,
  EntryType,
} from '../formats/raft/raft-messages.js';
import { WalRecordType } from '../formats/wal/record-type.js';
import { decodeWalSegment, type WalRecord } from '../formats/wal/segment-decoder.js';
import { checkWalNames } from '../formats/wal/segment-name.js';

/** What --type filters on. An entry can be in several (a txn that puts is `txn` and `put`). */
export const ENTRY_CATEGORIES = [
  'put',
  'delete',
  'txn',
  'lease',
  'member',
  'compaction',
  'conf',
  'auth',
  'noop',
  'other',
] as const;
export type EntryCategory = (typeof ENTRY_CATEGORIES)[number];

export interface PutView {
  key: Buffer;
  valueSize: number;
  /** a view valid only during the callback */
  value: Buffer;
  lease?: bigint;
  branch?: 'success' | 'failure';
}

export interface DeleteView {
  key: Buffer;
  rangeEnd?: Buffer;
  /**
   * What the delete covers: one key; every key with `key` as prefix (rangeEnd is the prefix's end, as
   * `etcdctl del --prefix` sends it); every key from `key` on (rangeEnd "\0", `--from-key`); or the
   * half-open range [key, rangeEnd).
   */
  scope?: 'key' | 'prefix' | 'from-key' | 'range';
  branch?: 'success' | 'failure';
}

/** The scope of a delete [key, rangeEnd): see DeleteView.scope. */
export function deleteScope(key: Buffer, rangeEnd: Buffer | undefined): NonNullable<DeleteView['scope']> {
  if (!rangeEnd || rangeEnd.length === 0) return 'key';
  if (rangeEnd.length === 1 && rangeEnd[0] === 0) return 'from-key';
  const pEnd = key.length > 0 ? prefixEnd(key) : null;
  return pEnd && pEnd.equals(rangeEnd) ? 'prefix' : 'range';
}

export interface RequestView {
  /** IRR field name (put, deleteRange, txn, compaction, leaseGrant, authUserAdd, ...), or noop, v2, confChange, confChangeV2, undecodable */
  op: string;
  categories: EntryCategory[];
  requestId?: bigint;
  puts: PutView[];
  deletes: DeleteView[];
  /** txn: number of compare clauses */
  compares?: number;
  compaction?: { revision: bigint; physical: boolean };
  leaseGrants: { id: bigint; ttl: bigint }[];
  leaseRevokes: bigint[];
  leaseCheckpoints: { id: bigint; remainingTtl: bigint }[];
  memberChanges: MemberChange[];
  /** auth requests: the names involved (never passwords, hashes or tokens) */
  auth?: Record<string, string | Buffer>;
  /** v2 request: method and path */
  v2?: { method: string; path: string };
  /** anything else worth one word (clusterVersionSet 3.4.0, alarm ...) */
  detail?: string;
  /** why the payload did not decode */
  error?: string;
}

interface Located {
  /** segment file name */
  file: string;
  /** offset of the record's length field in the segment */
  offset: number;
  /** false when the record failed its CRC (content may be garbage) */
  crcValid: boolean;
}

export type WalItem =
  | (Located & {
      kind: 'entry';
      index: bigint;
      term: bigint;
      entryType: 'normal' | 'confChange' | 'confChangeV2' | `type ${number}`;
      request: RequestView;
    })
  | (Located & { kind: 'state'; term: bigint; vote: bigint; commit: bigint })
  | (Located & { kind: 'snapshot'; index: bigint; term: bigint })
  | (Located & { kind: 'metadata'; nodeId: string; clusterId: string })
  | { kind: 'problem'; file: string; offset?: number; code: string; message: string };

export interface WalViewFilter {
  fromIndex?: bigint;
  toIndex?: bigint;
  prefix?: Buffer;
  /** entries in any of these categories */
  types?: ReadonlySet<EntryCategory>;
}

export interface WalViewSummary {
  segments: number;
  records: number;
  entries: number;
  /** entries (and other records) handed to onItem */
  shown: number;
  firstIndex?: bigint;
  lastIndex?: bigint;
  problems: number;
  /** segments not read because all their entries are below --from-index */
  skippedSegments: number;
  bytesRead: number;
}

export interface WalViewOptions extends WalViewFilter {
  onItem: (item: WalItem) => void;
  /** awaited after each segment (the CLI waits for stdout to drain here) */
  afterSegment?: () => Promise<void>;
  signal?: AbortSignal;
}

const ENTRY_TYPE: Record<number, 'normal' | 'confChange' | 'confChangeV2'> = {
  [EntryType.Normal]: 'normal',
  [EntryType.ConfChange]: 'confChange',
  [EntryType.ConfChangeV2]: 'confChangeV2',
};

const SECRET_FIELD = /password|token/i;

/** The request of an entry, from its decoded payload. */
export function requestView(p: EntryPayload): RequestView {
  const fx = entryEffects(p);
  const v: RequestView = {
    op: p.kind === 'irr' ? p.op : p.kind,
    categories: [],
    puts: fx.puts.map((x) => ({
      key: x.key,
      valueSize: x.value.length,
      value: x.value,
      ...(x.lease ? { lease: x.lease } : {}),
      ...(x.txnBranch ? { branch: x.txnBranch } : {}),
    })),
    deletes: fx.deletes.map((x) => ({
      key: x.key,
      ...(x.rangeEnd ? { rangeEnd: x.rangeEnd } : {}),
      scope: deleteScope(x.key, x.rangeEnd),
      ...(x.txnBranch ? { branch: x.txnBranch } : {}),
    })),
    leaseGrants: fx.leaseGrants,
    leaseRevokes: fx.leaseRevokes,
    leaseCheckpoints: [],
    memberChanges: fx.memberChanges,
  };
  const cats = new Set<EntryCategory>();
  if (v.puts.length) cats.add('put');
  if (v.deletes.length) cats.add('delete');
  if (v.memberChanges.length) cats.add('member');
  if (p.kind === 'irr') {
    const r = p.request;
    const id = (p.header?.id as bigint | undefined) ?? undefined;
    if (id) v.requestId = id;
    switch (p.op) {
      case 'txn':
        cats.add('txn');
        v.compares = ((r.compare as unknown[] | undefined) ?? []).length;
        break;
      case 'compaction':
        cats.add('compaction');
        v.compaction = { revision: (r.revision as bigint) ?? 0n, physical: r.physical === true };
        break;
      case 'leaseGrant':
      case 'leaseRevoke':
        cats.add('lease');
        break;
      case 'leaseCheckpoint':
        cats.add('lease');
        v.leaseCheckpoints = ((r.checkpoints as Record<string, unknown>[] | undefined) ?? []).map((c) => ({
          id: (c.id as bigint) ?? 0n,
          remainingTtl: (c.remainingTtl as bigint) ?? 0n,
        }));
        break;
      case 'clusterVersionSet':
        cats.add('other');
        v.detail = `version ${text(r.ver)}`;
        break;
      case 'alarm':
        cats.add('other');
        v.detail = `action ${Number(r.action ?? 0)} alarm ${Number(r.alarm ?? 0)} member ${hexId((r.memberId as bigint) ?? 0n)}`;
        break;
      default:
        if (p.op.startsWith('auth')) {
          cats.add('auth');
          const a: Record<string, string | Buffer> = {};
          for (const [k, val] of Object.entries(r)) {
            if (SECRET_FIELD.test(k)) continue;
            if (typeof val === 'string' || Buffer.isBuffer(val)) a[k] = val;
            else if (val && typeof val === 'object' && k === 'perm') {
              const perm = val as Record<string, unknown>;
              a.permType =
                ['READ', 'WRITE', 'READWRITE'][Number(perm.permType ?? 0)] ?? String(perm.permType);
              if (Buffer.isBuffer(perm.key)) a.key = perm.key;
              if (Buffer.isBuffer(perm.rangeEnd)) a.rangeEnd = perm.rangeEnd;
            }
          }
          v.auth = a;
        } else if (!cats.size) cats.add('other');
    }
  } else if (p.kind === 'noop') cats.add('noop');
  else if (p.kind === 'confChange' || p.kind === 'confChangeV2') cats.add('conf');
  else if (p.kind === 'v2') {
    // 3.4 still publishes member attributes through the v2 store
    cats.add(text(p.request.path).startsWith('/0/members/') ? 'member' : 'other');
    v.v2 = { method: text(p.request.method), path: text(p.request.path) };
  } else if (p.kind === 'undecodable') {
    cats.add('other');
    v.error = p.error;
  }
  v.categories = ENTRY_CATEGORIES.filter((c) => cats.has(c));
  return v;
}

function startsWith(b: Buffer, prefix: Buffer): boolean {
  return b.length >= prefix.length && b.compare(prefix, 0, prefix.length, 0, prefix.length) === 0;
}

/** The first key after every key that starts with prefix (etcd's GetPrefixRangeEnd), or null: no end. */
export function prefixEnd(prefix: Buffer): Buffer | null {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]!++;
      return end.subarray(0, i + 1);
    }
  }
  return null;
}

/** Does the request touch a key under prefix (a put, a delete, or a range delete that overlaps it)? */
export function touchesPrefix(v: RequestView, prefix: Buffer): boolean {
  if (v.puts.some((p) => startsWith(p.key, prefix))) return true;
  const pEnd = prefixEnd(prefix);
  return v.deletes.some((d) => {
    if (startsWith(d.key, prefix)) return true;
    if (!d.rangeEnd) return false;
    // [key, rangeEnd) with rangeEnd "\0" meaning "to the end" overlaps [prefix, pEnd)
    const toEnd = d.rangeEnd.length === 1 && d.rangeEnd[0] === 0;
    const startsBeforeEnd = pEnd === null || d.key.compare(pEnd) < 0;
    const endsAfterStart = toEnd || d.rangeEnd.compare(prefix) > 0;
    return startsBeforeEnd && endsAfterStart;
  });
}

/** Reads every segment of `src` in order and hands each (filtered) record to opts.onItem. */
export async function viewWal(src: WalSource, opts: WalViewOptions): Promise<WalViewSummary> {
  const summary: WalViewSummary = {
    segments: 0,
    records: 0,
    entries: 0,
    shown: 0,
    problems: 0,
    skippedSegments: 0,
    bytesRead: 0,
  };
  const entryFilter = opts.prefix !== undefined || (opts.types !== undefined && opts.types.size > 0);
  const inRange = (i: bigint) =>
    (opts.fromIndex === undefined || i >= opts.fromIndex) &&
    (opts.toIndex === undefined || i <= opts.toIndex);
  const emit = (item: WalItem) => {
    summary.shown++;
    opts.onItem(item);
  };
  const problem = (file: string, code: string, message: string, offset?: number) => {
    summary.problems++;
    emit({ kind: 'problem', file, ...(offset !== undefined ? { offset } : {}), code, message });
  };

  const { segments, issues } = checkWalNames(src.names);
  for (const is of issues) problem(is.name, `WAL_${is.kind.toUpperCase().replace(/-/g, '_')}`, is.message);
  if (segments.length === 0) {
    problem('', 'WAL_DIR_EMPTY', 'wal: no <seq>-<index>.wal segment found');
    return summary;
  }

  let prevCrc: number | undefined;
  for (const [si, seg] of segments.entries()) {
    opts.signal?.throwIfAborted();
    const next = segments[si + 1];
    // entries of a segment are below the next segment's first index (its name): skip whole segments
    if (opts.fromIndex !== undefined && next && next.index <= opts.fromIndex && next.seq === seg.seq + 1n) {
      summary.skippedSegments++;
      prevCrc = undefined;
      continue;
    }
    let buf: Buffer;
    try {
      buf = await src.read(seg.name);
    } catch (err) {
      problem(seg.name, 'WAL_SEGMENT_UNREADABLE', `wal: cannot read ${seg.name}: ${(err as Error).message}`);
      prevCrc = undefined;
      continue;
    }
    summary.segments++;
    summary.bytesRead += buf.length;
    const file = seg.name;
    const onRecord = (rec: WalRecord) => {
      summary.records++;
      const at = { file, offset: rec.offset, crcValid: rec.crcValid };
      try {
        switch (rec.type) {
          case WalRecordType.Entry: {
            const e = decodeEntryAt(buf, rec.dataOffset, rec.dataLength);
            summary.entries++;
            if (summary.firstIndex === undefined || e.index < summary.firstIndex)
              summary.firstIndex = e.index;
            if (summary.lastIndex === undefined || e.index > summary.lastIndex) summary.lastIndex = e.index;
            if (!inRange(e.index)) return;
            const request = requestView(decodeEntryPayload(e));
            if (opts.prefix !== undefined && !touchesPrefix(request, opts.prefix)) return;
            if (opts.types?.size && !request.categories.some((c) => opts.types!.has(c))) return;
            emit({
              kind: 'entry',
              ...at,
              index: e.index,
              term: e.term,
              entryType: ENTRY_TYPE[e.type] ?? `type ${e.type}`,
              request,
            });
            return;
          }
          case WalRecordType.State: {
            if (entryFilter) return;
            const hs = decodeHardState(rec.data ?? Buffer.alloc(0));
            // with --from-index/--to-index, a state record belongs to the range of its commit index
            if (!inRange(hs.commit)) return;
            emit({ kind: 'state', ...at, term: hs.term, vote: hs.vote, commit: hs.commit });
            return;
          }
          case WalRecordType.Snapshot: {
            if (entryFilter) return;
            const s = decodeWalSnapshot(rec.data ?? Buffer.alloc(0));
            if (!inRange(s.index)) return;
            emit({ kind: 'snapshot', ...at, index: s.index, term: s.term });
            return;
          }
          case WalRecordType.Metadata: {
            if (entryFilter) return;
            const md = decodeMetadata(rec.data ?? Buffer.alloc(0));
            emit({ kind: 'metadata', ...at, nodeId: hexId(md.nodeId), clusterId: hexId(md.clusterId) });
            return;
          }
          case WalRecordType.Crc:
            return;
          default:
            problem(file, 'WAL_RECORD_TYPE_UNKNOWN', `wal: record of unknown type ${rec.type}`, rec.offset);
        }
      } catch (err) {
        problem(
          file,
          'WAL_PAYLOAD_DECODE',
          `wal: record ${rec.ordinal} (type ${rec.type}) does not decode: ${(err as Error).message}`,
          rec.offset,
        );
      }
    };
    const res = decodeWalSegment(
      buf,
      { prevCrc, isLast: si === segments.length - 1, continuePastError: true },
      onRecord,
    );
    for (const p of res.problems) {
      // a clean preallocated tail is normal; a torn tail is noted (etcd repairs it)
      problem(file, p.code, `wal: ${file}: ${p.message}`, p.offset);
    }
    prevCrc = res.endCrc;
    await opts.afterSegment?.();
  }
  return summary;
}

/** A decoded protobuf string field, or '' when absent. */
function text(v: unknown): string {
  return typeof v === 'string' ? v : '';
}
