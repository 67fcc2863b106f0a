/**
 * The one verification edge a real restore does not produce on demand: members that agree with each
 * other but not with the backup's own HashKV (a restore from the wrong file, say). The agreeing case runs
 * against real etcd in restore-local.test.ts; here a probe answers from a table.
 */
import { describe, expect, it } from 'vitest';
import type { ClusterProbe } from '../../src/restore/probe.js';
import { verifyRestore } from '../../src/restore/verify.js';

const members = [
  { name: 'a', memberId: 'a1', clientURL: 'http://a' },
  { name: 'b', memberId: 'b2', clientURL: 'http://b' },
  { name: 'c', memberId: 'c3', clientURL: 'http://c' },
];

function probe(hashes: number[]): ClusterProbe {
  const idx = (ep: string) => members.findIndex((m) => m.clientURL === ep);
  return {
    health: async () => true,
    status: async () => ({ leaderId: 0xa1n, clusterId: 0xcafen, revision: 42n, memberId: 0n }) as never,
    memberList: async () => members.map((m) => ({ id: BigInt(`0x${m.memberId}`), name: m.name }) as never),
    hashKV: async (ep) => ({ hash: hashes[idx(ep)]!, compactRevision: 0n, revision: 42n }) as never,
    keyCount: async () => ({ count: 7, revision: 42n }),
    close: () => undefined,
  };
}

const exp = { members, clusterId: 'cafe', oldClusterId: 'beef', revision: 42n, liveKeys: 7, totalKeys: 9 };

describe('verifyRestore: HashKV against the backup computed offline', () => {
  it('passes when every member answers the backup’s own hash', async () => {
    const r = await verifyRestore(probe([5, 5, 5]), { ...exp, offlineHash: 5 });
    expect(r.checks.find((c) => c.name === 'hashkv')).toMatchObject({ ok: true });
    expect(r.ok).toBe(true);
  });

  it('fails when the members agree with each other but not with the backup', async () => {
    const r = await verifyRestore(probe([6, 6, 6]), { ...exp, offlineHash: 5 });
    const c = r.checks.find((x) => x.name === 'hashkv')!;
    expect(c.ok).toBe(false);
    expect(c.message).toMatch(/backup's own .* is 5/);
    expect(r.ok).toBe(false);
  });

  it('fails when the members disagree', async () => {
    const r = await verifyRestore(probe([5, 5, 6]), { ...exp, offlineHash: 5 });
    expect(r.checks.find((x) => x.name === 'hashkv')!.message).toMatch(/differs/);
  });
});
