/**
 * What a raft entry asks etcd to do (docs/format.md §2.8, §2.9): the decoded request of an EntryNormal
 * (InternalRaftRequest, else legacy v2 Request, the same order etcd and etcd-dump-logs use), or the
 * ConfChange of a membership entry with its Member JSON context. `entryEffects` flattens that into the
 * keys put and deleted, lease and member changes, which is what forensic views filter on.
 */
import protobuf from 'protobufjs';
import { parseMemberJson, type MemberJson } from './member-json.js';
import { T, toPlain, tryDecode } from './proto.js';
import {
  EntryType,
  decodeConfChange,
  decodeConfChangeV2,
  type ConfChange,
  type ConfChangeV2,
  type RaftEntry,
} from './raft-messages.js';

export type EntryPayload =
  | { kind: 'noop' }
  | { kind: 'irr'; op: string; request: Record<string, unknown>; header?: Record<string, unknown> }
  | { kind: 'v2'; request: Record<string, unknown> }
  | { kind: 'confChange'; change: ConfChange; member?: MemberJson; contextError?: string }
  | { kind: 'confChangeV2'; change: ConfChangeV2 }
  | { kind: 'undecodable'; error: string };

const IRR_HEADER_FIELDS = new Set(['header', 'id']);

/** Never throws: bytes that decode as nothing become { kind: 'undecodable' }. */
export function decodeEntryPayload(entry: Pick<RaftEntry, 'type' | 'data'>): EntryPayload {
  const data = entry.data;
  if (entry.type === EntryType.Normal) {
    if (!data || data.length === 0) return { kind: 'noop' };
    const irr = tryDecode(T.irr, data);
    if (irr.ok) {
      const plain = toPlain(T.irr, irr.msg);
      const ops = Object.keys(plain).filter((k) => !IRR_HEADER_FIELDS.has(k));
      // an IRR carries exactly one request; zero or several means these bytes were not an IRR
      if (ops.length === 1) {
        const op = ops[0]!;
        const header = plain.header as Record<string, unknown> | undefined;
        return {
          kind: 'irr',
          op,
          request: plain[op] as Record<string, unknown>,
          ...(header ? { header } : {}),
        };
      }
    }
    // etcd itself tries InternalRaftRequest first and applies whatever unmarshals as one as one: bytes that
    // do, but hold only fields this schema does not know (a request type of a newer etcd), are such a
    // request of an unknown type, not a v2 Request (whose decoder would skip the same fields and succeed)
    if (irr.ok) {
      const unknown = unknownIrrFields(data);
      if (unknown.length > 0) {
        const header = toPlain(T.irr, irr.msg).header as Record<string, unknown> | undefined;
        return { kind: 'irr', op: 'unknown', request: { fields: unknown }, ...(header ? { header } : {}) };
      }
    }
    const v2 = tryDecode(T.v2Request, data);
    if (v2.ok) return { kind: 'v2', request: toPlain(T.v2Request, v2.msg) };
    return {
      kind: 'undecodable',
      error: irr.ok ? v2.error : `not an InternalRaftRequest (${irr.error}) nor a v2 Request (${v2.error})`,
    };
  }
  if (entry.type === EntryType.ConfChange) {
    if (!data) return { kind: 'confChange', change: { id: 0n, type: 0, nodeId: 0n, context: undefined } };
    try {
      const change = decodeConfChange(data);
      if (!change.context) return { kind: 'confChange', change };
      try {
        return { kind: 'confChange', change, member: parseMemberJson(change.context) };
      } catch (err) {
        return { kind: 'confChange', change, contextError: (err as Error).message };
      }
    } catch (err) {
      return { kind: 'undecodable', error: `ConfChange: ${(err as Error).message}` };
    }
  }
  if (entry.type === EntryType.ConfChangeV2) {
    try {
      return { kind: 'confChangeV2', change: decodeConfChangeV2(data ?? Buffer.alloc(0)) };
    } catch (err) {
      return { kind: 'undecodable', error: `ConfChangeV2: ${(err as Error).message}` };
    }
  }
  return { kind: 'undecodable', error: `unknown entry type ${entry.type}` };
}

/** Top-level field numbers of `data` that InternalRaftRequest does not define ([] when unreadable). */
function unknownIrrFields(data: Uint8Array): number[] {
  const out: number[] = [];
  try {
    const r = protobuf.Reader.create(data);
    while (r.pos < r.len) {
      const tag = r.uint32();
      const field = tag >>> 3;
      const wire = tag & 7;
      if (field === 0 || wire === 3 || wire === 4) return [];
      if (!T.irr.fieldsById[field] && !out.includes(field)) out.push(field);
      r.skipType(wire);
    }
  } catch {
    return [];
  }
  return out;
}

