/**
 * `dr backup --storage s3://...` end to end against a real 3-member cluster and a real s3rver over HTTP:
 * a multipart upload (db > 16 MiB), manifest, list, show, fetch (agreeing with `etcdctl snapshot
 * status`), verify (and a byte flipped in s3rver's copy), catalog rebuild from s3 alone; and the storage
 * faults (closed port, missing bucket, unknown access key): exit 3 with the code, nothing visible, no
 * multipart upload left pending.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEtcdClient } from '../../src/etcd/client.js';
import { filesBelow, runDr } from '../helpers/dr.js';
import { startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';
import { freePort } from '../helpers/ports.js';
import { startS3rver, type S3rverHandle } from '../helpers/s3rver.js';
import { tempDir } from '../helpers/tmp.js';

const MiB = 1024 * 1024;

/** Random values: zstd cannot shrink them, so the stored object stays above the 16 MiB part size. */
async function fillRandom(endpoints: string[], megabytes: number): Promise<void> {
  const client = createEtcdClient({ endpoints });
  try {
    for (let batch = 0; batch < megabytes; batch++) {
      await client.txnPuts(
        Array.from({ length: 16 }, (_, i) => ({ key: `/fill/${batch}/${i}`, value: randomBytes(64 * 1024) })),
      );
    }
  } finally {
    client.close();
  }
}

function etcdctlStatus(file: string): unknown {
  return JSON.parse(
    execFileSync('etcdctl', ['snapshot', 'status', file, '-w', 'json'], {
      env: { ...process.env, ETCDCTL_API: '3' },
    }).toString(),
  );
}

