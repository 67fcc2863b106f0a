/**
 * `dr restore` of a backup taken from a cluster with etcd auth enabled: the restored members keep the
 * backup's users and auth, so the restore's key count and HashKV checks need credentials. Without them the
 * restore runs and its verification says the cluster requires authentication (exit 1), and `--resume` with
 * them finishes it; with --user root --password-file it verifies (exit 0), and the password is in no output
 * or journal.
 */
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseMembersYaml, type MembersFile } from '../../src/config/members-file.js';
import { localControl } from '../../src/restore/control/local.js';
import { filesBelow, runDr } from '../helpers/dr.js';
import { startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';
import { freePorts } from '../helpers/ports.js';
import { tempDir } from '../helpers/tmp.js';

describe('dr restore: a backup with etcd auth enabled', () => {
  let c: TestCluster;
  let dir: string;
  let cleanup: () => Promise<void>;
  let env: Record<string, string>;
  let pw: string;
  const targets: MembersFile[] = [];
  const rootPassword = 'restore-auth-root-4410';

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('dr-restore-auth-'));
    c = await startTestCluster({ size: 1, auth: { rootPassword } });
    for (let i = 0; i < 5; i++) await c.etcdctl(['put', `/registry/secrets/s-${i}`, `v${i}`]);
    pw = path.join(dir, 'root.pw');
    await writeFile(pw, `${rootPassword}\n`, { mode: 0o600 });
    env = { DR_STORAGE: `file://${path.join(dir, 'store')}`, DR_CATALOG: path.join(dir, 'catalog.sqlite') };
    const b = await runDr(
      [
        'backup',
        '--endpoints',
        c.endpoints[0]!,
        '--user',
        'root',
        '--password-file',
        pw,
        '--cluster-name',
        'a',
      ],
      env,
    );
    expect(b.code, b.stderr).toBe(0);
    await c.stop();
  }, 90_000);

  afterAll(async () => {
    // dr starts local members detached: stop every one this file restored
    for (const t of targets)
      for (const m of t.members)
        await localControl({ member: m, initialCluster: '', token: '', stopGraceMs: 3000 })
          .stop()
          .catch(() => {});
    await c?.stop();
    await cleanup?.();
  });

  async function membersFile(name: string): Promise<string> {
    const [client, peer] = await freePorts(2);
    const yaml = [
      'members:',
      `  - name: ${name}`,
      `    peerURLs: [http://127.0.0.1:${peer}]`,
      `    clientURLs: [http://127.0.0.1:${client}]`,
      `    dataDir: ${path.join(dir, name)}`,
      '    control: { type: local }',
      '',
    ].join('\n');
    targets.push(parseMembersYaml(yaml));
    const file = path.join(dir, `${name}.yaml`);
    await writeFile(file, yaml);
    return file;
  }

  const restore = async (name: string, auth: string[]) =>
    runDr(
      [
        'restore',
        '--to',
        'new-cluster',
        '--backup',
        'latest',
        '--cluster-name',
        'a',
        '--members',
        await membersFile(name),
        '--journal',
        path.join(dir, `${name}.journal.json`),
        '--yes',
        ...auth,
        '--json',
      ],
      env,
      240_000,
    );

  it('without credentials: restored, the checks say it requires authentication; --resume with them verifies', async () => {
    const r = await restore('bare', []);
    expect(r.code, r.stderr).toBe(1);
    expect(r.json.error.code).toBe('VERIFY_FAILED');
    const checks = r.json.error.checks as { name: string; ok: boolean; message: string }[];
    expect(checks.filter((x) => !x.ok).map((x) => x.name)).toEqual(['key-count', 'hashkv']);
    expect(checks.find((x) => x.name === 'hashkv')!.message).toContain('requires authentication');
    // what the message says to do: fix the cause (the credentials) and resume
    const resumed = await runDr(
      [
        'restore',
        '--resume',
        path.join(dir, 'bare.journal.json'),
        '--user',
        'root',
        '--password-file',
        pw,
        '--json',
      ],
      env,
      240_000,
    );
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.json.ok).toBe(true);
    expect(resumed.stdout + resumed.stderr).not.toContain(rootPassword);
  });

  it('with --user root --password-file: verified, and the password is written nowhere', async () => {
    const r = await restore('authed', ['--user', 'root', '--password-file', pw]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.ok).toBe(true);
    expect(r.json.verification.keyCount).toBe(5);
    expect(r.stdout + r.stderr).not.toContain(rootPassword);
    expect(readFileSync(path.join(dir, 'authed.journal.json'), 'utf8')).not.toContain(rootPassword);
    for (const f of filesBelow(path.join(dir, 'store')))
      expect(readFileSync(path.join(dir, 'store', f), 'latin1')).not.toContain(rootPassword);
  });
});
