/**
 * `dr log follow` against secured clusters, with the connection flags every command takes: mTLS
 * (--cacert/--cert/--key), and auth (root by password file; a user that may read only one prefix is
 * refused by etcd's watch: exit 3 ETCD_PERMISSION_DENIED, nothing stored, no password in the output).
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseLogKey } from '../../src/revlog/layout.js';
import { makeTestCerts, mtlsClient, mtlsServer, type TestCerts } from '../helpers/certs.js';
import { filesBelow, runDr, spawnDr } from '../helpers/dr.js';
import { startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/until.js';

function committedUpTo(store: string, cluster: string): bigint {
  let top = 0n;
  for (const f of filesBelow(store)) {
    const at = parseLogKey(f);
    if (at?.kind === 'segment-manifest' && at.cluster === cluster && at.last > top) top = at.last;
  }
  return top;
}

/** Follows until `rev` is committed, then SIGTERM; returns the exit and output. */
async function followUntil(
  args: string[],
  env: Record<string, string>,
  store: string,
  write: () => Promise<bigint>,
) {
  const child: ChildProcess = spawnDr(
    ['log', 'follow', '--cluster-name', 's', '--segment-seconds', '1', ...args],
    env,
  );
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
  try {
    const rev = await write();
    await until('committed', () => committedUpTo(store, 's') >= rev, 30_000);
    child.kill('SIGTERM');
    return { code: await closed, stdout, stderr, rev };
  } finally {
    child.kill('SIGKILL');
  }
}

const revisionOf = (out: string) => BigInt(/"revision":(\d+)/.exec(out)![1]!);

describe('dr log follow: an etcd with --client-cert-auth', () => {
  let certs: TestCerts;
  let c: TestCluster;
  let dir: string;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('dr-revlog-tls-'));
    certs = await makeTestCerts();
    c = await startTestCluster({ size: 1, tls: mtlsServer(certs), clientTls: mtlsClient(certs) });
  });
  afterAll(async () => {
    await c?.stop();
    await certs?.cleanup();
    await cleanup?.();
  });

  it('follows over mTLS with --cacert/--cert/--key, and inspect log shows the write', async () => {
    const store = path.join(dir, 'store');
    await mkdir(store);
    const env = { DR_STORAGE: `file://${store}`, DR_CATALOG: path.join(dir, 'catalog.sqlite') };
    const start = revisionOf(await c.etcdctl(['put', '/secure/start', '1', '-w', 'json'])) + 1n;
    const tls = ['--cacert', certs.caFile, '--cert', certs.clientCertFile, '--key', certs.clientKeyFile];
    const r = await followUntil(
      ['--endpoints', c.endpoints[0]!, ...tls, '--from-rev', start.toString()],
      env,
      store,
      async () => revisionOf(await c.etcdctl(['put', '/secure/a', 'tls', '-w', 'json'])),
    );
    expect(r.code, r.stderr).toBe(0);
    const i = await runDr(['inspect', 'log', '--cluster', 's', '--json'], env);
    expect(i.code, i.stderr).toBe(0);
    expect(i.json.changes.map((x: { key: string; revision: string }) => [x.key, x.revision])).toEqual([
      ['/secure/a', r.rev.toString()],
    ]);
  });
});

