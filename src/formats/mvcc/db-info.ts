/**
 * What `dr inspect db FILE` shows: buckets with key counts and page/fill statistics, page totals, the key
 * history's revision range and counts, compaction revisions, consistent index, members, leases, auth, alarms.
 * One walk over the file; values are never kept.
 */
import type { ByteSource } from '../byte-source.js';
import type { MetaPage } from '../bbolt/meta.js';
import { openBbolt, type BboltDb } from '../bbolt/open.js';
import type { BboltProblem } from '../bbolt/problem.js';
import { newMarks, walkTree } from '../bbolt/walk.js';
import {
  decodeAlarm,
  decodeAuth,
  decodeMember,
  decodeMeta,
  type Alarm,
  type AuthState,
  type EtcdMeta,
  type Member,
} from './buckets.js';
import { parseRevisionKey } from './revision.js';

export interface BucketInfo {
  /** path joined with '/' */
  name: string;
  keys: number;
  nestedBuckets: number;
  inline: boolean;
  branchPages: number;
  leafPages: number;
  overflowPages: number;
  /** bytes used / bytes allocated over the bucket's pages (inline buckets: 0/0) */
  usedBytes: number;
  allocatedBytes: number;
  fill: number | null;
}

export interface DbInfo {
  pageSize: number;
  pgid: number;
  fileSize: number;
  /** pgid × pageSize */
  dbSize: number;
  txid: bigint;
  currentMeta: 0 | 1;
  metas: { slot: 0 | 1; valid: boolean; txid: bigint; problems: string[] }[];
  freelistPersisted: boolean;
  reachablePages: number;
  /** pages below pgid not reachable from the tree: free for reuse (etcd keeps no freelist) */
  freePages: number;
  buckets: BucketInfo[];
  totalKeys: number;
  key: {
    revisions: number;
    tombstones: number;
    malformedKeys: number;
    minRevision: bigint | null;
    maxRevision: bigint | null;
  };
  meta: EtcdMeta;
  members: Member[];
  removedMembers: string[];
  leases: number;
  auth: AuthState & { users: number; roles: number };
  alarms: Alarm[];
  clusterVersion: string | null;
  /** structural problems met (the walk carries on past them; `dr audit` explains them) */
  problems: BboltProblem[];
}

const name = (path: readonly Buffer[]): string => path.map((b) => b.toString('latin1')).join('/');

export function dbInfo(src: ByteSource | BboltDb): DbInfo {
  const problems: BboltProblem[] = [];
  const onProblem = (p: BboltProblem): void => void (problems.length < 1000 && problems.push(p));
  const db = 'reader' in src ? src : openBbolt(src, { chunkSize: 1 << 20, chunks: 16 })!;
  const marks = newMarks(db);
  const buckets = new Map<string, BucketInfo>();
  const bucket = (path: readonly Buffer[]): BucketInfo => {
    const n = name(path);
    let b = buckets.get(n);
    if (!b) {
      b = {
        name: n,
        keys: 0,
        nestedBuckets: 0,
        inline: true,
        branchPages: 0,
        leafPages: 0,
        overflowPages: 0,
        usedBytes: 0,
        allocatedBytes: 0,
        fill: null,
      };
      buckets.set(n, b);
    }
    return b;
  };
  const metaEntries: [Buffer, Buffer][] = [];
  const authEntries: [Buffer, Buffer][] = [];
  const members: Member[] = [];
  const removed: string[] = [];
  const alarms: Alarm[] = [];
  let leases = 0;
  let users = 0;
  let roles = 0;
  let clusterVersion: string | null = null;
  const key = {
    revisions: 0,
    tombstones: 0,
    malformedKeys: 0,
    minRevision: null as bigint | null,
    maxRevision: null as bigint | null,
  };
  let totalKeys = 0;
  for (const e of walkTree(db, {
    marks,
    onProblem,
    onPage: (v) => {
      if (v.path.length === 0) return;
      const b = bucket(v.path);
      b.inline = false;
      if (v.type === 'branch') b.branchPages++;
      else b.leafPages++;
      b.overflowPages += v.overflow;
      b.usedBytes += v.used;
      b.allocatedBytes += v.span;
    },
  })) {
    if (e.path.length === 0) {
      bucket([e.key]);
      continue;
    }
    const b = bucket(e.path);
    if (e.isBucket) {
      b.nestedBuckets++;
      bucket([...e.path, e.key]);
    } else b.keys++;
    if (e.path.length !== 1) continue;
    totalKeys++;
    const top = e.path[0]!.toString('latin1');
    try {
      switch (top) {
        case 'key': {
          const r = parseRevisionKey(e.key);
          if (!r) {
            key.malformedKeys++;
            break;
          }
          key.revisions++;
          if (r.tombstone) key.tombstones++;
          if (key.minRevision === null) key.minRevision = r.main;
          key.maxRevision = r.main;
          break;
        }
        case 'meta':
          metaEntries.push([Buffer.from(e.key), Buffer.from(e.value)]);
          break;
        case 'auth':
          authEntries.push([Buffer.from(e.key), Buffer.from(e.value)]);
          break;
        case 'members':
          members.push(decodeMember(e.key, e.value));
          break;
        case 'members_removed':
          removed.push(e.key.toString('latin1'));
          break;
        case 'lease':
          leases++;
          break;
        case 'authUsers':
          users++;
          break;
        case 'authRoles':
          roles++;
          break;
        case 'alarm':
          alarms.push(decodeAlarm(e.key));
          break;
        case 'cluster':
          if (e.key.toString('latin1') === 'clusterVersion') clusterVersion = e.value.toString('utf8');
          break;
      }
    } catch (err) {
      onProblem({
        code: 'ELEMENT_OUT_OF_BOUNDS',
        message: `${top}: ${(err as Error).message}`,
        page: e.page,
        bucket: top,
      });
    }
  }
  for (const b of buckets.values()) b.fill = b.allocatedBytes > 0 ? b.usedBytes / b.allocatedBytes : null;
  const reachable = marks.count();
  return {
    pageSize: db.pageSize,
    pgid: db.pgid,
    fileSize: db.src.size,
    dbSize: db.size,
    txid: db.meta.txid,
    currentMeta: db.meta.slot,
    metas: db.metas.metas
      .filter((m): m is MetaPage => m !== null)
      .map((m) => ({ slot: m.slot, valid: m.valid, txid: m.txid, problems: m.problems })),
    freelistPersisted: db.meta.freelist !== null,
    reachablePages: reachable,
    freePages: Math.max(0, db.pgid - reachable),
    buckets: [...buckets.values()],
    totalKeys,
    key,
    meta: decodeMeta(metaEntries),
    members,
    removedMembers: removed,
    leases,
    auth: { ...decodeAuth(authEntries), users, roles },
    alarms,
    clusterVersion,
    problems,
  };
}
