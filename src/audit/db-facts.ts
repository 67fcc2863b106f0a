/**
 * The few facts of a backend file the cross-checks and reports need (consistent index, term, members,
 * revisions), read by point lookups and walks of the small buckets only: a fraction of a full walk.
 * Lenient: damage is the db audit's business, so problems here are ignored and yield nulls.
 */
import type { ByteSource } from '../formats/byte-source.js';
import { openBbolt, type BboltDb } from '../formats/bbolt/open.js';
import { walkTree } from '../formats/bbolt/walk.js';
import { BUCKET, decodeMember, decodeMeta, type EtcdMeta } from '../formats/mvcc/buckets.js';
import { storeRevisions } from '../formats/mvcc/store.js';

export interface DbMemberFact {
  id: bigint;
  name: string;
  peerURLs: string[];
  isLearner: boolean;
}

export interface DbFacts {
  fileSize: number;
  pageSize: number;
  /** pgid × pageSize */
  dbSize: number;
  txid: bigint;
  consistentIndex: bigint | null;
  /** 3.5+ only */
  term: bigint | null;
  schema: EtcdMeta['schema'];
  /** main revision of the last `key` entry */
  revision: bigint;
  compactRevision: bigint;
  scheduledCompactRevision: bigint;
  members: DbMemberFact[];
  removedMembers: bigint[];
}

const ignore = (): void => {};

/** null when neither meta page is valid (the db audit says why). */
export function readDbFacts(src: ByteSource): DbFacts | null {
  let db: BboltDb | null;
  try {
    db = openBbolt(src, { chunkSize: 1 << 16, chunks: 8, onProblem: ignore });
  } catch {
    return null;
  }
  if (!db) return null;
  const bucketEntries = (name: string): [Buffer, Buffer][] => {
    const out: [Buffer, Buffer][] = [];
    try {
      for (const e of walkTree(db, { bucket: [Buffer.from(name)], onProblem: ignore }))
        if (e.path.length === 1 && !e.isBucket) out.push([Buffer.from(e.key), Buffer.from(e.value)]);
    } catch {
      /* damaged: the db audit reports it */
    }
    return out;
  };
  const meta = decodeMeta(bucketEntries(BUCKET.meta));
  const members: DbMemberFact[] = [];
  for (const [k, v] of bucketEntries(BUCKET.members)) {
    try {
      const m = decodeMember(k, v);
      members.push({ id: m.id, name: m.name, peerURLs: m.peerURLs, isLearner: m.isLearner });
    } catch {
      /* reported as DB_MEMBER_INVALID */
    }
  }
  const removedMembers: bigint[] = [];
  for (const [k] of bucketEntries(BUCKET.membersRemoved)) {
    const hex = k.toString('latin1');
    if (/^[0-9a-f]{1,16}$/.test(hex)) removedMembers.push(BigInt(`0x${hex}`));
  }
  let revs = { current: 0n, compacted: 0n, scheduledCompact: 0n };
  try {
    revs = storeRevisions(db);
  } catch {
    /* lenient */
  }
  return {
    fileSize: src.size,
    pageSize: db.pageSize,
    dbSize: db.size,
    txid: db.meta.txid,
    consistentIndex: meta.consistentIndex,
    term: meta.term,
    schema: meta.schema,
    revision: revs.current,
    compactRevision: revs.compacted,
    scheduledCompactRevision: revs.scheduledCompact,
    members,
    removedMembers,
  };
}
