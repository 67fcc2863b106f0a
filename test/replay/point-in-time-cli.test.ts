/**
 * Point-in-time restore end to end, on the etcd under test, with an encrypted log and encrypted backups:
 * a 3-member cluster with mTLS on its client URLs (--client-cert-auth); a full backup; the revision log
 * following a workload (multi-key transactions, overwrites, deletes, a prefix delete, keys on a long
 * lease, keys on a short lease that expires); a second full backup after it. Then, through the built CLI:
 *
 * - `dr restore --to new-cluster --revision R` (R between the two backups) rebuilds a cluster equal to
 *   the original at R: every key, value, create/mod revision, version and lease (with its granted TTL),
 *   and HashKV at R;
 * - a revision that is a checkpoint is hash-proved there (`dr fetch --revision --json` reports it);
 * - `dr fetch --time T` picks the last revision received at or before T;
 * - `dr drill --revision R` verifies the point-in-time backup in a throwaway cluster;
 * - without the identity the encrypted log is refused (ENCRYPTION_KEY_MISSING); past the log's head is
 *   REVLOG_NOT_FOUND; before the first backup BACKUP_NOT_FOUND; a segment's manifest removed from the
 *   middle is REVLOG_DISCONTINUOUS; nothing is restored in any of them.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseMembersYaml, type MembersFile } from '../../src/config/members-file.js';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import { parseRecipient } from '../../src/crypto/age-keys.js';
import { createEtcdClient, type EtcdClient } from '../../src/etcd/client.js';
import type { KeyValue } from '../../src/etcd/types.js';
import { localControl } from '../../src/restore/control/local.js';
import { followRevisionLog } from '../../src/revlog/follow-log.js';
import { listLog } from '../../src/revlog/log-reader.js';
import { countingObserver } from '../../src/revlog/revlog-metrics.js';
import { openBackend } from '../../src/storage/open-backend.js';
import { makeTestCerts, mtlsClient, mtlsServer, type TestCerts } from '../helpers/certs.js';
import { runDr } from '../helpers/dr.js';
import { startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';
import { freePorts } from '../helpers/ports.js';
import { tempDir } from '../helpers/tmp.js';
import { etcdAtLeast } from '../helpers/etcd-version.js';
import { until } from '../helpers/until.js';

const CLUSTER = 'prod';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every key at `revision` (0n: now) with what etcd keeps of it, in key order. */
async function keysAt(client: EtcdClient, revision = 0n): Promise<string[]> {
  const all = await client.get(Buffer.from([0]), { fromKey: true, revision });
  return all.map(
    (kv: KeyValue) =>
      `${kv.key.toString()}=${kv.value.toString()} c${kv.createRevision} m${kv.modRevision} v${kv.version} l${kv.lease.toString(16)}`,
  );
}