describe('dr backup to s3:// (s3rver) on a real 3-member cluster', () => {
  let c: TestCluster;
  let s3: S3rverHandle;
  let dir: string;
  let cleanup: () => Promise<void>;
  let env: Record<string, string>;
  let bucketDir: string;
  let bigId: string;
  let bigKey: string;

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir());
    [c, s3] = await Promise.all([startTestCluster({ size: 3 }), startS3rver('dr-backups')]);
    bucketDir = path.join(s3.dir, s3.bucket);
    await fillRandom(c.endpoints, 18);
    for (let i = 0; i < 10; i++) await c.etcdctl(['put', `/registry/pods/default/p-${i}`, `v${i}`]);
    env = {
      DR_STORAGE: s3.url('backups'),
      DR_CATALOG: path.join(dir, 'catalog.sqlite'),
      AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID!,
      AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY!,
      // @aws-sdk prints a "node >= 22 from January 2027" NodeVersionSupportWarning on Node 20; it is not
      // dr's output, and the stderr assertions below are about dr's own
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    };
  });
  afterAll(async () => {
    await Promise.all([c?.stop(), s3?.stop()]);
    await cleanup?.();
  });

  it('a db > 16 MiB goes up as a multipart upload; the manifest is the commit point', async () => {
    const r = await runDr(
      [
        'backup',
        '--endpoints',
        c.endpoints.join(','),
        '--cluster-name',
        'prod',
        '--compression-level',
        '1',
        '--json',
      ],
      env,
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const m = r.json;
    bigId = m.id;
    bigKey = m.stored.key;
    expect(m.clusterName).toBe('prod');
    expect(m.stored.key).toBe(`prod/${m.id}.db.zst`);
    expect(m.stored.compression).toBe('zstd');
    expect(m.stored.compressionLevel).toBe(1);
    expect(m.stored.size).toBeGreaterThan(16 * MiB);
    expect(m.snapshot.dbSize).toBeGreaterThan(18 * MiB);
    // s3rver made its uploads directory, so the object came through CreateMultipartUpload, and the
    // upload was completed (nothing pending)
    expect(existsSync(path.join(bucketDir, '._S3rver_uploads'))).toBe(true);
    expect(await s3.pendingUploads()).toEqual([]);
    const objects = filesBelow(bucketDir).filter((f) => f.endsWith('._S3rver_object'));
    expect(objects).toEqual([
      `backups/prod/${m.id}.db.zst._S3rver_object`,
      `backups/prod/${m.id}.manifest.json._S3rver_object`,
    ]);
    const stored = await readFile(path.join(bucketDir, 'backups', 'prod', `${m.id}.db.zst._S3rver_object`));
    expect(stored.length).toBe(m.stored.size);
    const onS3 = JSON.parse(
      await readFile(path.join(bucketDir, 'backups', 'prod', `${m.id}.manifest.json._S3rver_object`), 'utf8'),
    );
    expect(onS3).toEqual(m);
  });

  it('list and show read it back; fetch agrees with etcdctl snapshot status', async () => {
    const list = await runDr(['list', '--json'], env);
    expect(list.code).toBe(0);
    expect(list.json.backups.map((b: { id: string }) => b.id)).toEqual([bigId]);
    const show = await runDr(['show', bigId, '--json'], env);
    expect(show.code).toBe(0);
    expect(show.json.id).toBe(bigId);
    const out = path.join(dir, 'fetched.db');
    const f = await runDr(['fetch', bigId, '--out', out, '--json'], env);
    expect(f.code).toBe(0);
    expect(etcdctlStatus(out)).toEqual({
      hash: show.json.snapshot.hash,
      revision: Number(show.json.snapshot.revision),
      totalKey: show.json.snapshot.totalKeys,
      totalSize: show.json.snapshot.dbSize,
    });
    const human = await runDr(['list'], env);
    expect(human.stdout).toContain(bigId);
  });

  it('verify passes; a byte flipped in the stored object fails with exit 1 naming stored-sha256', async () => {
    const ok = await runDr(['verify', bigId, '--json'], env);
    expect(ok.code).toBe(0);
    expect(ok.json.ok).toBe(true);
    const obj = path.join(bucketDir, 'backups', `${bigKey}._S3rver_object`);
    const saved = await readFile(obj);
    const bad = Buffer.from(saved);
    bad[Math.floor(bad.length / 3)]! ^= 0x10;
    await writeFile(obj, bad);
    try {
      const r = await runDr(['verify', bigId, '--json'], env);
      expect(r.code).toBe(1);
      expect(r.json.ok).toBe(false);
      expect(r.json.checks.find((x: { check: string }) => x.check === 'stored-sha256').ok).toBe(false);
      const human = await runDr(['verify', '--latest'], env);
      expect(human.code).toBe(1);
      expect(human.stdout).toMatch(/stored-sha256\s*│\s*FAILED/);
    } finally {
      await writeFile(obj, saved);
    }
    expect((await runDr(['verify', '--latest', '--json'], env)).code).toBe(0);
  });

  it('a deleted catalog is rebuilt from s3 alone', async () => {
    const second = await runDr(
      ['backup', '--endpoints', c.endpoints[0]!, '--cluster-name', 'prod', '--json'],
      env,
    );
    expect(second.code).toBe(0);
    const before = (await runDr(['list', '--json'], env)).json.backups.map((b: { id: string }) => b.id);
    expect(before).toEqual([second.json.id, bigId]);
    await rm(env.DR_CATALOG!);
    const rebuilt = await runDr(['catalog', 'rebuild', '--json'], env);
    expect(rebuilt.code).toBe(0);
    expect(rebuilt.json.backups).toBe(2);
    expect(rebuilt.json.invalid).toEqual([]);
    expect(rebuilt.json.storage).not.toMatch(/S3RVER/); // no credential in what is printed
    expect((await runDr(['list', '--json'], env)).json.backups.map((b: { id: string }) => b.id)).toEqual(
      before,
    );
  });

  describe('storage faults: exit 3, nothing visible, no pending multipart upload', () => {
    let spool: string;
    beforeAll(async () => {
      spool = path.join(dir, 'spool');
      await mkdir(spool);
    });

    async function expectNothingLeft(): Promise<void> {
      expect(filesBelow(path.join(bucketDir, 'faults'))).toEqual([]);
      expect(await s3.pendingUploads()).toEqual([]);
    }

    it('endpoint on a closed port: STORAGE_UNREACHABLE naming the endpoint', async () => {
      const port = await freePort();
      const url = `s3://${s3.bucket}/faults?endpoint=http://127.0.0.1:${port}&region=us-east-1&forcePathStyle=true&maxAttempts=1&connectTimeoutMs=1000`;
      const r = await runDr(
        ['backup', '--endpoints', c.endpoints.join(','), '--storage', url, '--json'],
        env,
        60_000,
      );
      expect(r.code).toBe(3);
      expect(r.json.error.code).toBe('STORAGE_UNREACHABLE');
      expect(r.json.error.message).toContain(`127.0.0.1:${port}`);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      await expectNothingLeft();
    });

    it('bucket missing: STORAGE_NOT_FOUND naming the bucket', async () => {
      const url = `s3://no-such-bucket/faults?endpoint=${s3.endpoint}&region=us-east-1&forcePathStyle=true`;
      const r = await runDr(
        [
          'backup',
          '--endpoints',
          c.endpoints.join(','),
          '--storage',
          url,
          '--compression-level',
          '1',
          '--json',
        ],
        env,
      );
      expect(r.code).toBe(3);
      expect(r.json.error.code).toBe('STORAGE_NOT_FOUND');
      expect(r.json.error.message).toContain('no-such-bucket');
      expect(existsSync(path.join(s3.dir, 'no-such-bucket'))).toBe(false);
      await expectNothingLeft();
    });

    it('unknown access key id: STORAGE_ACCESS_DENIED, the secret printed nowhere', async () => {
      const secret = 'not-the-secret-3f9a1c';
      const r = await runDr(
        [
          'backup',
          '--endpoints',
          c.endpoints.join(','),
          '--storage',
          s3.url('faults'),
          '--compression-level',
          '1',
          '--json',
        ],
        { ...env, AWS_ACCESS_KEY_ID: 'NOBODY', AWS_SECRET_ACCESS_KEY: secret },
      );
      expect(r.code).toBe(3);
      expect(r.json.error.code).toBe('STORAGE_ACCESS_DENIED');
      expect(r.stdout + r.stderr).not.toContain(secret);
      await expectNothingLeft();
    });

    it('the good backups are untouched by the failures', async () => {
      const list = await runDr(['list', '--json'], env);
      expect(list.json.backups).toHaveLength(2);
      expect((await runDr(['verify', '--latest', '--json'], env)).code).toBe(0);
    });
  });
});
