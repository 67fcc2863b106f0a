/**
 * Encrypted backups end to end with the built CLI against a real etcd member and file:// storage:
 * `dr backup --encrypt-to` stores `<id>.db.zst.age` that `age -d | zstd -d` turns into the exact
 * snapshot; every reader (verify --deep, fetch, audit --backup, diff, drill) opens it with --identity
 * or DR_AGE_IDENTITY_FILE and refuses, naming the recipients and the file tried, without one or with the
 * wrong one; an object `age -r` encrypted by hand (given a manifest) is read by dr; listing and gc know
 * the `.age` key.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { copyFile, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recipientFingerprint } from '../../src/crypto/age-keys.js';
import { filesBelow, runDr } from '../helpers/dr.js';
import { startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';
import { tempDir } from '../helpers/tmp.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('encrypted backups (age) through every reader', () => {
  let c: TestCluster;
  let dir: string;
  let cleanup: () => Promise<void>;
  let env: Record<string, string>;
  let store: string;
  const key = (n: string) => path.join(dir, `${n}.key`);
  const recipients: Record<string, string> = {};
  let m: any; // eslint-disable-line @typescript-eslint/no-explicit-any

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('dr-age-cli-'));
    store = path.join(dir, 'store');
    env = { DR_STORAGE: `file://${store}`, DR_CATALOG: path.join(dir, 'catalog.sqlite') };
    for (const n of ['a', 'b', 'wrong']) {
      execFileSync('age-keygen', ['-o', key(n)], { stdio: 'ignore' });
      recipients[n] = execFileSync('age-keygen', ['-y', key(n)])
        .toString()
        .trim();
    }
    await writeFile(path.join(dir, 'recipients.txt'), `# the offline team key\n${recipients.b}\n`);
    c = await startTestCluster({ size: 1 });
    // incompressible values, so that the stored object spans many 64 KiB chunks
    for (let i = 0; i < 12; i++)
      await c.etcdctl(['put', `/registry/secrets/default/s-${i}`, randomBytes(15_000).toString('base64')]);
    const r = await runDr(
      [
        'backup',
        '--endpoints',
        c.endpoints[0]!,
        '--cluster-name',
        'prod',
        '--encrypt-to',
        recipients.a!,
        '--encrypt-to-file',
        path.join(dir, 'recipients.txt'),
        '--json',
      ],
      env,
    );
    expect(r.code, r.stderr).toBe(0);
    m = r.json;
  }, 120_000);
  afterAll(async () => {
    await c?.stop();
    await cleanup?.();
  });

  it('stores <id>.db.zst.age; the manifest names the recipients by fingerprint only', async () => {
    expect(m.stored.key).toBe(`prod/${m.id}.db.zst.age`);
    expect(m.stored.encryption).toEqual({
      scheme: 'age-encryption.org/v1',
      recipients: [recipientFingerprint(recipients.a!), recipientFingerprint(recipients.b!)],
    });
    expect(filesBelow(store)).toEqual([`prod/${m.id}.db.zst.age`, `prod/${m.id}.manifest.json`]);
    const manifestText = await readFile(path.join(store, 'prod', `${m.id}.manifest.json`), 'utf8');
    expect(manifestText).not.toContain('age1');
    expect(manifestText).not.toMatch(/AGE-SECRET-KEY/);
    expect(m.stored.size).toBeGreaterThan(2 * 65536);
  });

  it('age -d (either recipient) then zstd -d gives the exact snapshot', async () => {
    const obj = path.join(store, m.stored.key as string);
    expect(sha256(await readFile(obj))).toBe(m.stored.sha256);
    for (const n of ['a', 'b']) {
      const zst = execFileSync('age', ['-d', '-i', key(n), obj], { maxBuffer: 1 << 28 });
      const plain = execFileSync('zstd', ['-d', '-c'], { input: zst, maxBuffer: 1 << 28 });
      expect(plain.length).toBe(m.snapshot.size);
      expect(sha256(plain)).toBe(m.snapshot.sha256);
    }
  });

  it('verify without an identity checks the stored object only; --deep without one is refused naming the recipients', async () => {
    const shallow = await runDr(['verify', m.id, '--json'], env);
    expect(shallow.code, shallow.stderr).toBe(0);
    expect(shallow.json.storedOnly).toBe(true);
    expect(shallow.json.checks[0]).toMatchObject({ check: 'stored-sha256', ok: true });
    expect(shallow.json.checks.find((x: { check: string }) => x.check === 'decrypt').ok).toBeNull();
    const deep = await runDr(['verify', m.id, '--deep', '--json'], env);
    expect(deep.code).toBe(2);
    expect(deep.json.error.code).toBe('ENCRYPTION_KEY_MISSING');
    expect(deep.json.error.message).toContain(recipientFingerprint(recipients.a!));
    expect(deep.json.error.message).toContain(recipientFingerprint(recipients.b!));
    expect(deep.json.error.message).toMatch(/--identity/);
  });

  it('verify --deep --identity passes every check; the wrong identity is refused naming the file', async () => {
    const ok = await runDr(['verify', m.id, '--deep', '--identity', key('b'), '--json'], env);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.json.checks.map((x: { check: string; ok: boolean }) => [x.check, x.ok])).toEqual([
      ['stored-sha256', true],
      ['decrypt', true],
      ['decompress', true],
      ['etcd-trailer', true],
      ['snapshot-sha256', true],
      ['snapshot-size', true],
      ['bbolt-meta', true],
      ['snapshot-status', true],
    ]);
    const wrong = await runDr(['verify', m.id, '--deep', '--identity', key('wrong')], env);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('ENCRYPTION_KEY_MISSING');
    expect(wrong.stderr).toContain(key('wrong'));
    expect(wrong.stderr).toContain(recipientFingerprint(recipients.wrong!));
    expect(wrong.stderr).not.toMatch(/AGE-SECRET-KEY|\n\s+at /);
  });

  it('fetch with DR_AGE_IDENTITY_FILE writes the plain snapshot; an identity file others can read is refused', async () => {
    const out = path.join(dir, 'fetched.db');
    const r = await runDr(['fetch', m.id, '--out', out, '--json'], {
      ...env,
      DR_AGE_IDENTITY_FILE: key('a'),
    });
    expect(r.code, r.stderr).toBe(0);
    expect(sha256(await readFile(out))).toBe(m.snapshot.sha256);
    const open = path.join(dir, 'open.key');
    await copyFile(key('a'), open);
    const { chmod } = await import('node:fs/promises');
    await chmod(open, 0o640);
    const refused = await runDr(['fetch', m.id, '--out', path.join(dir, 'x.db'), '--identity', open], env);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/ENCRYPTION_KEY_INVALID.*mode 0640.*chmod 600/);
  });

  it('an object encrypted by hand with age -r (zstd, then age) is read by dr given its manifest', async () => {
    const plain = await runDr(
      ['backup', '--endpoints', c.endpoints[0]!, '--cluster-name', 'hand', '--json'],
      env,
    );
    expect(plain.code, plain.stderr).toBe(0);
    const p = plain.json;
    // a second backup id for the hand-made object, in the same cluster folder
    const id = p.id.replace(/-[0-9a-f]{8}$/, '-0a9e0a9e');
    const obj = path.join(store, 'hand', `${id}.db.zst.age`);
    execFileSync('age', ['-r', recipients.a!, '-o', obj, path.join(store, p.stored.key)]);
    const bytes = await readFile(obj);
    const manifest = {
      ...p,
      id,
      stored: {
        ...p.stored,
        key: `hand/${id}.db.zst.age`,
        size: bytes.length,
        sha256: sha256(bytes),
        encryption: { scheme: 'age-encryption.org/v1', recipients: [recipientFingerprint(recipients.a!)] },
      },
    };
    await writeFile(path.join(store, 'hand', `${id}.manifest.json`), JSON.stringify(manifest));
    const v = await runDr(['verify', id, '--deep', '--identity', key('a'), '--json'], env);
    expect(v.code, v.stderr).toBe(0);
    expect(v.json.ok).toBe(true);
    const audit = await runDr(['audit', '--backup', id, '--identity', key('a'), '--json'], env);
    expect(audit.code, audit.stderr).toBe(0);
    expect(audit.json.target).toMatchObject({ kind: 'backup', id });
    const diff = await runDr(['diff', id, p.id, '--identity', key('a'), '--json'], env);
    expect(diff.code, diff.stderr).toBe(0);
    expect(diff.json.summary).toMatchObject({ added: 0, removed: 0, changed: 0 });
  });

  it('a drill restores the encrypted backup with --identity; without it the drill is refused, nothing started', async () => {
    const work = path.join(dir, 'work');
    await mkdir(work);
    const none = await runDr(['drill', '--backup', m.id, '--work-dir', work, '--json'], env, 240_000);
    expect(none.code).toBe(2);
    expect(JSON.stringify(none.json)).toContain('ENCRYPTION_KEY_MISSING');
    const r = await runDr(
      ['drill', '--backup', m.id, '--work-dir', work, '--identity', key('a'), '--json'],
      env,
      240_000,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.ok).toBe(true);
    expect(r.json.found.revision).toBe(m.snapshot.revision);
    expect(filesBelow(work)).toEqual([]);
  }, 300_000);

  it('dr backup --config --policy encrypts as the policy says (its recipients file)', async () => {
    const cfg = path.join(dir, 'config.yaml');
    await writeFile(
      cfg,
      [
        'clusters:',
        `  - { name: prod, endpoints: [${c.endpoints[0]}] }`,
        'storage:',
        `  - { name: disk, url: "file://${store}" }`,
        'policies:',
        `  - { name: enc, cluster: prod, schedule: "0 * * * *", storage: [disk], encryption: { recipientsFile: ${path.join(dir, 'recipients.txt')} } }`,
        '',
      ].join('\n'),
    );
    const r = await runDr(['backup', '--config', cfg, '--cluster', 'prod', '--policy', 'enc', '--json'], {
      DR_CATALOG: env.DR_CATALOG!,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.stored.key).toMatch(/\.db\.zst\.age$/);
    expect(r.json.stored.encryption.recipients).toEqual([recipientFingerprint(recipients.b!)]);
  });

  it('list shows encrypted backups; gc keeps them and removes an orphaned .age object', async () => {
    const list = await runDr(['list', '--cluster-name', 'prod', '--json'], env);
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.stringify(list.json)).toContain(m.id);
    const orphanId = m.id.replace(/-[0-9a-f]{8}$/, '-00000000');
    const orphan = path.join(store, 'prod', `${orphanId}.db.zst.age`);
    await copyFile(path.join(store, m.stored.key as string), orphan);
    const gc = await runDr(['gc', '--min-age', '0', '--json'], env);
    expect(gc.code, gc.stderr).toBe(0);
    expect(gc.json.orphans.map((o: { key: string }) => o.key)).toEqual([`prod/${orphanId}.db.zst.age`]);
    await expect(stat(orphan)).rejects.toThrow();
    await expect(stat(path.join(store, m.stored.key as string))).resolves.toBeTruthy();
  });
});
