/**
 * The protobufjs root for etcd's messages, loaded from etcd's vendored .proto files (etcd-protos.ts), and
 * the two things protobufjs does not do the way etcd's gogoproto code does:
 * - uint64/int64 arrive as Long objects; every value handed out of src/formats is a bigint instead;
 * - gogo rejects a known field that arrives with the wrong wire type, and groups (wire types 3/4).
 *   protobufjs instead files such a field under `$unknowns`. etcd relies on the rejection to tell an
 *   InternalRaftRequest from a legacy v2 Request (docs/format.md §2.9), so `strictDecode` re-checks the unknowns.
 *
 * Field names: etcd's .proto files spell them several ways (`Term`, `node_id`, `ID`, `remaining_TTL`,
 * `memberID`); every value out of src/formats uses one spelling, lower camelCase by words (`term`,
 * `nodeId`, `id`, `remainingTtl`, `memberId`). `projectName` is that rule; the wire (numbers, types) is
 * etcd's, untouched.
 */
import protobuf from 'protobufjs';
import { ETCD_PROTO_FILES, loadEtcdProtos } from './etcd-protos.js';

/** etcd's field name -> the project's: words split at `_` and case changes, acronyms as one word. */
export function projectName(name: string): string {
  const words = name.split('_').flatMap((part) => part.match(/[A-Z]+(?![a-z])|[A-Z]?[a-z0-9]+/g) ?? []);
  return words
    .map((w, i) => (i === 0 ? w.toLowerCase() : w[0]!.toUpperCase() + w.slice(1).toLowerCase()))
    .join('');
}

type JsonNode = {
  nested?: Record<string, JsonNode>;
  fields?: Record<string, Record<string, unknown>>;
  oneofs?: Record<string, { oneof: string[] }>;
  methods?: unknown;
  options?: unknown;
  [k: string]: unknown;
};

/** A copy of a namespace's JSON with fields renamed by projectName, and options and services dropped. */
function project(node: JsonNode): JsonNode {
  const out: JsonNode = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === 'options' || k === 'comment') continue;
    if (k === 'nested') {
      const nested: Record<string, JsonNode> = {};
      for (const [name, child] of Object.entries(v as Record<string, JsonNode>)) {
        if (child.methods) continue; // gRPC services: src/etcd/ loads those
        nested[name] = project(child);
      }
      out.nested = nested;
    } else if (k === 'fields') {
      const fields: Record<string, Record<string, unknown>> = {};
      for (const [name, f] of Object.entries(v as Record<string, Record<string, unknown>>)) {
        const { options: _options, comment: _comment, ...rest } = f;
        fields[projectName(name)] = rest;
      }
      out.fields = fields;
    } else if (k === 'oneofs') {
      const oneofs: Record<string, { oneof: string[] }> = {};
      for (const [name, o] of Object.entries(v as Record<string, { oneof: string[] }>))
        oneofs[name] = { oneof: o.oneof.map(projectName) };
      out.oneofs = oneofs;
    } else out[k] = v;
  }
  return out;
}

/** etcd's packages; google/ and gogoproto/ only annotate them. */
const ETCD_PACKAGES = ['walpb', 'snappb', 'raftpb', 'etcdserverpb', 'membershippb', 'mvccpb', 'authpb'];

function buildRoot(): protobuf.Root {
  const loaded = loadEtcdProtos([
    ETCD_PROTO_FILES.raftInternal,
    ETCD_PROTO_FILES.walRecord,
    ETCD_PROTO_FILES.snap,
  ]);
  const json = loaded.toJSON() as JsonNode;
  const nested: Record<string, JsonNode> = {};
  for (const pkg of ETCD_PACKAGES) {
    const ns = json.nested?.[pkg];
    if (!ns) throw new Error(`protos: package ${pkg} is missing from etcd's .proto files`);
    nested[pkg] = project(ns);
  }
  return protobuf.Root.fromJSON({ nested } as protobuf.INamespace);
}

export const etcdRoot = buildRoot();

export const T = {
  walRecord: etcdRoot.lookupType('walpb.Record'),
  walSnapshot: etcdRoot.lookupType('walpb.Snapshot'),
  // sic: etcd's snap.proto names it in lower case
  snapSnapshot: etcdRoot.lookupType('snappb.snapshot'),
  entry: etcdRoot.lookupType('raftpb.Entry'),
  hardState: etcdRoot.lookupType('raftpb.HardState'),
  confState: etcdRoot.lookupType('raftpb.ConfState'),
  confChange: etcdRoot.lookupType('raftpb.ConfChange'),
  confChangeV2: etcdRoot.lookupType('raftpb.ConfChangeV2'),
  raftSnapshot: etcdRoot.lookupType('raftpb.Snapshot'),
  metadata: etcdRoot.lookupType('etcdserverpb.Metadata'),
  irr: etcdRoot.lookupType('etcdserverpb.InternalRaftRequest'),
  v2Request: etcdRoot.lookupType('etcdserverpb.Request'),
} as const;

