/**
 * `dr backup --config FILE --cluster NAME` against a real etcd with mTLS (--client-cert-auth) and auth:
 * the connection (endpoints, CA, client certificate, user, password file) comes from the config file
 * alone. A config that cannot be used is a configuration error (exit 2, CONFIG_INVALID) naming
 * file:line and the field; `dr config validate` lists every error of a bad file.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestCerts, type TestCerts, mtlsServer } from '../helpers/certs.js';
import { filesBelow, runDr } from '../helpers/dr.js';
import { startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';
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

/** 1-based line of the first line of text containing needle. */
function lineOf(text: string, needle: string): number {
  const i = text.split('\n').findIndex((l) => l.includes(needle));
  if (i < 0) throw new Error(`${needle} not in the config text`);
  return i + 1;
}

describe('dr backup --config FILE --cluster NAME (mTLS + auth from the config)', () => {
  const rootPassword = 'cfg-r00t-4b7e';
  let certs: TestCerts;
  let c: TestCluster;
  let dir: string;
  let cleanup: () => Promise<void>;
  let env: Record<string, string>;

  /** A config naming the secure cluster; paths relative to the config file's directory. */
  function configText(passwordFile: string): string {
    return [
      '# written by config-cluster.test.ts',
      'version: 1',
      'clusters:',
      '  - name: secure',
      `    endpoints: [${c.endpoints.join(', ')}]`,
      '    tls:',
      `      caFile: ${path.relative(dir, certs.caFile)}`,
      `      certFile: ${path.relative(dir, certs.clientCertFile)}`,
      `      keyFile: ${path.relative(dir, certs.clientKeyFile)}`,
      '    auth:',
      '      user: root',
      `      passwordFile: ${passwordFile}`,
      '    dialTimeoutMs: 3000',
      'storage:',
      '  - name: local',
      '    url: file://./store',
      '',
    ].join('\n');
  }

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir());
    certs = await makeTestCerts();
    c = await startTestCluster({
      size: 1,
      tls: mtlsServer(certs),
      auth: { rootPassword },
    });
    await c.etcdctl(['put', '/cfg/a', '1']);
    await writeFile(path.join(dir, 'root.pw'), `${rootPassword}\n`, { mode: 0o600 });
    env = { DR_CATALOG: path.join(dir, 'catalog.sqlite') };
  });
  afterAll(async () => {
    await c?.stop();
    await certs?.cleanup();
    await cleanup?.();
  });

  it('takes the backup with the endpoints, TLS files and password file of the config', async () => {
    const file = path.join(dir, 'dr.yaml');
    await writeFile(file, configText('root.pw'));
    const store = path.join(dir, 'out');
    const r = await runDr(
      ['backup', '--config', file, '--cluster', 'secure', '--storage', `file://${store}`, '--json'],
      env,
    );
    expect(withoutDep0123(r.stderr)).toBe('');
    expect(r.code).toBe(0);
    expect(r.json.clusterName).toBe('secure');
    expect(new URL(r.json.source.endpoint).origin).toBe(c.endpoints[0]);
    expect(filesBelow(store)).toEqual([`secure/${r.json.id}.db.zst`, `secure/${r.json.id}.manifest.json`]);
    expect(r.stdout).not.toContain(rootPassword);
  });

  it('flags given explicitly win over the config: a wrong --user password fails auth (exit 3)', async () => {
    const file = path.join(dir, 'dr.yaml');
    const store = path.join(dir, 'out-wrong');
    const r = await runDr(
      [
        'backup',
        '--config',
        file,
        '--cluster',
        'secure',
        '--user',
        'root:not-it-8812',
        '--storage',
        `file://${store}`,
        '--json',
      ],
      env,
    );
    expect(r.code).toBe(3);
    expect(r.json.error.code).toBe('ETCD_AUTH_FAILED');
    expect(r.stdout + r.stderr).not.toContain('not-it-8812');
    expect(filesBelow(store)).toEqual([]);
  });

  it('a missing password file: exit 2 CONFIG_INVALID naming file:line and the field, etcd never asked', async () => {
    const file = path.join(dir, 'missing-pw.yaml');
    const text = configText('no-such.pw');
    await writeFile(file, text);
    const store = path.join(dir, 'out-missing');
    const r = await runDr(
      ['backup', '--config', file, '--cluster', 'secure', '--storage', `file://${store}`, '--json'],
      env,
    );
    expect(r.code).toBe(2);
    expect(r.json.error.code).toBe('CONFIG_INVALID');
    expect(r.json.error.message).toContain(`${file}:${lineOf(text, 'passwordFile:')}:`);
    expect(r.json.error.message).toContain('clusters[0].auth.passwordFile');
    expect(r.json.error.message).toContain('no-such.pw');
    expect(filesBelow(store)).toEqual([]);
    const human = await runDr(
      ['backup', '--config', file, '--cluster', 'secure', '--storage', `file://${store}`],
      env,
    );
    expect(human.code).toBe(2);
    expect(human.stderr).toMatch(/^dr: error CONFIG_INVALID: /);
    expect(human.stderr).toContain(`${file}:${lineOf(text, 'passwordFile:')}:`);
  });

  it('an unknown --cluster name: exit 2 CONFIG_INVALID listing the clusters there are', async () => {
    const r = await runDr(
      [
        'backup',
        '--config',
        path.join(dir, 'dr.yaml'),
        '--cluster',
        'prod',
        '--storage',
        `file://${dir}/x`,
        '--json',
      ],
      env,
    );
    expect(r.code).toBe(2);
    expect(r.json.error.code).toBe('CONFIG_INVALID');
    expect(r.json.error.message).toMatch(/"prod"/);
    expect(r.json.error.message).toContain('secure');
  });

  it('dr config validate: a good file is summarised; a bad file lists every error with file:line and field', async () => {
    const good = await runDr(['config', 'validate', path.join(dir, 'dr.yaml'), '--json'], env);
    expect(good.code).toBe(0);
    expect(good.json.ok).toBe(true);
    expect(good.json.clusters).toHaveLength(1);
    expect(good.json.clusters[0].name).toBe('secure');
    expect(good.json.clusters[0].endpoints.map((e: string) => new URL(e).origin)).toEqual(c.endpoints);
    expect(good.stdout).not.toContain(rootPassword);

    const file = path.join(dir, 'bad.yaml');
    const text = [
      'version: 1',
      'clusters:',
      '  - name: secure',
      `    endpoints: [${c.endpoints[0]}]`,
      '    auth:',
      '      user: root',
      '      passwordFile: gone.pw',
      '    snapshotFrom: sideways',
      '    colour: blue',
      'storage:',
      '  - name: local',
      '    url: file://./store',
      'policies:',
      '  - name: nightly',
      '    cluster: nowhere',
      '    schedule: "* * *"',
      '    storage: [local]',
      '',
    ].join('\n');
    await writeFile(file, text);
    const r = await runDr(['config', 'validate', file, '--json'], env);
    expect(r.code).toBe(2);
    expect(r.json.ok).toBe(false);
    expect(r.json.error.code).toBe('CONFIG_INVALID');
    const got = (r.json.errors as { file: string; line: number; path: string }[]).map((e) => [
      e.line,
      e.path,
    ]);
    expect(got).toEqual(
      expect.arrayContaining([
        [lineOf(text, 'passwordFile:'), 'clusters[0].auth.passwordFile'],
        [lineOf(text, 'snapshotFrom:'), 'clusters[0].snapshotFrom'],
        [lineOf(text, 'colour:'), 'clusters[0].colour'],
        [lineOf(text, 'cluster: nowhere'), 'policies[0].cluster'],
        [lineOf(text, 'schedule:'), 'policies[0].schedule'],
      ]),
    );
    expect(got).toHaveLength(5);
    expect(r.json.errors.every((e: { file: string }) => e.file === file)).toBe(true);
    const human = await runDr(['config', 'validate', file], env);
    expect(human.code).toBe(2);
    const lines = human.stderr.trim().split('\n');
    expect(lines).toHaveLength(6);
    expect(lines[5]).toBe('5 errors');
    for (const l of lines.slice(0, 5))
      expect(l).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: \\S+: `));
  });
});