describe('point-in-time restore (revision log + full backups, encrypted, 3 members with mTLS)', () => {
  let certs: TestCerts;
  let c: TestCluster;
  let etcd: EtcdClient;
  let dir: string;
  let cleanup: () => Promise<void>;
  let env: Record<string, string>;
  let identity: string;
  let tls: string[];
  /** a revision between the two backups, one that is a checkpoint, and one the time test aims at */
  let mid: bigint;
  let checkpointRev: bigint;
  let beforeT: bigint;
  let T: string;
  let head: bigint;
  let firstBackupRev: bigint;
  let longLease: bigint;
  let originalClusterId: string;
  let target: MembersFile;
  let membersFile: string;

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('dr-pitr-'));
    certs = await makeTestCerts();
    c = await startTestCluster({ size: 3, tls: mtlsServer(certs), clientTls: mtlsClient(certs) });
    etcd = createEtcdClient({ endpoints: c.endpoints, ...mtlsClient(certs) });
    identity = path.join(dir, 'age.key');
    execFileSync('age-keygen', ['-o', identity], { stdio: 'ignore' });
    const recipient = execFileSync('age-keygen', ['-y', identity]).toString().trim();
    const store = path.join(dir, 'store');
    await mkdir(store);
    env = {
      DR_STORAGE: `file://${store}`,
      DR_CATALOG: path.join(dir, 'state', 'catalog.sqlite'),
    };
    tls = ['--cacert', certs.caFile, '--cert', certs.clientCertFile, '--key', certs.clientKeyFile];
    const backup = async () => {
      const r = await runDr(
        [
          'backup',
          '--endpoints',
          c.endpoints.join(','),
          ...tls,
          '--cluster-name',
          CLUSTER,
          '--encrypt-to',
          recipient,
          '--json',
        ],
        env,
      );
      expect(r.code, r.stderr).toBe(0);
      originalClusterId = r.json.source.clusterId;
      return BigInt(r.json.snapshot.revision);
    };

    for (let i = 0; i < 20; i++) await etcd.put(`/registry/pods/p${i}`, `v${i}`);
    longLease = await etcd.leaseGrant(600);
    await etcd.put('/registry/leases/holder', 'a', { lease: longLease });
    firstBackupRev = await backup();

    const backend = await openBackend(env.DR_STORAGE!);
    const stop = new AbortController();
    const observer = countingObserver();
    const following = followRevisionLog(
      { etcd, backend, logger: silentLogger, clock: systemClock, observer },
      {
        clusterName: CLUSTER,
        segmentSeconds: 1,
        checkpointEverySeconds: 1,
        recipients: [parseRecipient(recipient, 'test')],
        signal: stop.signal,
      },
    );
    following.catch(() => undefined);
    try {
      const ep = c.endpoints[0]!;
      // a transaction of three keys (one revision), overwrites, deletes
      await etcd.txn(ep, [
        { type: 'put', key: Buffer.from('/registry/cm/a'), value: Buffer.from('1'), lease: 0n },
        { type: 'put', key: Buffer.from('/registry/cm/b'), value: Buffer.from('2'), lease: 0n },
        { type: 'delete', key: Buffer.from('/registry/pods/p0') },
      ]);
      for (let i = 1; i < 6; i++) await etcd.put(`/registry/pods/p${i}`, `v${i}-2`);
      await etcd.put('/registry/leases/holder', 'b', { lease: longLease });
      const newLease = await etcd.leaseGrant(300);
      await etcd.put('/registry/leases/new', 'n', { lease: newLease });
      // keys on a short lease that expires: etcd deletes them in a revision of its own
      const short = await etcd.leaseGrant(3);
      await etcd.put('/registry/events/e1', 'x', { lease: short });
      await etcd.put('/registry/events/e2', 'y', { lease: short });
      await until(
        'the short lease expired',
        async () => (await etcd.get('/registry/events/', { prefix: true })).length === 0,
        30_000,
      );
      mid = await etcd.put('/registry/cm/a', '1-2');
      await until(
        'a checkpoint past mid',
        () => observer.counters.checkpoints > 0 && observer.counters.committedRevision >= mid,
        30_000,
      );
      beforeT = await etcd.put('/registry/cm/t', 'before');
      await sleep(1500);
      T = new Date().toISOString();
      await sleep(1500);
      await etcd.put('/registry/cm/t', 'after');
      await etcd.delete('/registry/pods/', { prefix: true });
      head = await etcd.put('/registry/cm/last', 'z');
      await until('everything committed', () => observer.counters.committedRevision >= head, 30_000);
      await until(
        'a checkpoint at or past head',
        async () => {
          const log = await listLog(backend, CLUSTER);
          return log.segments.some((s) => s.manifest.checkpoints.some((k) => BigInt(k.revision) >= mid));
        },
        30_000,
      );
    } finally {
      stop.abort();
    }
    await following;
    const log = await listLog(backend, CLUSTER);
    const cps = log.segments.flatMap((s) => s.manifest.checkpoints.map((k) => BigInt(k.revision)));
    checkpointRev = cps.find((r) => r > firstBackupRev)!;
    expect(checkpointRev).toBeDefined();
    await backend.close();
    await backup(); // the second full backup: mid lies between the two

    const ports = await freePorts(2);
    const yaml = [
      'members:',
      '  - name: r1',
      `    peerURLs: [http://127.0.0.1:${ports[1]}]`,
      `    clientURLs: [http://127.0.0.1:${ports[0]}]`,
      `    dataDir: ${path.join(dir, 'r1')}`,
      '    control: { type: local }',
      '',
    ].join('\n');
    membersFile = path.join(dir, 'members.yaml');
    await writeFile(membersFile, yaml);
    target = parseMembersYaml(yaml);
  }, 240_000);

  afterAll(async () => {
    for (const m of target?.members ?? [])
      await localControl({ member: m, initialCluster: '', token: '', stopGraceMs: 3000 })
        .stop()
        .catch(() => {});
    etcd?.close();
    await c?.stop();
    await certs?.cleanup();
    await cleanup?.();
  });

  it('dr restore --revision R rebuilds the cluster exactly as it was at R: keys, revisions, versions, leases, HashKV', async () => {
    const r = await runDr(
      [
        'restore',
        '--to',
        'new-cluster',
        '--revision',
        mid.toString(),
        '--cluster-name',
        CLUSTER,
        '--members',
        membersFile,
        '--identity',
        identity,
        '--yes',
        '--json',
      ],
      env,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.ok).toBe(true);
    expect(r.json.verification.revision).toBe(mid.toString());
    const restoredEp = target.members[0]!.clientURLs[0]!;
    const restored = createEtcdClient({ endpoints: [restoredEp] });
    try {
      const want = await keysAt(etcd, mid);
      expect(want.some((k) => k.startsWith('/registry/cm/a=1-2 '))).toBe(true);
      expect(want.some((k) => k.startsWith('/registry/events/'))).toBe(false);
      expect(await keysAt(restored)).toEqual(want);
      expect((await restored.hashKV(restoredEp, mid)).hash).toBe(
        (await etcd.hashKV(c.endpoints[0]!, mid)).hash,
      );
      // the leases keys hang on are there, with the TTL they were granted
      const leases = await restored.leaseLeases(restoredEp);
      expect(leases).toContain(longLease);
      expect((await restored.leaseTimeToLive(longLease)).grantedTtl).toBe(600n);
    } finally {
      restored.close();
      for (const m of target.members)
        await localControl({ member: m, initialCluster: '', token: '', stopGraceMs: 3000 }).stop();
    }
    // the scratch of the replay is gone
    const replays = path.join(dir, 'state', 'replays');
    expect(existsSync(replays) ? (await import('node:fs')).readdirSync(replays) : []).toEqual([]);
  }, 180_000);

  it('dr fetch --revision at a checkpoint is hash-proved there; --time picks the last revision at or before it', async () => {
    // the backup's etcd is not on PATH here: the throwaway member's comes from --etcd-bin-dir, then from
    // DR_ETCD_BIN_DIR (on the 3.4 project the system's etcd, left on PATH, is the backup's version)
    const binDir = process.env.PATH!.split(path.delimiter)[0]!;
    const noEtcd = {
      ...env,
      PATH: process.env.PATH!.split(path.delimiter).slice(1).join(path.delimiter),
    };
    const out = path.join(dir, 'at-checkpoint.db');
    const fetchArgs = [
      'fetch',
      '--revision',
      checkpointRev.toString(),
      '--cluster-name',
      CLUSTER,
      '--identity',
      identity,
      '--out',
      out,
      '--json',
    ];
    if (binDir !== '/usr/bin') {
      const missing = await runDr(fetchArgs, noEtcd);
      expect(missing.code).toBe(2);
      expect(missing.json.error.code).toBe('CONFIG_INVALID');
      expect(missing.json.error.message).toContain('--etcd-bin-dir');
    }
    const r = await runDr([...fetchArgs, '--etcd-bin-dir', binDir], noEtcd);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.revision).toBe(checkpointRev.toString());
    expect(r.json.pointInTime.replayed.provedThrough).toBe(checkpointRev.toString());
    expect(r.json.pointInTime.unprovedFrom).toBeNull();
    expect(r.json.pointInTime.replayed.checkpoints.every((k: { ok: boolean }) => k.ok)).toBe(true);
    // the file is a plain snapshot etcd's own tool reads, at that revision
    expect((await readFile(out)).length).toBe(r.json.size);

    const t = await runDr(
      [
        'fetch',
        '--time',
        T,
        '--cluster-name',
        CLUSTER,
        '--identity',
        identity,
        '--out',
        path.join(dir, 'at-time.db'),
        '--json',
      ],
      { ...noEtcd, DR_ETCD_BIN_DIR: binDir },
    );
    expect(t.code, t.stderr).toBe(0);
    expect(t.json.revision).toBe(beforeT.toString());
    expect(t.json.pointInTime.target.asked).toEqual({ time: T });
  }, 120_000);

  it('dr restore --time T --dry-run plans the restore of the last revision received at or before T', async () => {
    const ports = await freePorts(2);
    const yaml = [
      'members:',
      '  - name: t1',
      `    peerURLs: [http://127.0.0.1:${ports[1]}]`,
      `    clientURLs: [http://127.0.0.1:${ports[0]}]`,
      `    dataDir: ${path.join(dir, 't1')}`,
      '    control: { type: local }',
      '',
    ].join('\n');
    const file = path.join(dir, 'members-time.yaml');
    await writeFile(file, yaml);
    const r = await runDr(
      [
        'restore',
        '--to',
        'new-cluster',
        '--time',
        T,
        '--cluster-name',
        CLUSTER,
        '--members',
        file,
        '--identity',
        identity,
        '--dry-run',
        '--json',
      ],
      env,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.pointInTime.target.revision).toBe(beforeT.toString());
    expect(r.json.pointInTime.target.asked).toEqual({ time: T });
    expect(r.json.refusals).toEqual([]);
    // the plan names the original cluster (its ID, as the base backup took it), not the replay member
    expect(r.json.backup.oldClusterId).toBe(originalClusterId);
    expect(r.json.backup.revision).toBe(beforeT.toString());
    // a time without its zone is refused before anything runs
    const noZone = await runDr(
      [
        'restore',
        '--to',
        'new-cluster',
        '--time',
        T.replace(/Z$/, ''),
        '--cluster-name',
        CLUSTER,
        '--members',
        file,
        '--dry-run',
        '--json',
      ],
      env,
    );
    expect(noZone.code).toBe(2);
    expect(noZone.json.error.message).toContain('no time zone');
    // a dry run changes nothing: no data dir, and the replay's scratch is gone
    expect(existsSync(path.join(dir, 't1'))).toBe(false);
  }, 120_000);

  it('dr drill --revision verifies the point-in-time backup in a throwaway cluster', async () => {
    const r = await runDr(
      [
        'drill',
        '--revision',
        (head - 1n).toString(),
        '--cluster-name',
        CLUSTER,
        '--identity',
        identity,
        '--json',
      ],
      env,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.ok).toBe(true);
    expect(r.json.found.revision).toBe((head - 1n).toString());
    // the second backup is at head: the first one is the base, the log replayed from it
    expect(r.json.pointInTime.base.revision).toBe(firstBackupRev.toString());
    expect(r.json.pointInTime.replayed.applied).toBe(Number(head - 1n - firstBackupRev));

    // the Kubernetes restore of a point in time: bumped above it and compacted there
    const bumped = await runDr(
      [
        'drill',
        '--revision',
        mid.toString(),
        '--cluster-name',
        CLUSTER,
        '--identity',
        identity,
        '--bump-revision',
        '1000',
        '--mark-compacted',
        '--json',
      ],
      env,
    );
    if (!etcdAtLeast(3, 5)) {
      // etcd 3.4's etcdctl here cannot bump: refused before anything runs, as for any backup
      expect(bumped.code).toBe(2);
      expect(bumped.json.error.code).toBe('RESTORE_REFUSED');
      return;
    }
    expect(bumped.code, bumped.stderr).toBe(0);
    expect(bumped.json.ok).toBe(true);
    expect(bumped.json.found.revision).toBe((mid + 1000n).toString());
  }, 120_000);

  it('dr diff time:T rev:R shows what changed between two points in time', async () => {
    const r = await runDr(
      [
        'diff',
        `time:${T}`,
        `rev:${beforeT + 1n}`,
        '--cluster-name',
        CLUSTER,
        '--identity',
        identity,
        '--values',
        '--json',
      ],
      env,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.a.revision).toBe(beforeT.toString());
    expect(r.json.b.revision).toBe((beforeT + 1n).toString());
    expect(r.json.changes).toHaveLength(1);
    expect(r.json.changes[0].key).toBe('/registry/cm/t');
    expect(r.json.changes[0].kind).toBe('changed');
    expect(JSON.stringify(r.json.changes[0])).toContain('after');
  }, 120_000);

  it('refuses, restoring nothing: no identity, past the head, before the first backup, a hole in the log', async () => {
    const args = (rev: bigint, more: string[] = []) => [
      'fetch',
      '--revision',
      rev.toString(),
      '--cluster-name',
      CLUSTER,
      '--out',
      path.join(dir, `no-${rev}.db`),
      '--json',
      ...more,
    ];
    const noKey = await runDr(args(mid), env);
    expect(noKey.code).toBe(2);
    expect(noKey.json.error.code).toBe('ENCRYPTION_KEY_MISSING');
    const past = await runDr(args(head + 100n, ['--identity', identity]), env);
    expect(past.code).toBe(2);
    expect(past.json.error.code).toBe('REVLOG_NOT_FOUND');
    const early = await runDr(args(firstBackupRev - 1n, ['--identity', identity]), env);
    expect(early.code).toBe(2);
    expect(early.json.error.code).toBe('BACKUP_NOT_FOUND');
    for (const rev of [mid, head + 100n, firstBackupRev - 1n])
      expect(existsSync(path.join(dir, `no-${rev}.db`))).toBe(false);

    // a segment's manifest the replay to mid needs, taken out of the chain
    const backend = await openBackend(env.DR_STORAGE!);
    const log = await listLog(backend, CLUSTER);
    await backend.close();
    const middle = log.segments.filter((s) => BigInt(s.manifest.firstRevision) <= mid).pop()!;
    expect(middle).toBeDefined();
    const file = path.join(dir, 'store', middle.key);
    await rename(file, `${file}.away`);
    try {
      const hole = await runDr(args(mid, ['--identity', identity]), env);
      expect(hole.code).toBe(1);
      expect(hole.json.error.code).toBe('REVLOG_DISCONTINUOUS');
      expect(hole.json.error.message).toContain(middle.manifest.firstRevision);
    } finally {
      await rename(`${file}.away`, file);
    }
  }, 120_000);
});
