import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Catalog } from '../../src/catalog/catalog.js';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import { createEtcdClient, type EtcdClient } from '../../src/etcd/client.js';
import { runBackupJob, type BackupJobSpec } from '../../src/jobs/backup-job.js';
import { prune } from '../../src/jobs/prune.js';
import type { StorageTarget } from '../../src/storage/backend.js';
import { listStorage } from '../../src/manifest/manifest-store.js';
import { createMetrics } from '../../src/metrics/metrics.js';
import { openBackend } from '../../src/storage/open-backend.js';
import { startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';
import { startS3rver, type S3rverHandle } from '../helpers/s3rver.js';
import { tempDir } from '../helpers/tmp.js';

let cluster: TestCluster;
let s3: S3rverHandle;
let etcd: EtcdClient;
let tmp: { dir: string; cleanup: () => Promise<void> };
const closers: (() => Promise<void>)[] = [];

beforeAll(async () => {
  [cluster, s3, tmp] = await Promise.all([startTestCluster(), startS3rver(), tempDir('dr-jobs-')]);
  etcd = createEtcdClient({ endpoints: cluster.endpoints });
  for (let i = 0; i < 50; i++) await etcd.put(`/registry/pods/default/p${i}`, `value-${i}`);
});

afterAll(async () => {
  for (const c of closers) await c().catch(() => undefined);
  etcd?.close();
  await Promise.all([cluster?.stop(), s3?.stop(), tmp?.cleanup()]);
});

async function fileTarget(name: string): Promise<StorageTarget> {
  const backend = await openBackend(pathToFileURL(path.join(tmp.dir, name)).href);
  closers.push(() => backend.close());
  return { name, backend };
}

function spec(targets: StorageTarget[], over: Partial<BackupJobSpec> = {}): BackupJobSpec {
  return {
    cluster: 'c1',
    policy: 'p1',
    compressionLevel: 3,
    snapshotFrom: 'any',
    verifyAfterUpload: true,
    retention: {},
    timezone: 'UTC',
    targets,
    ...over,
  };
}

describe('runBackupJob', () => {
  it('keepLast 2: after four runs exactly the two newest backups remain, in storage and in the catalog', async () => {
    const target = await fileTarget('keep-last');
    const catalog = Catalog.open(path.join(tmp.dir, 'keep-last.sqlite'));
    const metrics = createMetrics({ defaultMetrics: false });
    const ids: string[] = [];
    try {
      for (let i = 0; i < 4; i++) {
        const r = await runBackupJob(
          { etcd, catalog, metrics, logger: silentLogger, clock: systemClock },
          spec([target], { policy: 'keep2', retention: { keepLast: 2 } }),
        );
        expect(r.ok, JSON.stringify(r.error)).toBe(true);
        expect(r.targets).toEqual([{ storage: 'keep-last', ok: true, verified: true, error: null }]);
        ids.push(r.manifest!.id);
      }
      const { manifests, orphans } = await listStorage(target.backend, 'c1');
      expect([...manifests.values()].map((m) => m.id).sort()).toEqual(ids.slice(2).sort());
      expect(orphans).toEqual([]);
      // verify-after-upload left one verification record per kept backup; the removed ones went with theirs
      const files = await readdir(path.join(tmp.dir, 'keep-last', 'c1'));
      expect(files.map((f) => f.replace(/\.verify\..*$/, '.verify')).sort()).toEqual(
        ids
          .slice(2)
          .flatMap((id) => [`${id}.db.zst`, `${id}.manifest.json`, `${id}.verify`])
          .sort(),
      );
      expect(
        catalog.listBackups(target.backend.location, { cluster: 'c1' }).map((b) => b.manifest.id),
      ).toEqual(ids.slice(2).reverse());
      expect(catalog.listBackups(target.backend.location).every((b) => b.verifyOk === true)).toBe(true);

      const l = { cluster: 'c1', policy: 'keep2' };
      expect((await metrics.attempts.get()).values.find((v) => v.labels.result === 'success')?.value).toBe(4);
      expect((await metrics.retentionDeletions.get()).values[0]?.value).toBe(2);
      expect((await metrics.retained.get()).values[0]?.value).toBe(2);
      const last = (await metrics.lastSuccess.get()).values.find((v) => v.labels.policy === l.policy)?.value;
      expect(last).toBeGreaterThan(0);
      expect(
        catalog.recentAttempts({ cluster: 'c1', policy: 'keep2' }).filter((a) => a.result === 'success'),
      ).toHaveLength(4);
    } finally {
      catalog.close();
    }
  });

  it('writes one snapshot to every target: streamed into the first, copied to the others, each verified', async () => {
    const disk = await fileTarget('multi');
    const backend = await openBackend(s3.url('multi'));
    closers.push(() => backend.close());
    const bucket: StorageTarget = { name: 's3', backend };
    const catalog = Catalog.open(':memory:');
    try {
      const r = await runBackupJob(
        { etcd, catalog, logger: silentLogger, clock: systemClock },
        spec([disk, bucket]),
      );
      expect(r.ok, JSON.stringify(r.error)).toBe(true);
      expect(r.targets.map((t) => [t.storage, t.ok, t.verified])).toEqual([
        ['multi', true, true],
        ['s3', true, true],
      ]);
      const id = r.manifest!.id;
      for (const t of [disk, bucket]) {
        const { manifests, orphans } = await listStorage(t.backend, 'c1');
        expect([...manifests.values()].map((m) => m.id)).toEqual([id]);
        expect(orphans).toEqual([]);
        expect(catalog.getBackup(t.backend.location, id)?.verifyOk).toBe(true);
      }
      expect(
        catalog
          .recentAttempts({ policy: 'p1' })
          .map((a) => a.storage)
          .sort(),
      ).toEqual([backend.location, disk.backend.location].sort());
    } finally {
      catalog.close();
    }
  });

  it('records a failure on every target when etcd is unreachable, and removes nothing', async () => {
    const target = await fileTarget('down');
    const catalog = Catalog.open(':memory:');
    const dead = createEtcdClient({ endpoints: ['127.0.0.1:1'], dialTimeoutMs: 300 });
    const metrics = createMetrics({ defaultMetrics: false });
    try {
      const r = await runBackupJob(
        { etcd: dead, catalog, metrics, logger: silentLogger, clock: systemClock },
        spec([target]),
      );
      expect(r.ok).toBe(false);
      expect(r.error?.code).toBe('ETCD_UNREACHABLE');
      expect(r.manifest).toBeNull();
      expect(catalog.recentAttempts()).toMatchObject([{ result: 'failure', errorCode: 'ETCD_UNREACHABLE' }]);
      expect((await metrics.attempts.get()).values.find((v) => v.labels.result === 'failure')?.value).toBe(1);
      expect((await metrics.lastSuccess.get()).values).toEqual([]);
    } finally {
      dead.close();
      catalog.close();
    }
  });
});

describe('prune', () => {
  it('dry run lists every backup with its reasons; the real run deletes; a newer failed attempt suspends removal', async () => {
    const target = await fileTarget('prune');
    const catalog = Catalog.open(path.join(tmp.dir, 'prune.sqlite'));
    const deps = { etcd, catalog, logger: silentLogger, clock: systemClock };
    try {
      const ids: string[] = [];
      for (let i = 0; i < 3; i++)
        ids.push(
          (await runBackupJob(deps, spec([target], { policy: 'pp', verifyAfterUpload: false }))).manifest!.id,
        );
      const scope = { cluster: 'c1', policy: 'pp', rules: { keepLast: 1 }, timezone: 'UTC' };

      const [dry] = await prune(deps, [{ target, scope }], { dryRun: true });
      expect(dry!.keep).toEqual([expect.objectContaining({ id: ids[2], reasons: ['last 1'] })]);
      expect(dry!.remove.map((r) => [r.id, r.removed])).toEqual([
        [ids[1], false],
        [ids[0], false],
      ]);
      expect(dry!.remove[0]!.reason).toMatch(/kept by no rule \(keepLast 1\)/);
      expect((await listStorage(target.backend, 'c1')).manifests.size).toBe(3);

      // A failed attempt after the newest backup: nothing may be removed until a backup succeeds.
      catalog.recordAttempt({
        cluster: 'c1',
        policy: 'pp',
        storage: target.backend.location,
        startedAt: new Date(),
        finishedAt: new Date(),
        result: 'failure',
        errorCode: 'ETCD_UNREACHABLE',
      });
      const [held] = await prune(deps, [{ target, scope }], { dryRun: false });
      expect(held!.suspended).toMatch(/failed/);
      expect(held!.remove).toEqual([]);
      expect((await listStorage(target.backend, 'c1')).manifests.size).toBe(3);

      catalog.recordAttempt({
        cluster: 'c1',
        policy: 'pp',
        storage: target.backend.location,
        startedAt: new Date(),
        finishedAt: new Date(),
        result: 'success',
      });
      const [real] = await prune(deps, [{ target, scope }], { dryRun: false });
      expect(real!.suspended).toBeNull();
      expect(real!.remove.map((r) => [r.id, r.removed])).toEqual([
        [ids[1], true],
        [ids[0], true],
      ]);
      const after = await listStorage(target.backend, 'c1');
      expect([...after.manifests.values()].map((m) => m.id)).toEqual([ids[2]]);
      expect(after.orphans).toEqual([]);
    } finally {
      catalog.close();
    }
  });

  it('a policy with age recipients: every target stores <id>.db.zst.age, verified without a key; the recipients file is read per run; an unreadable one fails the backup', async () => {
    const { execFileSync } = await import('node:child_process');
    const { writeFile } = await import('node:fs/promises');
    const { recipientFingerprint } = await import('../../src/crypto/age-keys.js');
    const keyOf = (n: string) => {
      const f = path.join(tmp.dir, `${n}.key`);
      execFileSync('age-keygen', ['-o', f], { stdio: 'ignore' });
      return execFileSync('age-keygen', ['-y', f]).toString().trim();
    };
    const [inline, old, rotated] = [keyOf('inline'), keyOf('old'), keyOf('rotated')];
    const file = path.join(tmp.dir, 'recipients.txt');
    await writeFile(file, `# current offline key\n${old}\n`);
    const backend = await openBackend(s3.url('age'));
    closers.push(() => backend.close());
    const targets = [await fileTarget('age-file'), { name: 'age-s3', backend }];
    const catalog = Catalog.open(path.join(tmp.dir, 'age.sqlite'));
    const metrics = createMetrics({ defaultMetrics: false });
    const deps = { etcd, catalog, metrics, logger: silentLogger, clock: systemClock };
    const encrypted = spec(targets, {
      policy: 'enc',
      encryption: { recipients: [inline], recipientsFile: file },
    });
    try {
      const first = await runBackupJob(deps, encrypted);
      expect(first.ok, JSON.stringify(first.error)).toBe(true);
      expect(first.targets.map((t) => [t.storage, t.ok, t.verified])).toEqual([
        ['age-file', true, true],
        ['age-s3', true, true],
      ]);
      const m = first.manifest!;
      expect(m.stored.key).toBe(`c1/${m.id}.db.zst.age`);
      expect(m.stored.encryption!.recipients).toEqual([
        recipientFingerprint(inline),
        recipientFingerprint(old),
      ]);
      for (const t of targets)
        expect((await listStorage(t.backend, 'c1')).manifests.has(`c1/${m.id}.manifest.json`)).toBe(true);
      // rotation: the file now names the new key; the next backup is encrypted to it, without a reload
      await writeFile(file, `${rotated}\n`);
      const second = await runBackupJob(deps, encrypted);
      expect(second.ok, JSON.stringify(second.error)).toBe(true);
      expect(second.manifest!.stored.encryption!.recipients).toEqual([
        recipientFingerprint(inline),
        recipientFingerprint(rotated),
      ]);
      // fail closed: a recipients file that cannot be read never means "store in the clear"
      const broken = await runBackupJob(deps, {
        ...encrypted,
        encryption: { recipients: [], recipientsFile: `${file}.gone` },
      });
      expect(broken.ok).toBe(false);
      expect(broken.error!.code).toBe('ENCRYPTION_KEY_INVALID');
      const { manifests, orphans } = await listStorage(targets[0]!.backend, 'c1');
      expect(manifests.size).toBe(2);
      expect(orphans).toEqual([]);
    } finally {
      catalog.close();
    }
  });
});