export interface KeyPut {
  key: Buffer;
  value: Buffer;
  lease: bigint;
  /** set for operations inside a txn: which branch they belong to (the WAL does not say which ran) */
  txnBranch?: 'success' | 'failure';
}
export interface KeyDelete {
  key: Buffer;
  rangeEnd?: Buffer;
  txnBranch?: 'success' | 'failure';
}
export interface MemberChange {
  change: 'add' | 'add-learner' | 'remove' | 'update' | 'promote' | 'attributes';
  memberId: bigint;
  member?: MemberJson;
}

export interface EntryEffects {
  puts: KeyPut[];
  deletes: KeyDelete[];
  compactRevision?: bigint;
  leaseGrants: { id: bigint; ttl: bigint }[];
  leaseRevokes: bigint[];
  memberChanges: MemberChange[];
  /** any other request, by IRR field name or v2 "METHOD path" */
  other?: string;
}

const EMPTY = Buffer.alloc(0);

function txnOps(txn: Record<string, unknown>, fx: EntryEffects): void {
  for (const branch of ['success', 'failure'] as const) {
    for (const op of (txn[branch] as Record<string, unknown>[] | undefined) ?? []) {
      const put = op.requestPut as Record<string, unknown> | undefined;
      const del = op.requestDeleteRange as Record<string, unknown> | undefined;
      const sub = op.requestTxn as Record<string, unknown> | undefined;
      if (put)
        fx.puts.push({
          key: (put.key as Buffer) ?? EMPTY,
          value: (put.value as Buffer) ?? EMPTY,
          lease: (put.lease as bigint) ?? 0n,
          txnBranch: branch,
        });
      if (del)
        fx.deletes.push({
          key: (del.key as Buffer) ?? EMPTY,
          ...(del.rangeEnd ? { rangeEnd: del.rangeEnd as Buffer } : {}),
          txnBranch: branch,
        });
      if (sub) txnOps(sub, fx);
    }
  }
}

const CC_KIND: Record<number, MemberChange['change']> = {
  0: 'add',
  1: 'remove',
  2: 'update',
  3: 'add-learner',
};

export function entryEffects(p: EntryPayload): EntryEffects {
  const fx: EntryEffects = { puts: [], deletes: [], leaseGrants: [], leaseRevokes: [], memberChanges: [] };
  if (p.kind === 'irr') {
    const r = p.request;
    switch (p.op) {
      case 'put':
        fx.puts.push({
          key: (r.key as Buffer) ?? EMPTY,
          value: (r.value as Buffer) ?? EMPTY,
          lease: (r.lease as bigint) ?? 0n,
        });
        break;
      case 'deleteRange':
        fx.deletes.push({
          key: (r.key as Buffer) ?? EMPTY,
          ...(r.rangeEnd ? { rangeEnd: r.rangeEnd as Buffer } : {}),
        });
        break;
      case 'txn':
        txnOps(r, fx);
        break;
      case 'compaction':
        fx.compactRevision = (r.revision as bigint) ?? 0n;
        break;
      case 'leaseGrant':
        fx.leaseGrants.push({ id: (r.id as bigint) ?? 0n, ttl: (r.ttl as bigint) ?? 0n });
        break;
      case 'leaseRevoke':
        fx.leaseRevokes.push((r.id as bigint) ?? 0n);
        break;
      case 'clusterMemberAttrSet': {
        const a = (r.memberAttributes as Record<string, unknown> | undefined) ?? {};
        fx.memberChanges.push({
          change: 'attributes',
          memberId: (r.memberId as bigint) ?? 0n,
          member: { name: a.name as string, clientURLs: (a.clientUrls as string[]) ?? [] },
        });
        break;
      }
      default:
        fx.other = p.op;
    }
  } else if (p.kind === 'v2') {
    const text = (v: unknown) => (typeof v === 'string' ? v : '');
    fx.other = `${text(p.request.method)} ${text(p.request.path)}`;
  } else if (p.kind === 'confChange') {
    const promote = p.member?.isPromote === true;
    fx.memberChanges.push({
      change: promote ? 'promote' : (CC_KIND[p.change.type] ?? 'update'),
      memberId: p.change.nodeId,
      ...(p.member ? { member: p.member } : {}),
    });
  } else if (p.kind === 'confChangeV2') {
    for (const c of p.change.changes)
      fx.memberChanges.push({ change: CC_KIND[c.type] ?? 'update', memberId: c.nodeId });
  }
  return fx;
}
