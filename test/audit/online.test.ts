/**
 * The online audit's decisions with a fake client: HashKV comparison at one common revision, unreachable
 * members, alarms, the member list against the endpoints, quota. At the end, HashKV after a compaction at the
 * current revision and a restart, and a real divergence (a member's db edited while it was stopped), against
 * a real 3-member cluster. More real-cluster cases are in test/cli/audit.test.ts.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DrError } from '../../src/core/errors.js';
import { createEtcdClient, type EtcdClient } from '../../src/etcd/client.js';
import { startMember, stopMember, waitHealthy } from '../../src/etcd/member-process.js';
import type { EndpointStatus, HashKVResult, Member, MemberStatus } from '../../src/etcd/types.js';
import {
  auditCluster,
  compareBackupWithCluster,
  compareHashes,
  type OnlineClient,
} from '../../src/audit/online.js';
import { startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';

const ID = [0x1111n, 0x2222n, 0x3333n];
const hex = (id: bigint) => id.toString(16).padStart(16, '0');
const ep = (i: number) => `http://127.0.0.1:${23790 + i}`;

function status(i: number, over: Partial<MemberStatus> = {}): MemberStatus {
  return {
    endpoint: ep(i),
    memberId: ID[i]!,
    clusterId: 0xc1n,
    leaderId: ID[0]!,
    version: '3.4.23',
    dbSize: 1_000_000n,
    dbSizeInUse: 900_000n,
    raftIndex: 500n + BigInt(i),
    raftTerm: 2n,
    raftAppliedIndex: 500n,
    revision: 100n + BigInt(i),
    isLearner: false,
    errors: [],
    ...over,
  };
}

interface FakeOpts {
  statuses?: EndpointStatus[];
  members?: Member[];
  alarms?: { memberId: bigint; alarm: string }[];
  hashes?: number[];
  compacts?: bigint[];
  /** the answer of member i at revision rev, over hashes/compacts */
  at?: (i: number, rev: bigint) => Partial<HashKVResult>;
}

function fake(o: FakeOpts = {}) {
  const calls: { endpoint: string; rev: bigint }[] = [];
  const statuses = o.statuses ?? [0, 1, 2].map((i) => ({ endpoint: ep(i), status: status(i) }));
  const client: OnlineClient = {
    endpoints: statuses.map((s) => s.endpoint),
    statusAll: async () => statuses,
    memberList: async () =>
      o.members ??
      ID.map((id, i) => ({
        id,
        name: `m${i}`,
        peerURLs: [`http://127.0.0.1:${2380 + i}`],
        clientURLs: [ep(i)],
        isLearner: false,
      })),
    alarms: async () => o.alarms ?? [],
    hashKV: async (endpoint: string, rev = 0n): Promise<HashKVResult> => {
      calls.push({ endpoint, rev });
      const i = statuses.findIndex((s) => s.endpoint === endpoint);
      return {
        endpoint,
        memberId: ID[i]!,
        hash: o.hashes?.[i] ?? 424242,
        compactRevision: o.compacts?.[i] ?? 0n,
        revision: 110n,
        ...o.at?.(i, rev),
      };
    },
  };
  return { client, calls };
}

const codes = (r: { findings: { code: string }[] }) => r.findings.map((f) => f.code);

test('healthy: no findings; HashKV asked of every member at the lowest current revision', async () => {
  const { client, calls } = fake();
  const r = await auditCluster(client);
  expect(r.findings).toEqual([]);
  expect(r.ok).toBe(true);
  expect(calls.map((c) => c.rev)).toEqual([100n, 100n, 100n]);
  expect(calls.map((c) => c.endpoint).sort()).toEqual([ep(0), ep(1), ep(2)]);
  expect(r.facts.hashRevision).toBe(100n);
  expect(r.facts.leader).toBe(hex(ID[0]!));
});

