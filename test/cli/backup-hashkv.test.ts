/**
 * The offline HashKV of a snapshot or backup against real members (etcd 3.4 and 3.5, whichever is on PATH):
 * `dr inspect db` shows the HashKV `etcdctl endpoint hashkv --rev` answers from a member holding the same
 * data, and `dr audit --backup ID --endpoints ...` proves a backup equals what the cluster held at its
 * revision, says so when it does not, and says it cannot compare once the cluster has compacted past it.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEtcdClient } from '../../src/etcd/client.js';
import { openFileSource } from '../../src/formats/file-byte-source.js';
import { offlineHashKV } from '../../src/formats/mvcc/store.js';
import { runDr } from '../helpers/dr.js';
import { startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';
import { tempDir } from '../helpers/tmp.js';

interface HashKvJson {
  Endpoint: string;
  HashKV: { hash: number; compact_revision: number; header: { revision: number } };
}

describe('offline HashKV against real members', () => {
  let a: TestCluster;
  let b: TestCluster;
  let dir: string;
  let cleanup: () => Promise<void>;
  let env: Record<string, string>;
  let snap: string;
  let compact0: number;
  let backupId: string;
  let backupRev: number;

  /** `etcdctl endpoint hashkv --rev` of the first member of cluster c */
  const etcdHashKV = async (c: TestCluster, rev: number): Promise<HashKvJson['HashKV']> =>
    (
      JSON.parse(await c.etcdctl(['endpoint', 'hashkv', '--rev', String(rev), '-w', 'json'])) as HashKvJson[]
    )[0]!.HashKV;
  const revisionOf = async (c: TestCluster): Promise<number> =>
    (
      JSON.parse(await c.etcdctl(['endpoint', 'status', '-w', 'json'])) as {
        Status: { header: { revision: number } };
      }[]
    )[0]!.Status.header.revision;

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('dr-backup-hashkv-'));
    [a, b] = await Promise.all([startTestCluster({ size: 1 }), startTestCluster({ size: 1 })]);
    env = { DR_STORAGE: `file://${path.join(dir, 'store')}`, DR_CATALOG: path.join(dir, 'catalog.sqlite') };
    // history with overwrites, deletes (tombstones) and a compaction, so Keep() matters
    for (let i = 0; i < 40; i++) await a.etcdctl(['put', `/registry/cm/c-${i % 9}`, `{"v":${i}}`]);
    await a.etcdctl(['del', '/registry/cm/c-2']);
    await a.etcdctl(['del', '/registry/cm/c-5']);
    compact0 = await revisionOf(a);
    await a.etcdctl(['put', '/registry/cm/c-2', 'back']);
    await a.etcdctl(['compact', String(compact0 - 10)]);
    for (let i = 0; i < 10; i++) await a.etcdctl(['put', `/registry/cm/c-${i % 4}`, `{"w":${i}}`]);
    await a.etcdctl(['del', '/registry/cm/c-3']);
    snap = path.join(dir, 'a.db');
    await a.etcdctl(['snapshot', 'save', snap]);
  }, 120_000);
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await cleanup?.();
  });

  it('inspect db: HashKV at the current and at older revisions equals etcdctl endpoint hashkv --rev', async () => {
    const current = await revisionOf(a);
    const r = await runDr(['inspect', 'db', snap, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.json.hashKV.revision).toBe(String(current));
    expect(r.json.hashKV.compactRevision).toBe(String(compact0 - 10));
    expect(r.json.hashKV.hash).toBe((await etcdHashKV(a, current)).hash);
    // the schema each release writes (3.4: no term; 3.5: term and confState), neither with storageVersion
    const version = /etcd Version: (\S+)/.exec(
      execFileSync('etcd', ['--version'], { encoding: 'utf8' }),
    )![1]!;
    expect(r.json.meta.schema).toBe(version.startsWith('3.4.') ? '3.4' : '3.5');
    expect(r.json.meta.storageVersion).toBeNull();
    expect(r.json.membershipFrom).toBe('v2-store');
    for (const rev of [compact0 - 9, compact0 - 1, compact0 + 1, current - 1]) {
      const o = await runDr(['inspect', 'db', snap, '--rev', String(rev), '--json']);
      expect(o.code).toBe(0);
      expect(o.json.hashKV.hash).toBe((await etcdHashKV(a, rev)).hash);
    }
    const text = await runDr(['inspect', 'db', snap]);
    expect(text.stdout).toMatch(
      new RegExp(
        `hashkv +hash ${r.json.hashKV.hash} at revision ${current} \\(compact revision ${compact0 - 10}\\)`,
      ),
    );
  });

  it('inspect db --rev: a compacted or future revision is a usage error (exit 2)', async () => {
    for (const rev of [String(compact0 - 20), '999999', 'x']) {
      const r = await runDr(['inspect', 'db', snap, '--rev', rev, '--json']);
      expect(r.code).toBe(2);
      expect(r.json.error.code).toBe('USAGE');
    }
  });

  it('audit --backup --endpoints, fresh backup: every member equal, exit 0', async () => {
    const bk = await runDr(
      ['backup', '--endpoints', a.endpoints.join(','), '--cluster-name', 'a', '--json'],
      env,
    );
    expect(bk.code).toBe(0);
    backupId = bk.json.id;
    backupRev = Number(bk.json.snapshot.revision);
    const r = await runDr(
      ['audit', '--backup', backupId, '--endpoints', a.endpoints.join(','), '--json'],
      env,
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.json.findings.filter((f: { severity: string }) => f.severity !== 'info')).toEqual([]);
    const cl = r.json.facts.cluster;
    expect(cl.revision).toBe(String(backupRev));
    expect(cl.members).toHaveLength(1);
    expect(cl.members[0]).toMatchObject({ endpoint: a.endpoints[0], result: 'equal' });
    expect(cl.members[0].hash).toBe((await etcdHashKV(a, backupRev)).hash);
    expect(cl.backupHash).toBe(cl.members[0].hash);
    const text = await runDr(['audit', '--backup', backupId, '--endpoints', a.endpoints.join(',')], env);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/HashKV at revision \d+: backup \d+/);
    expect(text.stdout).toMatch(/ equal/);
  });

  it('the cluster compacted since the backup (below its revision): still compared, equal', async () => {
    for (let i = 0; i < 5; i++) await a.etcdctl(['put', `/registry/cm/c-${i}`, `{"x":${i}}`]);
    await a.etcdctl(['compact', String(backupRev - 2)]);
    // the offline hash as compacted there is what the member answers
    const src = openFileSource(snap);
    try {
      const live = await etcdHashKV(a, backupRev - 1);
      expect(live.compact_revision).toBe(backupRev - 2);
      expect(offlineHashKV(src, BigInt(backupRev - 1), { compactRevision: BigInt(backupRev - 2) }).hash).toBe(
        live.hash,
      );
      // and without the member's compact revision it would differ: the comparison needs it
      expect(offlineHashKV(src, BigInt(backupRev - 1)).hash).not.toBe(live.hash);
    } finally {
      src.close();
    }
    const r = await runDr(
      ['audit', '--backup', backupId, '--endpoints', a.endpoints.join(','), '--json'],
      env,
    );
    expect(r.code).toBe(0);
    expect(r.json.facts.cluster.members[0]).toMatchObject({
      result: 'equal',
      compactRevision: String(backupRev - 2),
    });
  });

  it('another cluster: below the revision not compared; past it, BACKUP_CLUSTER_HASH_MISMATCH (exit 1)', async () => {
    const early = await runDr(
      ['audit', '--backup', backupId, '--endpoints', b.endpoints.join(','), '--json'],
      env,
    );
    expect(early.code).toBe(0);
    expect(early.json.findings.map((f: { code: string }) => f.code)).toEqual(['BACKUP_CLUSTER_NOT_COMPARED']);
    expect(early.json.findings[0].message).toMatch(/below the backup's/);
    const client = createEtcdClient({ endpoints: b.endpoints });
    try {
      while ((await client.put('/other', 'data')) <= BigInt(backupRev));
    } finally {
      client.close();
    }
    // compacted where the backup is, so its answer is comparable
    await b.etcdctl(['compact', String(compact0 - 10)]);
    const r = await runDr(
      ['audit', '--backup', backupId, '--endpoints', b.endpoints.join(','), '--json'],
      env,
    );
    expect(r.code).toBe(1);
    const f = r.json.findings.find((x: { code: string }) => x.code === 'BACKUP_CLUSTER_HASH_MISMATCH');
    expect(f).toMatchObject({
      severity: 'error',
      file: b.endpoints[0],
      runbook: 'runbooks/corrupt-db.md#backup-vs-cluster',
    });
    expect(r.json.facts.cluster.members[0].result).toBe('differs');
  });

  it('the cluster compacted past the backup revision: "cannot compare", a warning (exit 0)', async () => {
    await a.etcdctl(['put', '/registry/cm/last', 'v']);
    await a.etcdctl(['compact', String(await revisionOf(a))]);
    const r = await runDr(
      ['audit', '--backup', backupId, '--endpoints', a.endpoints.join(','), '--json'],
      env,
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.json.findings.map((f: { code: string; severity: string }) => [f.code, f.severity])).toEqual([
      ['BACKUP_CLUSTER_NOT_COMPARED', 'warning'],
    ]);
    expect(r.json.findings[0].message).toMatch(/compacted at or past revision/);
    expect(r.json.facts.cluster.members[0].result).toBe('not-compared');
  });
});
