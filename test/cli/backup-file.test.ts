/**
 * `dr backup` end to end against a real 3-member cluster and file:// storage: the manifest, fetch
 * (agreeing with `etcdctl snapshot status`), verify (and a corrupted object), list, catalog rebuild, gc.
 */
import { execFileSync } from 'node:child_process';
import { copyFile, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';
import { filesBelow, runDr } from '../helpers/dr.js';
import { etcdAtLeast } from '../helpers/etcd-version.js';
import { tempDir } from '../helpers/tmp.js';

describe('dr backup to file:// on a real 3-member cluster', () => {
  let c: TestCluster;
  let dir: string;
  let cleanup: () => Promise<void>;
  let env: Record<string, string>;
  let storeDir: string;
  let firstId: string;

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir());
    c = await startTestCluster({ size: 3 });
    storeDir = path.join(dir, 'store');
    env = { DR_STORAGE: `file://${storeDir}`, DR_CATALOG: path.join(dir, 'catalog.sqlite') };
    for (let i = 0; i < 40; i++)
      await c.etcdctl([
        'put',
        `/registry/configmaps/default/cm-${i}`,
        JSON.stringify({ i, data: 'x'.repeat(i * 10) }),
      ]);
    await c.etcdctl(['del', '/registry/configmaps/default/cm-3']);
  });
  afterAll(async () => {
    await c?.stop();
    await cleanup?.();
  });

  it('takes a backup from a follower and prints a complete manifest', async () => {
    const r = await runDr(
      ['backup', '--endpoints', c.endpoints.join(','), '--cluster-name', 'prod', '--json'],
      env,
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const m = r.json;
    firstId = m.id;
    expect(m.clusterName).toBe('prod');
    expect(m.source.isLeader).toBe(false);
    expect(m.source.memberName).toMatch(/^m[0-2]$/);
    expect(m.snapshot.revision).toBe('42');
    expect(m.stored.key).toBe(`prod/${m.id}.db.zst`);
    expect(filesBelow(storeDir)).toEqual([`prod/${m.id}.db.zst`, `prod/${m.id}.manifest.json`]);
    const onDisk = JSON.parse(await readFile(path.join(storeDir, 'prod', `${m.id}.manifest.json`), 'utf8'));
    expect(onDisk).toEqual(m);
  });

  it('fetch writes the plain snapshot: etcdctl snapshot status agrees with the manifest', async () => {
    const out = path.join(dir, 'fetched.db');
    const r = await runDr(['fetch', firstId, '--out', out, '--json'], env);
    expect(r.code).toBe(0);
    // the snapshot holds every secret: readable by its owner only, from its creation on
    expect((await stat(out)).mode & 0o777).toBe(0o600);
    const status = JSON.parse(
      execFileSync('etcdctl', ['snapshot', 'status', out, '-w', 'json'], {
        env: { ...process.env, ETCDCTL_API: '3' },
      }).toString(),
    );
    const show = (await runDr(['show', firstId, '--json'], env)).json;
    expect(status).toEqual({
      hash: show.snapshot.hash,
      revision: Number(show.snapshot.revision),
      totalKey: show.snapshot.totalKeys,
      totalSize: show.snapshot.dbSize,
    });
    // refuses to overwrite
    const again = await runDr(['fetch', firstId, '--out', out], env);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/already exists/);
  });

  it('fetch output is the snapshot etcdctl snapshot save writes when nothing changed in between (byte-identical pages on 3.4)', async () => {
    // snapshot the same member with both tools, with no writes between
    const m = (
      await runDr(['backup', '--endpoints', c.endpoints[0]!, '--cluster-name', 'same', '--json'], env)
    ).json;
    const mine = path.join(dir, 'mine.db');
    const theirs = path.join(dir, 'theirs.db');
    expect((await runDr(['fetch', m.id, '--out', mine], env)).code).toBe(0);
    execFileSync('etcdctl', ['--endpoints', c.endpoints[0]!, 'snapshot', 'save', theirs], {
      stdio: 'ignore',
    });
    // etcd's own status (a hash over every bucket, revision, key count) agrees on both versions
    const statusOf = (f: string) =>
      JSON.parse(
        execFileSync('etcdctl', ['snapshot', 'status', f, '-w', 'json'], {
          env: { ...process.env, ETCDCTL_API: '3' },
        }).toString(),
      ) as unknown;
    expect(statusOf(mine)).toEqual(statusOf(theirs));
    if (!etcdAtLeast(3, 5)) {
      // 3.4 commits the backend only when something changed: bbolt streams the same pages. The meta pages
      // carry the txid, which moves when the member commits (e.g. lease checkpoints); the data pages after
      // them must match exactly. (3.5 commits at every snapshot, so its pages move.)
      const a = await readFile(mine);
      const b = await readFile(theirs);
      expect(a.length).toBe(b.length);
      const pageSize = a.readUInt32LE(24);
      expect(a.subarray(2 * pageSize, a.length - 32).equals(b.subarray(2 * pageSize, b.length - 32))).toBe(
        true,
      );
    }
  });

  it('verify passes, --deep too, and a flipped byte fails with exit 1 naming the check', async () => {
    const ok = await runDr(['verify', firstId, '--deep', '--json'], env);
    expect(ok.code).toBe(0);
    expect(ok.json.checks.map((x: { check: string; ok: boolean }) => [x.check, x.ok])).toEqual([
      ['stored-sha256', true],
      ['decompress', true],
      ['etcd-trailer', true],
      ['snapshot-sha256', true],
      ['snapshot-size', true],
      ['bbolt-meta', true],
      ['snapshot-status', true],
    ]);
    // one form per output kind: JSON carries the snapshot hash as etcdctl -w json does (a decimal number)
    // and equal to the manifest's; the table's text shows it in hex, as etcdctl -w table does
    const found = ok.json.checks.find((x: { check: string }) => x.check === 'snapshot-status').found;
    const shown = await runDr(['show', firstId, '--json'], env);
    expect(typeof found.hash).toBe('number');
    expect(found.hash).toBe(shown.json.snapshot.hash);
    const deepHuman = await runDr(['verify', firstId, '--deep'], env);
    expect(deepHuman.stdout).toContain(`hash ${(found.hash >>> 0).toString(16)} `);
    const obj = path.join(storeDir, 'prod', `${firstId}.db.zst`);
    const saved = await readFile(obj);
    const bad = Buffer.from(saved);
    bad[Math.floor(bad.length / 2)]! ^= 0x01;
    await writeFile(obj, bad);
    const r = await runDr(['verify', firstId, '--json'], env);
    expect(r.code).toBe(1);
    expect(r.json.ok).toBe(false);
    expect(r.json.checks.find((x: { check: string }) => x.check === 'stored-sha256').ok).toBe(false);
    const human = await runDr(['verify', firstId], env);
    expect(human.code).toBe(1);
    expect(human.stdout).toMatch(/stored-sha256\s*│\s*FAILED/);
    const fetched = await runDr(['fetch', firstId, '--out', path.join(dir, 'bad.db')], env);
    expect(fetched.code).toBe(1);
    expect(filesBelow(dir).filter((f) => f.startsWith('bad.db') || f.includes('.bad.db.part'))).toEqual([]);
    await writeFile(obj, saved);
  });

  it('list shows backups newest first, and a deleted catalog is rebuilt from storage alone', async () => {
    const before = (await runDr(['list', '--json'], env)).json.backups.map((b: { id: string }) => b.id);
    expect(before).toHaveLength(2);
    expect([...before].sort().reverse()).toEqual(before);
    await rm(env.DR_CATALOG!);
    const rebuilt = await runDr(['catalog', 'rebuild', '--json'], env);
    expect(rebuilt.code).toBe(0);
    expect(rebuilt.json.backups).toBe(2);
    expect((await runDr(['list', '--json'], env)).json.backups.map((b: { id: string }) => b.id)).toEqual(
      before,
    );
    const table = await runDr(['list', '--cluster-name', 'prod'], env);
    expect(table.stdout).toContain(firstId);
    expect(table.stdout).not.toContain('same');
  });

  it('a data object without a manifest is invisible to list and verify, and gc removes it', async () => {
    const orphanId = '20200101T000000Z-deadbeef';
    await copyFile(
      path.join(storeDir, 'prod', `${firstId}.db.zst`),
      path.join(storeDir, 'prod', `${orphanId}.db.zst`),
    );
    const ids = (await runDr(['list', '--json'], env)).json.backups.map((b: { id: string }) => b.id);
    expect(ids).not.toContain(orphanId);
    const v = await runDr(['verify', orphanId], env);
    expect(v.code).toBe(2);
    expect(v.stderr).toMatch(/BACKUP_NOT_FOUND/);
    const dry = await runDr(['gc', '--dry-run', '--min-age', '0', '--json'], env);
    expect(dry.json.orphans.map((o: { key: string }) => o.key)).toEqual([`prod/${orphanId}.db.zst`]);
    expect(filesBelow(storeDir)).toContain(`prod/${orphanId}.db.zst`);
    const gc = await runDr(['gc', '--min-age', '0', '--json'], env);
    expect(gc.json.orphans[0].removed).toBe(true);
    expect(filesBelow(storeDir)).not.toContain(`prod/${orphanId}.db.zst`);
  });
});