describe('hash comparison', () => {
  test('one member differs: HASH_DIVERGENCE names it, its hash and the majority hash', async () => {
    const { client } = fake({ hashes: [7, 7, 9] });
    const r = await auditCluster(client);
    expect(codes(r)).toEqual(['HASH_DIVERGENCE']);
    const f = r.findings[0]!;
    expect(f.severity).toBe('error');
    expect(f.file).toBe(ep(2));
    expect(f.location).toEqual({ member: hex(ID[2]!), index: '100' });
    expect(f.message).toContain('to 9, the majority to 7');
    expect(f.message).toContain(`${hex(ID[0]!)} (${ep(0)}) 7`);
    expect(f.runbook).toBe('runbooks/hash-divergence.md#divergence');
    expect(r.ok).toBe(false);
  });

  test('no majority (two members, two hashes): both are named', () => {
    const res = [0, 1].map((i) => ({
      endpoint: ep(i),
      memberId: ID[i]!,
      hash: i + 1,
      compactRevision: 0n,
      revision: 5n,
    }));
    const f = compareHashes(res, 5n);
    expect(f.map((x) => [x.code, x.location?.member])).toEqual([
      ['HASH_DIVERGENCE', hex(ID[0]!)],
      ['HASH_DIVERGENCE', hex(ID[1]!)],
    ]);
  });

  test('different compact revisions: compared only within each group, with a warning', async () => {
    const { client } = fake({ hashes: [7, 7, 9], compacts: [50n, 50n, 40n] });
    const r = await auditCluster(client);
    expect(codes(r)).toEqual(['HASH_COMPACT_DIFFERS']);
    expect(r.ok).toBe(true);
  });

  test('compaction at the hashed revision, one member restarted (etcd 3.5 answers from its cached hash): asked again at the current revision, no warning', async () => {
    // every member at revision 100, compacted at 100; members 0 and 2 answer HashKV(100) from the hash cached
    // at compaction time (compact revision -1, the previous one), member 1 restarted and computes it afresh
    const statuses = [0, 1, 2].map((i) => ({ endpoint: ep(i), status: status(i, { revision: 100n }) }));
    const { client, calls } = fake({
      statuses,
      at: (i, rev) =>
        rev === 100n
          ? { hash: i === 1 ? 5 : 6, compactRevision: i === 1 ? 100n : -1n, revision: 100n }
          : { hash: 5, compactRevision: 100n, revision: 100n },
    });
    const r = await auditCluster(client);
    expect(r.findings).toEqual([]);
    expect(calls.map((c) => c.rev)).toEqual([100n, 100n, 100n, 0n, 0n, 0n]);
    expect(r.facts.hashRevision).toBe(100n);
  });

  test('etcd 3.4 refuses HashKV at exactly the compact revision: asked again at the current revision', async () => {
    const statuses = [0, 1, 2].map((i) => ({ endpoint: ep(i), status: status(i, { revision: 100n }) }));
    const { client, calls } = fake({ statuses });
    const answer = client.hashKV;
    client.hashKV = async (endpoint, rev = 0n) => {
      if (rev === 100n) {
        calls.push({ endpoint, rev });
        throw new DrError('ETCD_REQUEST_FAILED', 'etcdserver: mvcc: required revision has been compacted');
      }
      return answer(endpoint, rev);
    };
    const r = await auditCluster(client);
    expect(r.findings).toEqual([]);
    expect(calls.map((c) => c.rev)).toEqual([100n, 100n, 100n, 0n, 0n, 0n]);
  });

  test('the same, with a member that really diverges: found at the current revision', async () => {
    const statuses = [0, 1, 2].map((i) => ({ endpoint: ep(i), status: status(i, { revision: 100n }) }));
    const { client } = fake({
      statuses,
      at: (i, rev) =>
        rev === 100n
          ? { hash: i === 1 ? 5 : 6, compactRevision: i === 1 ? 100n : -1n, revision: 100n }
          : { hash: i === 2 ? 9 : 5, compactRevision: 100n, revision: 100n },
    });
    const r = await auditCluster(client);
    expect(codes(r)).toEqual(['HASH_DIVERGENCE']);
    expect(r.findings[0]!.location?.member).toBe(hex(ID[2]!));
  });

  test('after the compaction, writes moved the members apart: asked at the lowest current revision', async () => {
    const statuses = [0, 1, 2].map((i) => ({ endpoint: ep(i), status: status(i, { revision: 100n }) }));
    const { client, calls } = fake({
      statuses,
      at: (i, rev) =>
        rev === 100n
          ? { hash: i === 1 ? 5 : 6, compactRevision: i === 1 ? 100n : -1n, revision: 100n }
          : rev === 0n
            ? { hash: 1000 + i, compactRevision: 100n, revision: 103n + BigInt(i) }
            : { hash: 77, compactRevision: 100n, revision: 105n },
    });
    const r = await auditCluster(client);
    expect(r.findings).toEqual([]);
    expect(calls.map((c) => c.rev)).toEqual([100n, 100n, 100n, 0n, 0n, 0n, 103n, 103n, 103n]);
    expect(r.facts.hashRevision).toBe(103n);
  });

  test('HashKV refused (e.g. not root under auth): HASHKV_FAILED warning, not an error', async () => {
    const { client } = fake();
    client.hashKV = async () => {
      throw new DrError('ETCD_PERMISSION_DENIED', 'permission denied');
    };
    const r = await auditCluster(client);
    expect(codes(r)).toEqual(['HASHKV_FAILED', 'HASHKV_FAILED', 'HASHKV_FAILED']);
    expect(r.ok).toBe(true);
  });
});

