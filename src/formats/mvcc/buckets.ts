/**
 * Decoders for etcd's small buckets (docs/format.md §5): meta, members, members_removed, cluster, lease,
 * auth, authUsers, authRoles, alarm. Each takes the bytes bbolt stored and returns a value; none does I/O.
 * uint64 IDs inside JSON are bigger than 2^53, so JSON goes through lossless-json with bigint integers.
 */
import { isInteger, parse } from 'lossless-json';
import { AlarmMemberType, big, bytes, LeaseType, RoleType, UserType } from './protos.js';
import { parseRevisionKey } from './revision.js';

export const BUCKET = {
  alarm: 'alarm',
  auth: 'auth',
  authRoles: 'authRoles',
  authUsers: 'authUsers',
  cluster: 'cluster',
  key: 'key',
  lease: 'lease',
  members: 'members',
  membersRemoved: 'members_removed',
  meta: 'meta',
} as const;

export const STANDARD_BUCKETS: readonly string[] = Object.values(BUCKET).sort();

/** JSON with every integer as bigint (IDs are uint64) and other numbers as number. */
export function parseJsonBig(text: string): unknown {
  return parse(text, null, (s: string) => (isInteger(s) ? BigInt(s) : Number(s)));
}

export function u64be(v: Buffer): bigint | null {
  return v.length === 8 ? v.readBigUInt64BE(0) : null;
}

export interface EtcdMeta {
  consistentIndex: bigint | null;
  /** 3.5+ only */
  term: bigint | null;
  /** 3.5+ only: raftpb.ConfState as JSON */
  confState: unknown;
  scheduledCompactRev: bigint | null;
  finishedCompactRev: bigint | null;
  storageVersion: string | null;
  /** 3.4, 3.5 or 3.6+ by the keys present (docs/format.md §5, the meta keys) */
  schema: '3.4' | '3.5' | '3.6+';
  /** keys not listed above */
  other: string[];
  /** decode problems: key and why */
  problems: { key: string; message: string }[];
}

/** Decodes the meta bucket from its (key, value) pairs. */
export function decodeMeta(entries: Iterable<[Buffer, Buffer]>): EtcdMeta {
  const m: EtcdMeta = {
    consistentIndex: null,
    term: null,
    confState: null,
    scheduledCompactRev: null,
    finishedCompactRev: null,
    storageVersion: null,
    schema: '3.4',
    other: [],
    problems: [],
  };
  for (const [k, v] of entries) {
    const key = k.toString('latin1');
    const u64 = (): bigint | null => {
      const x = u64be(v);
      if (x === null) m.problems.push({ key, message: `expected 8 bytes, got ${v.length}` });
      return x;
    };
    const rev = (): bigint | null => {
      const r = parseRevisionKey(v);
      if (r === null) m.problems.push({ key, message: `not a 17-byte revision (0x${v.toString('hex')})` });
      return r?.main ?? null;
    };
    switch (key) {
      case 'consistent_index':
        m.consistentIndex = u64();
        break;
      case 'term':
        m.term = u64();
        break;
      case 'confState':
        try {
          m.confState = parseJsonBig(v.toString('utf8'));
        } catch (err) {
          m.problems.push({ key, message: `invalid JSON: ${(err as Error).message}` });
        }
        break;
      case 'scheduledCompactRev':
        m.scheduledCompactRev = rev();
        break;
      case 'finishedCompactRev':
        m.finishedCompactRev = rev();
        break;
      case 'storageVersion':
        m.storageVersion = v.toString('utf8');
        break;
      default:
        m.other.push(key);
    }
  }
  m.schema = m.storageVersion !== null ? '3.6+' : m.confState !== null || m.term !== null ? '3.5' : '3.4';
  return m;
}

/**
 * Where an etcd of this data's schema takes cluster membership from when it starts: up to 3.5 from the v2
 * store (the `.snap` file's JSON plus the WAL's v2 requests; the `members` bucket is a copy, left stale by a
 * 3.4 restore), from 3.6 on (`meta/storageVersion` present) from the `members` bucket, with raft's ConfState
 * (meta/confState, the WAL) for the voters. 3.7 no longer needs the v2 store at all.
 */
