import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDrError } from '../../../src/core/errors.js';
import { openFileSource } from '../../../src/formats/file-byte-source.js';
import { dbInfo } from '../../../src/formats/mvcc/db-info.js';
import { keysAt, offlineHashKV } from '../../../src/formats/mvcc/store.js';
import { parseRevisionKey, revisionKey, revisionKeyProblem } from '../../../src/formats/mvcc/revision.js';
import { etcdctl, liveHashKV, makeCorpus, type Corpus } from '../bbolt/etcd-corpus.js';
import { etcdAtLeast, etcdVersion } from '../../helpers/etcd-version.js';

interface EtcdctlKv {
  key: string;
  create_revision: number;
  mod_revision: number;
  version: number;
  value: string;
  lease?: number;
}

async function liveGet(endpoint: string, prefix: string, rev: number): Promise<EtcdctlKv[]> {
  const out = JSON.parse(
    await etcdctl(endpoint, 'get', prefix, '--prefix', '--rev', String(rev), '-w', 'json'),
  ) as {
    kvs?: EtcdctlKv[];
  };
  return out.kvs ?? [];
}

function offlineGet(file: string, prefix: string, rev: number): EtcdctlKv[] {
  const src = openFileSource(file);
  try {
    return [...keysAt(src, { prefix, rev: BigInt(rev) })].map((kv) => ({
      key: kv.key.toString('base64'),
      create_revision: Number(kv.createRevision),
      mod_revision: Number(kv.modRevision),
      version: Number(kv.version),
      value: kv.value.toString('base64'),
      ...(kv.lease !== 0n ? { lease: Number(kv.lease) } : {}),
    }));
  } finally {
    src.close();
  }
}

function hashOf(file: string, rev: number) {
  const src = openFileSource(file);
  try {
    return offlineHashKV(src, BigInt(rev));
  } finally {
    src.close();
  }
}

describe('revision keys', () => {
  it('round-trips and rejects malformed keys', () => {
    const k = revisionKey(0x22n, 1n, true);
    expect(k.toString('hex')).toBe('0000000000000022' + '5f' + '0000000000000001' + '74');
    expect(parseRevisionKey(k)).toEqual({ main: 0x22n, sub: 1n, tombstone: true });
    expect(revisionKeyProblem(k.subarray(0, 16))).toMatch(/16 bytes/);
    const bad = Buffer.from(k);
    bad[17] = 0x75;
    expect(parseRevisionKey(bad)).toBeNull();
  });
});

describe('mvcc store read offline from real snapshots', () => {
  let corpus: Corpus;
  beforeAll(async () => {
    corpus = await makeCorpus();
  });
  afterAll(async () => {
    await corpus?.stop();
  });

  it('keysAt equals etcdctl get --prefix --rev on the live member', async () => {
    const revs = [corpus.compactedAt, corpus.compactedAt + 3, corpus.revision];
    for (const rev of revs) {
      for (const prefix of ['/', '/registry/configmaps/ns3/', '/gen/', '/leased/']) {
        const live = await liveGet(corpus.endpoint, prefix, rev);
        expect(offlineGet(corpus.defragmented, prefix, rev)).toEqual(live);
      }
    }
    // the uncompacted snapshot answers the same at revisions it holds
    const rev = corpus.freshRevision;
    expect(offlineGet(corpus.fresh, '/', rev)).toEqual(await liveGet(corpus.endpoint, '/', rev));
    expect(offlineGet(corpus.fresh, '/', rev).length).toBeGreaterThan(2500);
  });

  it('sees history the live member has compacted away, and refuses compacted revisions', () => {
    const before = offlineGet(corpus.fresh, '/gen/', corpus.freshRevision - 1);
    expect(before).toEqual([]); // deleted at that revision
    expect(offlineGet(corpus.fresh, '/gen/', corpus.freshRevision - 2)).toHaveLength(1);
    const src = openFileSource(corpus.defragmented);
    try {
      expect(() => [...keysAt(src, { rev: 5n })]).toThrow(/has been compacted/);
      let err: unknown = null;
      try {
        keysAt(src, { rev: BigInt(corpus.revision + 10) }).next();
      } catch (e) {
        err = e;
      }
      expect(isDrError(err, 'USAGE')).toBe(true);
      expect((err as Error).message).toMatch(/in the future/);
    } finally {
      src.close();
    }
  });

  it('offlineHashKV equals the live HashKV before compaction', () => {
    expect(corpus.freshHashKV.length).toBe(4);
    for (const live of corpus.freshHashKV) {
      const ours = hashOf(corpus.fresh, live.rev);
      expect({ rev: live.rev, hash: ours.hash }).toEqual({ rev: live.rev, hash: live.hash });
    }
  });

  it('offlineHashKV equals the live HashKV after compaction, at and after the compact revision', async () => {
    // etcd 3.4 answers ErrCompacted for rev <= compact revision, so start just after it
    for (const rev of [corpus.compactedAt + 1, corpus.compactedAt + 10, corpus.revision]) {
      const live = await liveHashKV(corpus.endpoint, rev);
      for (const file of [corpus.compacted, corpus.defragmented]) {
        if (rev > Number(hashOf(corpus.defragmented, 0).revision)) continue;
        const ours = hashOf(file, rev);
        if (file === corpus.compacted && rev > Number(hashOf(corpus.compacted, 0).revision)) continue;
        expect({ rev, hash: ours.hash, compact: Number(ours.compactRevision) }).toEqual({
          rev,
          hash: live.hash,
          compact: live.compactRevision,
        });
      }
    }
  });

  it('dbInfo reports buckets, revisions, compaction, consistent index and members', () => {
    const src = openFileSource(corpus.defragmented);
    const info = dbInfo(src);
    src.close();
    expect(info.problems).toEqual([]);
    expect(info.buckets.map((b) => b.name)).toEqual(
      expect.arrayContaining(['key', 'meta', 'members', 'lease', 'cluster']),
    );
    const key = info.buckets.find((b) => b.name === 'key')!;
    expect(key.inline).toBe(false);
    expect(key.keys).toBe(info.key.revisions + info.key.malformedKeys);
    expect(key.fill).toBeGreaterThan(0.3);
    expect(info.key.maxRevision).toBe(BigInt(corpus.revision));
    expect(info.meta.finishedCompactRev).toBe(BigInt(corpus.compactedAt));
    expect(info.meta.scheduledCompactRev).toBe(BigInt(corpus.compactedAt));
    expect(info.meta.consistentIndex).toBeGreaterThan(0n);
    // the schema the db's meta bucket shows (3.5 writes meta/term, 3.4 does not) and the cluster version
    // follow the etcd that wrote it
    const v = etcdVersion();
    expect(info.meta.schema).toBe(etcdAtLeast(3, 5) ? '3.5' : '3.4');
    expect(info.members).toHaveLength(1);
    expect(info.members[0]!.name).toBe('m0');
    expect(info.members[0]!.id.toString(16)).toBe(info.members[0]!.idHex);
    expect(info.leases).toBe(1);
    expect(info.clusterVersion).toBe(`${v.major}.${v.minor}.0`);
    expect(info.freePages).toBe(info.pgid - info.reachablePages);
  });
});