test('an endpoint that does not answer: MEMBER_UNREACHABLE naming its member; others still hashed', async () => {
  const statuses: EndpointStatus[] = [
    { endpoint: ep(0), status: status(0) },
    { endpoint: ep(1), status: status(1) },
    { endpoint: ep(2), error: new DrError('ETCD_UNREACHABLE', `${ep(2)}: connection refused`) },
  ];
  const { client, calls } = fake({ statuses });
  const r = await auditCluster(client);
  expect(codes(r)).toEqual(['MEMBER_UNREACHABLE']);
  expect(r.findings[0]).toMatchObject({ severity: 'error', file: ep(2), location: { member: hex(ID[2]!) } });
  expect(calls).toHaveLength(2);
});

test('nothing answers: CLUSTER_UNREACHABLE', async () => {
  const statuses: EndpointStatus[] = [{ endpoint: ep(0), error: new DrError('ETCD_UNREACHABLE', 'refused') }];
  const r = await auditCluster(fake({ statuses }).client);
  expect(codes(r)).toEqual(['CLUSTER_UNREACHABLE']);
});

test('NOSPACE and CORRUPT alarms are errors pointing at runbooks/alarms.md', async () => {
  const { client } = fake({
    alarms: [
      { memberId: ID[1]!, alarm: 'NOSPACE' },
      { memberId: ID[2]!, alarm: 'CORRUPT' },
    ],
  });
  const r = await auditCluster(client);
  expect(r.findings.map((f) => [f.code, f.severity, f.location?.member, f.runbook])).toEqual([
    ['ALARM_NOSPACE', 'error', hex(ID[1]!), 'runbooks/alarms.md#nospace'],
    ['ALARM_CORRUPT', 'error', hex(ID[2]!), 'runbooks/alarms.md#corrupt'],
  ]);
});

test('db size against the quota: near (warning) and over (error)', async () => {
  const statuses = [
    { endpoint: ep(0), status: status(0, { dbSize: 850n, dbSizeInUse: 800n }) },
    { endpoint: ep(1), status: status(1, { dbSize: 1000n, dbSizeInUse: 1000n }) },
    { endpoint: ep(2), status: status(2, { dbSize: 100n, dbSizeInUse: 100n }) },
  ];
  const r = await auditCluster(fake({ statuses }).client, { quotaBytes: 1000n });
  expect(r.findings.map((f) => [f.code, f.file])).toEqual([
    ['DB_SIZE_NEAR_QUOTA', ep(0)],
    ['DB_SIZE_OVER_QUOTA', ep(1)],
  ]);
});

