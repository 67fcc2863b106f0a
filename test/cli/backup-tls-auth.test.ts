/**
 * `dr backup` against secured clusters: an etcd started with --client-cert-auth and certificates made by
 * openssl (right files, wrong CA, a client certificate from another CA, no client certificate), and a
 * cluster with auth enabled (root by password file and by user:password, a wrong password, a user whose
 * role may not snapshot). Each failure: exit 3 with its code, naming the endpoint, nothing stored, and
 * no password anywhere in the output.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestCerts, type TestCerts, mtlsServer, mtlsClient } from '../helpers/certs.js';
import { filesBelow, runDr } from '../helpers/dr.js';
import { startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';
import { etcdAtLeast } from '../helpers/etcd-version.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * grpc-js sets the TLS servername to the endpoint's host even when it is an IP address, and Node warns
 * about it once per process (DEP0123; grpc/grpc-node#1919). That is not dr's output: strip exactly it.
 */
function withoutDep0123(stderr: string): string {
  return stderr.replace(
    /\(node:\d+\) \[DEP0123\] DeprecationWarning: Setting the TLS ServerName to an IP address[^\n]*\n(\(Use `node --trace-deprecation[^\n]*\n)?/,
    '',
  );
}

describe('dr backup: an etcd with --client-cert-auth', () => {
  let certs: TestCerts;
  let c: TestCluster;
  let dir: string;
  let cleanup: () => Promise<void>;
  let n = 0;

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir());
    certs = await makeTestCerts();
    c = await startTestCluster({
      size: 1,
      tls: mtlsServer(certs),
      clientTls: mtlsClient(certs),
    });
    await c.etcdctl(['put', '/secure/a', '1']);
  });
  afterAll(async () => {
    await c?.stop();
    await certs?.cleanup();
    await cleanup?.();
  });

  /** A fresh storage dir per run, so "nothing stored" is about this run alone. */
  async function backup(tls: string[]) {
    const store = path.join(dir, `store-${n++}`);
    const r = await runDr(
      [
        'backup',
        '--endpoints',
        c.endpoints[0]!,
        ...tls,
        '--storage',
        `file://${store}`,
        '--dial-timeout',
        '3000',
        '--json',
      ],
      { DR_CATALOG: path.join(dir, 'catalog.sqlite') },
      60_000,
    );
    return { ...r, stored: filesBelow(store) };
  }

  it('works with --cacert/--cert/--key', async () => {
    expect(c.endpoints[0]).toMatch(/^https:/);
    const r = await backup([
      '--cacert',
      certs.caFile,
      '--cert',
      certs.clientCertFile,
      '--key',
      certs.clientKeyFile,
    ]);
    expect(withoutDep0123(r.stderr)).toBe('');
    expect(r.code).toBe(0);
    expect(new URL(r.json.source.endpoint).origin).toBe(c.endpoints[0]);
    expect(r.stored).toEqual([`default/${r.json.id}.db.zst`, `default/${r.json.id}.manifest.json`]);
  });

  it('a CA that did not sign the server certificate: exit 3 ETCD_TLS_FAILED naming the endpoint', async () => {
    const r = await backup([
      '--cacert',
      certs.otherCaFile,
      '--cert',
      certs.clientCertFile,
      '--key',
      certs.clientKeyFile,
    ]);
    expect(r.code).toBe(3);
    expect(r.json.error.code).toBe('ETCD_TLS_FAILED');
    expect(r.json.error.message).toContain(c.endpoints[0]!.replace(/^https:\/\//, ''));
    expect(r.json.error.message).toMatch(/not signed by the given CA \(--cacert\): unable to verify/);
    expect(r.json.error.message).not.toMatch(/Resolution note|Last error/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.stored).toEqual([]);
  });

  it('a client certificate signed by another CA: exit 3, nothing stored', async () => {
    const r = await backup([
      '--cacert',
      certs.caFile,
      '--cert',
      certs.otherClientCertFile,
      '--key',
      certs.otherClientKeyFile,
    ]);
    expect(r.code).toBe(3);
    expect(r.json.error.code).toBe('ETCD_TLS_FAILED');
    // etcd 3.4 answers with TLS alert 42 (bad certificate), 3.5 (a newer Go) with 48 (unknown ca): the
    // hint names the refused client certificate either way
    expect(r.json.error.message).toMatch(/refused the client certificate/);
    expect(r.json.error.message).toMatch(
      etcdAtLeast(3, 5) ? /not signed by a CA the server trusts.*unknown ca/ : /bad certificate/,
    );
    expect(r.json.error.message).toContain(c.endpoints[0]!.replace(/^https:\/\//, ''));
    expect(r.stored).toEqual([]);
  });

  it('no client certificate: exit 3, nothing stored', async () => {
    const r = await backup(['--cacert', certs.caFile]);
    expect(r.code).toBe(3);
    expect(r.json.error.code).toBe('ETCD_TLS_FAILED');
    expect(r.json.error.message).toMatch(/refused the client certificate, or none was given/);
    expect(r.json.error.message).toContain(c.endpoints[0]!.replace(/^https:\/\//, ''));
    expect(r.stored).toEqual([]);
  });
});

describe('dr backup: a cluster with auth enabled', () => {
  const rootPassword = 'r00t-Pa55-7c1e';
  const wrongPassword = 'wr0ng-Pa55-91d2';
  let c: TestCluster;
  let dir: string;
  let cleanup: () => Promise<void>;
  let rootFile: string;
  let wrongFile: string;
  let n = 0;

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir());
    c = await startTestCluster({
      size: 1,
      auth: { rootPassword, restrictedUser: { name: 'app', password: 'app-pw-5521', prefix: '/app/' } },
    });
    rootFile = path.join(dir, 'root.pw');
    wrongFile = path.join(dir, 'wrong.pw');
    await writeFile(rootFile, `${rootPassword}\n`, { mode: 0o600 });
    await writeFile(wrongFile, `${wrongPassword}\n`, { mode: 0o600 });
    await c.etcdctl(['put', '/app/x', '1']);
  });
  afterAll(async () => {
    await c?.stop();
    await cleanup?.();
  });

  async function backup(auth: string[], logLevel = 'warn') {
    const store = path.join(dir, `store-${n++}`);
    const r = await runDr(
      ['backup', '--endpoints', c.endpoints[0]!, ...auth, '--storage', `file://${store}`, '--json'],
      { DR_CATALOG: path.join(dir, 'catalog.sqlite'), DR_LOG_LEVEL: logLevel },
      60_000,
    );
    return { ...r, stored: filesBelow(store) };
  }

  it('root with --user root --password-file F works; the password is not printed even at debug', async () => {
    const r = await backup(['--user', 'root', '--password-file', rootFile], 'debug');
    expect(r.code).toBe(0);
    expect(r.json.snapshot.totalKeys).toBeGreaterThan(0);
    expect(r.stored).toHaveLength(2);
    expect(r.stdout + r.stderr).not.toContain(rootPassword);
  });

  it('--user root:password works too', async () => {
    const r = await backup(['--user', `root:${rootPassword}`]);
    expect(r.code).toBe(0);
    expect(r.stored).toEqual([`default/${r.json.id}.db.zst`, `default/${r.json.id}.manifest.json`]);
    expect(r.stdout).not.toContain(rootPassword);
  });

  it('a wrong password: exit 3 ETCD_AUTH_FAILED, the password nowhere in the output, nothing stored', async () => {
    for (const auth of [
      ['--user', 'root', '--password-file', wrongFile],
      ['--user', `root:${wrongPassword}`],
    ]) {
      const r = await backup(auth, 'debug');
      expect(r.code, auth.join(' ')).toBe(3);
      expect(r.json.error.code).toBe('ETCD_AUTH_FAILED');
      expect(r.json.error.message).toContain(c.endpoints[0]!.replace(/^http:\/\//, ''));
      expect(r.stdout + r.stderr).not.toContain(wrongPassword);
      expect(r.stdout + r.stderr).not.toContain(rootPassword);
      expect(r.stored).toEqual([]);
    }
    // the human form too
    const store = path.join(dir, 'store-human');
    const h = await runDr(
      [
        'backup',
        '--endpoints',
        c.endpoints[0]!,
        '--user',
        `root:${wrongPassword}`,
        '--storage',
        `file://${store}`,
      ],
      { DR_CATALOG: path.join(dir, 'catalog.sqlite'), DR_LOG_LEVEL: 'debug' },
    );
    expect(h.code).toBe(3);
    expect(h.stderr).toMatch(/ETCD_AUTH_FAILED/);
    expect(h.stdout + h.stderr).not.toContain(wrongPassword);
    expect(filesBelow(store)).toEqual([]);
  });

  it('an unreadable --password-file: exit 2 naming the flag and the file, etcd never asked', async () => {
    const missing = path.join(dir, 'no-such.pw');
    const r = await backup(['--user', 'root', '--password-file', missing]);
    expect(r.code).toBe(2);
    expect(r.json.error.message).toContain('--password-file');
    expect(r.json.error.message).toContain(missing);
    expect(r.stored).toEqual([]);
  });

  it('a user whose role may not snapshot: exit 3 ETCD_PERMISSION_DENIED, nothing stored', async () => {
    const pw = path.join(dir, 'app.pw');
    await writeFile(pw, 'app-pw-5521');
    const r = await backup(['--user', 'app', '--password-file', pw]);
    expect(r.code).toBe(3);
    expect(r.json.error.code).toBe('ETCD_PERMISSION_DENIED');
    expect(r.stdout + r.stderr).not.toContain('app-pw-5521');
    expect(r.stored).toEqual([]);
  });
});
