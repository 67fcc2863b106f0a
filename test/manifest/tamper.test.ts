/**
 * Tamper evidence end to end, with the built CLI against one real etcd member and file:// storage:
 * manifests are checked against their key (moved to another cluster's folder, an edited stored.key, an
 * edited id), Ed25519 signatures made with keys from the real `openssl` CLI (and checked by it), unsigned
 * and mis-signed manifests refused under a verify key, retention that can no longer be made to delete
 * another cluster's data, and verification records in storage that a rebuilt catalog (another host)
 * sees, so that a failed backup is never `latest`.
 */
import { execFileSync } from 'node:child_process';
import { chmod, cp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { filesBelow, runDr } from '../helpers/dr.js';
import { startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';
import { tempDir } from '../helpers/tmp.js';

/** dr runs spawn node processes: a loaded 2-core machine needs minutes for a test's dozen of them */
const SLOW = 240_000;

describe('tamper-evident manifests (real etcd, file://, openssl keys)', () => {
  let c: TestCluster;
  let dir: string;
  let cleanup: () => Promise<void>;
  let storeDir: string;
  let signKey: string;
  let verifyKey: string;
  let otherKey: string;
  let idA: string; // prodA, signed
  let idB: string; // prodB, unsigned
  let idB2: string; // prodB, unsigned, newer
  let copies = 0;

  /** A copy of the storage with its own catalog, so that each test tampers with its own objects. */
  async function copyStore(): Promise<{ store: string; env: Record<string, string> }> {
    const n = ++copies;
    const store = path.join(dir, `store-${n}`);
    await cp(storeDir, store, { recursive: true });
    return {
      store,
      env: { DR_STORAGE: `file://${store}`, DR_CATALOG: path.join(dir, `catalog-${n}.sqlite`) },
    };
  }

  const flip = (b: Buffer) => b.writeUInt8(b.readUInt8(b.length >> 1) ^ 0xff, b.length >> 1);

  const manifestFile = (store: string, cluster: string, id: string) =>
    path.join(store, cluster, `${id}.manifest.json`);

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir());
    c = await startTestCluster({ size: 1 });
    for (let i = 0; i < 10; i++) await c.etcdctl(['put', `/k/${i}`, `v${i}`]);
    storeDir = path.join(dir, 'store');
    signKey = path.join(dir, 'sign.pem');
    verifyKey = path.join(dir, 'verify.pem');
    otherKey = path.join(dir, 'other.pem');
    execFileSync('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', signKey]);
    execFileSync('openssl', ['pkey', '-in', signKey, '-pubout', '-out', verifyKey]);
    execFileSync('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', otherKey]);
    await chmod(signKey, 0o600);
    await chmod(otherKey, 0o600);
    const env = { DR_STORAGE: `file://${storeDir}`, DR_CATALOG: path.join(dir, 'catalog.sqlite') };
    const backup = async (cluster: string, extra: string[] = []) => {
      const r = await runDr(
        ['backup', '--endpoints', c.endpoints.join(','), '--cluster-name', cluster, '--json', ...extra],
        env,
      );
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      return r.json.id as string;
    };
    idA = await backup('prodA', ['--sign-key', signKey]);
    idB = await backup('prodB');
    await c.etcdctl(['put', '/k/late', 'x']);
    idB2 = await backup('prodB');
  }, 120_000);
  afterAll(async () => {
    await c?.stop();
    await cleanup?.();
  }, SLOW);

  it(
    'signs before committing: the signature sits beside the manifest and openssl verifies it',
    async () => {
      expect(filesBelow(storeDir)).toContain(`prodA/${idA}.manifest.sig`);
      expect(filesBelow(storeDir)).not.toContain(`prodB/${idB}.manifest.sig`);
      const sig = JSON.parse(await readFile(path.join(storeDir, 'prodA', `${idA}.manifest.sig`), 'utf8'));
      expect(sig.algorithm).toBe('ed25519');
      const sigBin = path.join(dir, 'sig.bin');
      await writeFile(sigBin, Buffer.from(sig.signature, 'base64'));
      const out = execFileSync('openssl', [
        'pkeyutl',
        '-verify',
        '-pubin',
        '-inkey',
        verifyKey,
        '-rawin',
        '-in',
        manifestFile(storeDir, 'prodA', idA),
        '-sigfile',
        sigBin,
      ]).toString();
      expect(out).toMatch(/Signature Verified Successfully/);

      const ok = await runDr(['show', idA, '--verify-key', verifyKey], {
        DR_STORAGE: `file://${storeDir}`,
        DR_CATALOG: path.join(dir, 'catalog.sqlite'),
      });
      expect(ok.stderr).toBe('');
      expect(ok.code).toBe(0);
      expect(JSON.parse(ok.stdout).id).toBe(idA);
    },
    SLOW,
  );

  it(
    'refuses an unsigned manifest under a verify key, and says how to override',
    async () => {
      const { env } = await copyStore();
      const r = await runDr(['show', idB, '--json', '--verify-key', verifyKey], env);
      expect(r.code).toBe(1);
      expect(r.json.error.code).toBe('MANIFEST_SIGNATURE_INVALID');
      expect(r.json.error.message).toContain(`prodB/${idB}.manifest.json`);
      expect(r.json.error.message).toMatch(/unsigned/);
      expect(r.json.error.message).toMatch(/without a verify key/);
      // env DR_VERIFY_KEY does the same; list leaves the unsigned backups out and names them
      const list = await runDr(['list', '--json'], { ...env, DR_VERIFY_KEY: verifyKey });
      expect(list.code).toBe(0);
      expect(list.json.backups.map((b: { id: string }) => b.id)).toEqual([idA]);
      expect(list.json.invalid.map((i: { key: string }) => i.key).sort()).toEqual(
        [`prodB/${idB}.manifest.json`, `prodB/${idB2}.manifest.json`].sort(),
      );
      // without a verify key the same manifest reads
      expect((await runDr(['show', idB], env)).code).toBe(0);
    },
    SLOW,
  );

  it(
    'refuses a manifest signed by another key, and one edited after signing',
    async () => {
      const { store, env } = await copyStore();
      // prodB signed with a key the reader does not trust (signature made by openssl itself)
      const sigBin = path.join(dir, 'other-sig.bin');
      execFileSync('openssl', [
        'pkeyutl',
        '-sign',
        '-inkey',
        otherKey,
        '-rawin',
        '-in',
        manifestFile(store, 'prodB', idB),
        '-out',
        sigBin,
      ]);
      await writeFile(
        path.join(store, 'prodB', `${idB}.manifest.sig`),
        JSON.stringify({
          format: 'etcd-dr-manifest-signature/v1',
          algorithm: 'ed25519',
          keyId: 'other',
          signature: (await readFile(sigBin)).toString('base64'),
        }),
      );
      const other = await runDr(['show', idB, '--json', '--verify-key', verifyKey], env);
      expect(other.code).toBe(1);
      expect(other.json.error.code).toBe('MANIFEST_SIGNATURE_INVALID');
      expect(other.json.error.message).toMatch(/does not verify/);

      // prodA's signed manifest with one field changed (the policy): the signature no longer holds
      const file = manifestFile(store, 'prodA', idA);
      const m = JSON.parse(await readFile(file, 'utf8'));
      m.policy = 'forged';
      await writeFile(file, JSON.stringify(m, null, 2) + '\n');
      const edited = await runDr(['verify', idA, '--json', '--verify-key', verifyKey], env);
      expect(edited.code).toBe(1);
      expect(edited.json.error.code).toBe('MANIFEST_SIGNATURE_INVALID');
    },
    SLOW,
  );

  it(
    'refuses a manifest moved to another cluster, an edited stored.key and an edited id',
    async () => {
      const { store, env } = await copyStore();
      // moved (copied) into prodC's folder with its data
      await cp(path.join(store, 'prodA'), path.join(store, 'prodC'), { recursive: true });
      const moved = await runDr(['show', idA, '--cluster-name', 'prodC', '--json'], env);
      expect(moved.code).toBe(1);
      expect(moved.json.error.code).toBe('MANIFEST_MISMATCH');
      expect(moved.json.error.field).toBe('clusterName');
      expect(moved.json.error.message).toContain(`prodC/${idA}.manifest.json`);

      // stored.key pointing at another backup's data
      const fileB = manifestFile(store, 'prodB', idB);
      const mB = JSON.parse(await readFile(fileB, 'utf8'));
      mB.stored.key = `prodB/${idB2}.db.zst`;
      await writeFile(fileB, JSON.stringify(mB, null, 2));
      for (const cmd of [['show'], ['verify'], ['fetch', '--out', path.join(dir, 'x.db')]]) {
        const r = await runDr([cmd[0]!, idB, ...cmd.slice(1), '--json'], env);
        expect(r.code, cmd[0]).toBe(1);
        expect(r.json.error.code).toBe('MANIFEST_MISMATCH');
        expect(r.json.error.field).toBe('stored.key');
      }
      expect(existsSync(path.join(dir, 'x.db'))).toBe(false);

      // an edited id
      const fileB2 = manifestFile(store, 'prodB', idB2);
      const mB2 = JSON.parse(await readFile(fileB2, 'utf8'));
      mB2.id = idB;
      await writeFile(fileB2, JSON.stringify(mB2, null, 2));
      const id = await runDr(['show', idB2, '--cluster-name', 'prodB', '--json'], env);
      expect(id.code).toBe(1);
      expect(id.json.error.code).toBe('MANIFEST_MISMATCH');
      expect(id.json.error.field).toBe('id');

      // a catalog rebuilt from this storage takes only prodA's genuine backup and names the others
      const rebuilt = await runDr(['catalog', 'rebuild', '--json'], env);
      expect(rebuilt.code).toBe(0);
      expect(rebuilt.json.backups).toBe(1);
      expect(rebuilt.json.invalid.map((i: { key: string }) => i.key).sort()).toEqual(
        [`prodB/${idB}.manifest.json`, `prodB/${idB2}.manifest.json`, `prodC/${idA}.manifest.json`].sort(),
      );
    },
    SLOW,
  );

  it(
    "a planted manifest cannot make prune or gc delete another cluster's data",
    async () => {
      const { store, env } = await copyStore();
      // prodA's manifest planted in prodB's folder, rewritten to look like prodB's oldest backup, its
      // stored.key still naming prodA's data: before the key check, prune --keep-last 1 deleted prodA's data
      const m = JSON.parse(await readFile(manifestFile(store, 'prodA', idA), 'utf8'));
      m.clusterName = 'prodB';
      await writeFile(manifestFile(store, 'prodB', idA), JSON.stringify(m, null, 2));
      const before = filesBelow(store);
      const prune = await runDr(['prune', '--cluster-name', 'prodB', '--keep-last', '2', '--json'], env);
      expect(prune.code).toBe(0);
      const report = prune.json.reports[0];
      expect(report.remove).toEqual([]);
      expect(report.keep.map((k: { id: string }) => k.id).sort()).toEqual([idB, idB2].sort());
      const gc = await runDr(['gc', '--min-age', '0', '--json'], env);
      expect(gc.code).toBe(0);
      expect(filesBelow(store)).toEqual(before);
      expect(existsSync(path.join(store, 'prodA', `${idA}.db.zst`))).toBe(true);
    },
    SLOW,
  );

  it(
    'verification records in storage: a failed backup is never latest, on any host; prune removes them',
    async () => {
      const { store, env } = await copyStore();
      const good = await runDr(['verify', idB, '--json'], env);
      expect(good.code).toBe(0);
      // corrupt the newest backup's stored object: verify fails and records it
      const data = path.join(store, 'prodB', `${idB2}.db.zst`);
      const bytes = await readFile(data);
      flip(bytes);
      await writeFile(data, bytes);
      const bad = await runDr(['verify', idB2, '--deep', '--json'], env);
      expect(bad.code).toBe(1);
      const records = filesBelow(store).filter((f) => f.includes('.verify.'));
      expect(records).toHaveLength(2);
      expect(records.some((f) => f.startsWith(`prodB/${idB2}.verify.`))).toBe(true);
      const rec = JSON.parse(
        await readFile(
          path.join(
            store,
            records.find((f) => f.includes(idB2))!,
          ),
          'utf8',
        ),
      );
      expect(rec).toMatchObject({ backupId: idB2, clusterName: 'prodB', ok: false, deep: true });

      // another host: an empty catalog, rebuilt from storage alone
      const other = { ...env, DR_CATALOG: path.join(dir, `other-host-${copies}.sqlite`) };
      const list = await runDr(['list', '--cluster-name', 'prodB', '--json'], other);
      expect(
        list.json.backups.map((b: { id: string; verifyOk: boolean | null }) => [b.id, b.verifyOk]),
      ).toEqual([
        [idB2, false],
        [idB, true],
      ]);
      const latest = await runDr(['show', 'latest', '--cluster-name', 'prodB'], other);
      expect(latest.code).toBe(0);
      expect(JSON.parse(latest.stdout).id).toBe(idB);

      // a repaired object verifies again: the newer record wins
      flip(bytes);
      await writeFile(data, bytes);
      expect((await runDr(['verify', idB2], env)).code).toBe(0);
      const again = await runDr(['show', 'latest', '--cluster-name', 'prodB'], other);
      expect(JSON.parse(again.stdout).id).toBe(idB2);

      // retention removes a backup with its verification records
      const prune = await runDr(['prune', '--cluster-name', 'prodB', '--keep-last', '1', '--json'], env);
      expect(prune.code).toBe(0);
      expect(prune.json.reports[0].remove.map((r: { id: string }) => r.id)).toEqual([idB]);
      expect(filesBelow(path.join(store, 'prodB')).filter((f) => f.includes(idB + '.'))).toEqual([]);
      expect(filesBelow(path.join(store, 'prodB')).some((f) => f.startsWith(`${idB2}.verify.`))).toBe(true);
    },
    SLOW,
  );

  it(
    'refuses a signing key that other users may read, and a non-Ed25519 key',
    async () => {
      const loose = path.join(dir, 'loose.pem');
      await cp(signKey, loose);
      await chmod(loose, 0o644);
      const r = await runDr(
        [
          'backup',
          '--endpoints',
          c.endpoints.join(','),
          '--cluster-name',
          'x',
          '--sign-key',
          loose,
          '--json',
        ],
        { DR_STORAGE: `file://${path.join(dir, 'unused')}`, DR_CATALOG: path.join(dir, 'unused.sqlite') },
      );
      expect(r.code).toBe(2);
      expect(r.json.error.code).toBe('CONFIG_INVALID');
      expect(r.json.error.message).toMatch(/chmod 600/);
      const rsa = path.join(dir, 'rsa-pub.pem');
      execFileSync('openssl', [
        'genpkey',
        '-algorithm',
        'rsa',
        '-pkeyopt',
        'rsa_keygen_bits:1024',
        '-out',
        path.join(dir, 'rsa.pem'),
      ]);
      execFileSync('openssl', ['pkey', '-in', path.join(dir, 'rsa.pem'), '-pubout', '-out', rsa]);
      const v = await runDr(['list', '--json', '--verify-key', rsa], {
        DR_STORAGE: `file://${storeDir}`,
        DR_CATALOG: path.join(dir, 'catalog.sqlite'),
      });
      expect(v.code).toBe(2);
      expect(v.json.error.message).toMatch(/Ed25519/);
      await rm(loose);
    },
    SLOW,
  );
});