test('member list vs endpoints: an endpoint of a non-member, a member not given', async () => {
  const statuses = [
    { endpoint: ep(0), status: status(0) },
    { endpoint: ep(1), status: status(1, { memberId: 0x9999n }) },
  ];
  const r = await auditCluster(fake({ statuses }).client);
  const byCode = Object.fromEntries(r.findings.map((f) => [f.code, f]));
  expect(Object.keys(byCode).sort()).toEqual(['ENDPOINT_NOT_MEMBER', 'MEMBER_NOT_AUDITED']);
  expect(byCode.ENDPOINT_NOT_MEMBER!.file).toBe(ep(1));
  expect(byCode.MEMBER_NOT_AUDITED!.severity).toBe('warning');
});

test('leaders disagree and a member without a leader', async () => {
  const statuses = [
    { endpoint: ep(0), status: status(0) },
    { endpoint: ep(1), status: status(1, { leaderId: ID[1]! }) },
    { endpoint: ep(2), status: status(2, { leaderId: 0n }) },
  ];
  const r = await auditCluster(fake({ statuses }).client);
  expect(codes(r).sort()).toEqual(['LEADER_DISAGREEMENT', 'MEMBER_NO_LEADER']);
});

describe('compareBackupWithCluster (fake members)', () => {
  // the backup: revision 100, compacted at 40; hashed as compacted at C it gives 1000 + C
  const hashOfBackup = (c?: bigint) => ({ hash: 1000 + Number(c ?? 40n), compactRevision: c ?? 40n });
  const client = (answers: (Partial<HashKVResult> | Error)[], revisions = [120n, 120n, 120n]) => ({
    statusAll: async (): Promise<EndpointStatus[]> =>
      [0, 1, 2].map((i) => ({ endpoint: ep(i), status: status(i, { revision: revisions[i]! }) })),
    hashKV: async (endpoint: string): Promise<HashKVResult> => {
      const i = [0, 1, 2].findIndex((x) => ep(x) === endpoint);
      const a = answers[i]!;
      if (a instanceof Error) throw a;
      return { endpoint, memberId: ID[i]!, hash: 0, compactRevision: 40n, revision: 120n, ...a };
    },
  });

  test('equal, equal once hashed as compacted where the member is, and differs', async () => {
    const r = await compareBackupWithCluster(
      client([{ hash: 1040 }, { hash: 1070, compactRevision: 70n }, { hash: 5 }]),
      100n,
      hashOfBackup,
    );
    expect(r.facts.members.map((m) => m.result)).toEqual(['equal', 'equal', 'differs']);
    expect(r.facts.members[1]!.backupHash).toBe(1070);
    expect(r.findings.map((f) => [f.code, f.file])).toEqual([['BACKUP_CLUSTER_HASH_MISMATCH', ep(2)]]);
  });

  test('not compared: compacted past the revision, below the revision, an older compact revision than the backup', async () => {
    const r = await compareBackupWithCluster(
      client(
        [
          new DrError('ETCD_REQUEST_FAILED', 'etcdserver: mvcc: required revision has been compacted'),
          { hash: 1 },
          { hash: 1, compactRevision: -1n }, // 3.5's cached answer from before any compaction
        ],
        [120n, 90n, 120n],
      ),
      100n,
      hashOfBackup,
    );
    expect(r.facts.members.map((m) => m.result)).toEqual(['not-compared', 'not-compared', 'not-compared']);
    expect(r.findings.map((f) => f.code)).toEqual(Array(3).fill('BACKUP_CLUSTER_NOT_COMPARED'));
    expect(r.findings.map((f) => f.severity)).toEqual(['warning', 'warning', 'warning']);
    expect(r.findings[0]!.message).toMatch(/compacted at or past revision 100/);
    expect(r.findings[1]!.message).toMatch(/current revision 90 is below/);
    expect(r.findings[2]!.message).toMatch(/below the backup's own 40/);
  });
});

// ---------------------------------------------------------------------------------------------------------
/** "3.5.16" from the etcd on PATH (ETCD_BIN_DIR) */
const etcdVersion = (): string =>
  /etcd Version: (\S+)/.exec(execFileSync('etcd', ['--version'], { encoding: 'utf8' }))![1]!;

describe('against a real 3-member cluster', () => {
  let c: TestCluster;
  let client: EtcdClient;
  const ORIGINAL = 'divergence-probe-value-ORIGINAL';
  const EDITED = 'divergence-probe-value-EDITED!!';
  beforeAll(async () => {
    c = await startTestCluster({ size: 3 });
    client = createEtcdClient({ endpoints: c.endpoints });
  });
  afterAll(async () => {
    client?.close();
    await c?.stop();
  });

  /** stops member i, runs `edit` on its stopped data dir, starts it again and waits until it is healthy */
  async function restart(i: number, edit?: (dataDir: string) => void): Promise<void> {
    await stopMember(c.members[i]!, 5000);
    edit?.(c.members[i]!.spec.dataDir);
    c.members[i] = startMember(c.members[i]!.spec);
    await waitHealthy(c.endpoints[i]!, { timeoutMs: 60_000 });
  }

  test('compaction at the current revision, one member restarted: no warning, the hashes compared', async () => {
    for (let i = 0; i < 30; i++) await client.put(`/k/${i % 7}`, `v${i}`);
    await client.delete('/k/3');
    await client.put('/probe', ORIGINAL);
    const rev = (await client.status(c.endpoints[0]!)).revision;
    await client.compact(rev, { physical: true });
    await restart(1);

    // the raw answers at the compaction revision: etcd 3.5 answers from the hash cached at compaction time
    // (the previous compact revision) except on the restarted member; etcd 3.4 refuses HashKV at exactly the
    // compact revision
    if (etcdVersion().startsWith('3.4.')) {
      await expect(client.hashKV(c.endpoints[0]!, rev)).rejects.toThrow(
        /required revision has been compacted/,
      );
    } else {
      const raw = await Promise.all(c.endpoints.map((e) => client.hashKV(e, rev)));
      expect(raw[1]!.compactRevision).toBe(rev);
      expect(raw[0]!.compactRevision).toBeLessThan(rev);
      expect(raw[0]!.hash).not.toBe(raw[1]!.hash);
    }

    const r = await auditCluster(client);
    expect(r.findings).toEqual([]);
    expect(r.facts.hashRevision).toBe(rev);
    const facts = r.facts.members as { hash?: number; compactRevision?: bigint }[];
    expect(new Set(facts.map((f) => f.hash)).size).toBe(1);
    expect(facts.map((f) => f.compactRevision)).toEqual([rev, rev, rev]);
  });

  test('a member whose db was edited while it was stopped: HASH_DIVERGENCE names it', async () => {
    await restart(2, (dataDir) => {
      const db = path.join(dataDir, 'member', 'snap', 'db');
      const bytes = readFileSync(db);
      let at = bytes.indexOf(ORIGINAL);
      expect(at).toBeGreaterThan(0);
      for (; at >= 0; at = bytes.indexOf(ORIGINAL, at + 1)) bytes.write(EDITED, at, 'latin1');
      writeFileSync(db, bytes);
    });
    const m2 = (await client.status(c.endpoints[2]!)).memberId;
    const r = await auditCluster(client);
    expect(codes(r)).toEqual(['HASH_DIVERGENCE']);
    expect(r.findings[0]!.location?.member).toBe(hex(m2));
    expect(r.findings[0]!.file).toBe(c.endpoints[2]);
    expect(r.ok).toBe(false);
  });
});