/** A value protobufjs produced for a 64-bit field: a Long (when the `long` package is present) or a number. */
type Int64Like = number | { low: number; high: number; unsigned: boolean } | undefined | null;

/** Long/number -> bigint, unsigned (uint64 fields); missing -> 0n. */
export function u64(v: Int64Like): bigint {
  if (v === undefined || v === null) return 0n;
  if (typeof v === 'number') return BigInt(v);
  if (v.high === 0) return BigInt(v.low >>> 0);
  return (BigInt(v.high >>> 0) << 32n) | BigInt(v.low >>> 0);
}

/** Long/number -> bigint, signed two's complement (int64 fields); missing -> 0n. */
export function i64(v: Int64Like): bigint {
  if (v === undefined || v === null) return 0n;
  if (typeof v === 'number') return BigInt(v);
  return BigInt.asIntN(64, (BigInt(v.high >>> 0) << 32n) | BigInt(v.low >>> 0));
}

export class StrictDecodeError extends Error {
  override name = 'StrictDecodeError';
}

function readerFor(buf: Uint8Array): protobuf.Reader {
  const r = protobuf.Reader.create(buf);
  // keep unknown fields so the strict pass can see wrong-wire-type known fields
  (r as unknown as { discardUnknown: boolean }).discardUnknown = false;
  return r;
}

function checkUnknowns(type: protobuf.Type, m: protobuf.Message, depth: number): void {
  if (depth > 64) throw new StrictDecodeError('message nesting too deep');
  const unknowns = (m as unknown as { $unknowns?: Uint8Array[] }).$unknowns;
  if (unknowns) {
    for (const raw of unknowns) {
      const tag = protobuf.Reader.create(raw).uint32();
      const wire = tag & 7;
      const id = tag >>> 3;
      if (wire === 3 || wire === 4)
        throw new StrictDecodeError(`${type.name}: group wire type on field ${id}`);
      const known = type.fieldsById[id];
      if (known) throw new StrictDecodeError(`${type.name}.${known.name}: wrong wire type ${wire}`);
    }
  }
  // only fields that were present are own properties of a decoded message
  const src = m as unknown as Record<string, unknown>;
  for (const key of Object.keys(src)) {
    const sub = type.fields[key]?.resolvedType;
    if (!(sub instanceof protobuf.Type)) continue;
    const v = src[key];
    if (Array.isArray(v)) for (const x of v) checkUnknowns(sub, x as protobuf.Message, depth + 1);
    else if (v) checkUnknowns(sub, v as protobuf.Message, depth + 1);
  }
}

/**
 * Decodes like gogoproto: throws (protobufjs Error or StrictDecodeError) on malformed bytes, on a known
 * field with the wrong wire type and on groups. Unknown fields with valid wire types are skipped.
 * Bytes fields are views into `buf`, not copies.
 */
export function strictDecode(type: protobuf.Type, buf: Uint8Array): protobuf.Message {
  const m = type.decode(readerFor(buf));
  checkUnknowns(type, m, 0);
  return m;
}

/** Like strictDecode but never throws: the error message instead. */
export function tryDecode(
  type: protobuf.Type,
  buf: Uint8Array,
): { ok: true; msg: protobuf.Message } | { ok: false; error: string } {
  try {
    return { ok: true, msg: strictDecode(type, buf) };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err) };
  }
}

const INT64_TYPES = new Set(['int64', 'sint64', 'sfixed64']);
const UINT64_TYPES = new Set(['uint64', 'fixed64']);

/**
 * A decoded message as a plain object: 64-bit integers as bigint, bytes as Buffer views, enums as
 * numbers, absent scalar fields left out. Used for the many request shapes of InternalRaftRequest.
 */
export function toPlain(type: protobuf.Type, m: protobuf.Message): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const src = m as unknown as Record<string, unknown>;
  for (const key of Object.keys(src)) {
    const field = type.fields[key];
    if (!field) continue;
    const v = src[key];
    const conv = (x: unknown): unknown => {
      if (field.resolvedType instanceof protobuf.Type)
        return toPlain(field.resolvedType, x as protobuf.Message);
      if (UINT64_TYPES.has(field.type)) return u64(x as Int64Like);
      if (INT64_TYPES.has(field.type)) return i64(x as Int64Like);
      if (x instanceof Uint8Array && !Buffer.isBuffer(x))
        return Buffer.from(x.buffer, x.byteOffset, x.byteLength);
      return x;
    };
    out[key] = Array.isArray(v) ? v.map(conv) : conv(v);
  }
  return out;
}