describe('dr log follow: an etcd with auth', () => {
  let c: TestCluster;
  let dir: string;
  let cleanup: () => Promise<void>;
  const rootPassword = 'root-pw-revlog-8812';

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('dr-revlog-auth-'));
    c = await startTestCluster({
      size: 1,
      auth: { rootPassword, restrictedUser: { name: 'app', password: 'app-pw-7731', prefix: '/app/' } },
    });
  });
  afterAll(async () => {
    await c?.stop();
    await cleanup?.();
  });

  it('follows as root with --password-file; the password is printed nowhere', async () => {
    const store = path.join(dir, 'store-root');
    await mkdir(store);
    const env = {
      DR_STORAGE: `file://${store}`,
      DR_CATALOG: path.join(dir, 'catalog.sqlite'),
      DR_LOG_LEVEL: 'debug',
    };
    const pw = path.join(dir, 'root.pw');
    await writeFile(pw, `${rootPassword}\n`, { mode: 0o600 });
    const start = revisionOf(await c.etcdctl(['put', '/app/start', '1', '-w', 'json'])) + 1n;
    // the base of a point in time, taken as root
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
        's',
        '--json',
      ],
      env,
    );
    expect(b.code, b.stderr).toBe(0);
    expect(b.json.snapshot.revision).toBe((start - 1n).toString());
    const r = await followUntil(
      [
        '--endpoints',
        c.endpoints[0]!,
        '--user',
        'root',
        '--password-file',
        pw,
        '--from-rev',
        start.toString(),
        '--checkpoint-every',
        '1',
      ],
      env,
      store,
      async () => revisionOf(await c.etcdctl(['put', '/app/b', '2', '-w', 'json'])),
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).not.toContain(rootPassword);
    expect(committedUpTo(store, 's')).toBe(r.rev);

    // a point in time of a cluster with auth enabled: the replay member keeps auth on, dr is its root by a
    // private client certificate (no password given here), and the users and roles come out as they were
    const out = path.join(dir, 'pit.db');
    const pit = await runDr(
      ['fetch', '--revision', r.rev.toString(), '--cluster-name', 's', '--out', out, '--json'],
      env,
    );
    expect(pit.code, pit.stderr).toBe(0);
    expect(pit.stdout).toContain('"authEnabled": true');
    expect(existsSync(out)).toBe(true);
    expect(readdirSync(path.join(dir, 'replays')).filter((f) => f.startsWith('dr-replay-'))).toEqual([]);
    const db = await runDr(['inspect', 'db', out, '--json'], env);
    expect(db.code, db.stderr).toBe(0);
    // root and app, and their roles (root, and app's prefix role), as the base held them
    expect(db.json.auth).toMatchObject({ enabled: true, users: 2, roles: 2 });
    const keys = await runDr(['inspect', 'keys', out, '--prefix', '/app/', '--json'], env);
    expect(keys.code, keys.stderr).toBe(0);
    expect(JSON.stringify(keys.json)).toContain('/app/b');

    // a drill of that point in time: the drilled cluster keeps the base's users and auth, and dr verifies its
    // key count and HashKV as root by the drill's own client certificate, with no password given
    const d = await runDr(
      ['drill', '--revision', r.rev.toString(), '--cluster-name', 's', '--work-dir', dir, '--json'],
      env,
      240_000,
    );
    expect(d.code, d.stderr).toBe(0);
    expect(d.json.ok).toBe(true);
    expect(d.json.found.revision).toBe(r.rev.toString());
    expect(d.json.found.keys).toBe(d.json.expected.keys);
    expect(d.json.found.hashKV).toBe(d.json.expected.hashKV);
  });

  it('a user that may not read every key is refused: exit 3 ETCD_PERMISSION_DENIED, nothing stored', async () => {
    const store = path.join(dir, 'store-app');
    await mkdir(store);
    const env = { DR_STORAGE: `file://${store}`, DR_CATALOG: path.join(dir, 'catalog.sqlite') };
    const r = await runDr(
      [
        'log',
        'follow',
        '--endpoints',
        c.endpoints[0]!,
        '--user',
        'app:app-pw-7731',
        '--cluster-name',
        's',
        '--from-rev',
        '1',
        '--json',
      ],
      env,
      60_000,
    );
    expect(r.code, r.stderr).toBe(3);
    expect(r.json.error.code).toBe('ETCD_PERMISSION_DENIED');
    expect(r.json.error.message).toMatch(/read every key/);
    expect(r.stdout + r.stderr).not.toContain('app-pw-7731');
    expect(filesBelow(store)).toEqual([]);
  });
});
