/**
 * The online audit's decisions with a fake client (a real cluster cannot be made to diverge on demand):
 * HashKV comparison at one common revision, unreachable members, alarms, the member list against the
 * endpoints, quota. The real-cluster cases are in test/cli/audit.test.ts.
 */
import { describe, expect, test } from 'vitest';
import { DrError } from '../../src/core/errors.js';
import type { EndpointStatus, HashKVResult, Member, MemberStatus } from '../../src/etcd/types.js';
import { auditCluster, compareHashes, type OnlineClient } from '../../src/audit/online.js';

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