export function membershipSource(schema: EtcdMeta['schema']): 'v2-store' | 'members-bucket' {
  return schema === '3.6+' ? 'members-bucket' : 'v2-store';
}

export interface Member {
  id: bigint;
  /** the bucket key: lowercase hex, no padding */
  idHex: string;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
}

/** A `members` entry; throws on JSON that is not a member record. */
export function decodeMember(key: Buffer, value: Buffer): Member {
  const j = parseJsonBig(value.toString('utf8')) as Record<string, unknown>;
  if (typeof j !== 'object' || j === null || typeof j.id !== 'bigint') {
    throw new Error(`member ${key.toString('latin1')}: JSON has no integer "id"`);
  }
  const strings = (x: unknown): string[] => (Array.isArray(x) ? x.filter((s) => typeof s === 'string') : []);
  return {
    id: j.id,
    idHex: key.toString('latin1'),
    name: typeof j.name === 'string' ? j.name : '',
    peerURLs: strings(j.peerURLs),
    clientURLs: strings(j.clientURLs),
    isLearner: j.isLearner === true,
  };
}

export interface Lease {
  id: bigint;
  ttl: bigint;
  remainingTTL: bigint;
}

export function decodeLease(value: Buffer): Lease {
  const m = LeaseType.decode(value) as unknown as Record<string, unknown>;
  return { id: big(m.ID), ttl: big(m.TTL), remainingTTL: big(m.RemainingTTL) };
}

export interface AuthUser {
  name: string;
  /** true when a (bcrypt) password hash is stored; the hash itself is never returned */
  hasPassword: boolean;
  roles: string[];
  noPassword: boolean;
}

export function decodeUser(value: Buffer): AuthUser {
  const m = UserType.decode(value) as unknown as Record<string, unknown>;
  return {
    name: bytes(m.name).toString('utf8'),
    hasPassword: bytes(m.password).length > 0,
    roles: (m.roles as string[] | undefined) ?? [],
    noPassword: (m.options as { no_password?: boolean } | undefined)?.no_password === true,
  };
}

export interface AuthRole {
  name: string;
  permissions: { type: 'READ' | 'WRITE' | 'READWRITE'; key: Buffer; rangeEnd: Buffer }[];
}

export function decodeRole(value: Buffer): AuthRole {
  const m = RoleType.decode(value) as unknown as Record<string, unknown>;
  const types = ['READ', 'WRITE', 'READWRITE'] as const;
  const perms = (m.keyPermission as Record<string, unknown>[] | undefined) ?? [];
  return {
    name: bytes(m.name).toString('utf8'),
    permissions: perms.map((p) => ({
      type: types[Number(p.permType ?? 0)] ?? 'READ',
      key: bytes(p.key),
      rangeEnd: bytes(p.range_end),
    })),
  };
}

export interface AuthState {
  enabled: boolean;
  revision: bigint | null;
}

export function decodeAuth(entries: Iterable<[Buffer, Buffer]>): AuthState {
  const s: AuthState = { enabled: false, revision: null };
  for (const [k, v] of entries) {
    const key = k.toString('latin1');
    if (key === 'authEnabled') s.enabled = v.length === 1 && v[0] === 1;
    else if (key === 'authRevision') s.revision = u64be(v);
  }
  return s;
}

export interface Alarm {
  memberID: bigint;
  alarm: 'NONE' | 'NOSPACE' | 'CORRUPT' | (string & Record<never, never>); // the known ones, and any other
}

/** An `alarm` entry: the key is the marshalled AlarmMember, the value is empty. */
export function decodeAlarm(key: Buffer): Alarm {
  const m = AlarmMemberType.decode(key) as unknown as Record<string, unknown>;
  const names = ['NONE', 'NOSPACE', 'CORRUPT'];
  const n = Number(m.alarm ?? 0);
  return { memberID: big(m.memberID), alarm: names[n] ?? `UNKNOWN(${n})` };
}
