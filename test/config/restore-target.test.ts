/**
 * One members schema: a cluster's `restore:` block (the members file's shape) or its short form `members:`
 * in the dr config, with file:line:column errors; the shipped examples validate and carry a target; and
 * `dr restore --to new-cluster --config FILE --cluster NAME` restores a real cluster from it.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, parseConfigText, validateConfigText } from '../../src/config/load.js';
import { runDr } from '../helpers/dr.js';
import { startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';
import { freePorts } from '../helpers/ports.js';
import { tempDir } from '../helpers/tmp.js';
import { etcdctl, stopLocal } from '../restore/helpers.js';

const POLICIES = path.resolve(import.meta.dirname, '../../policies');

const member = (name: string, i: number, extra = '') => `
        - name: ${name}
          peerURLs: [https://10.0.0.${i}:2380]
          clientURLs: [https://10.0.0.${i}:2379]
          dataDir: /var/lib/etcd
          tls: { caFile: /pki/ca.pem, certFile: /pki/s.pem, keyFile: /pki/s-key.pem, clientCertAuth: true }
          peerTls: { caFile: /pki/ca.pem, certFile: /pki/p.pem, keyFile: /pki/p-key.pem }
          control: { type: systemd, unit: etcd.service, ssh: "ssh root@10.0.0.${i}" }${extra}`;

const config = (clusterExtra: string) => `clusters:
  - name: main
    endpoints: [10.0.0.1:2379, https://10.0.0.2:2379]
    tls: { caFile: pki/ca.pem, certFile: pki/dr.pem, keyFile: pki/dr-key.pem }
${clusterExtra}
storage:
  - name: disk
    url: file:///var/backups/etcd
`;

const errorsOf = (text: string): string[] => {
  const r = validateConfigText(text, 'dr.yaml', { offline: true, baseDir: '/etc/etcd-dr' });
  return r.ok ? [] : r.errors.map((e) => `${e.file}:${e.line}:${e.column}: ${e.path}: ${e.message}`);
};

describe('config: a cluster restore target', () => {
  it("restore: is a members file; clientTls and oldCluster default to the cluster's", () => {
    const c = parseConfigText(
      config(
        `    restore:\n      timing: { heartbeatInterval: 250, electionTimeout: 2500 }\n      members:${member('a', 1)}${member('b', 2)}`,
      ),
      'dr.yaml',
      {
        offline: true,
        baseDir: '/etc/etcd-dr',
      },
    );
    const t = c.clusters[0]!.restoreTarget!;
    expect(t.members.map((m) => m.name)).toEqual(['a', 'b']);
    expect(t.members[0]!.control).toEqual({
      type: 'systemd',
      unit: 'etcd.service',
      ssh: 'ssh root@10.0.0.1',
    });
    expect(t.timing).toEqual({ heartbeatInterval: 250, electionTimeout: 2500 });
    expect(t.clientTls).toEqual({
      caFile: '/etc/etcd-dr/pki/ca.pem',
      certFile: '/etc/etcd-dr/pki/dr.pem',
      keyFile: '/etc/etcd-dr/pki/dr-key.pem',
    });
    expect(t.oldCluster).toEqual({ endpoints: ['https://10.0.0.1:2379', 'https://10.0.0.2:2379'] });
  });

  it('members: directly under the cluster is the short form', () => {
    const c = parseConfigText(config(`    members:${member('a', 1).replace(/^ {2}/gm, '')}`), 'dr.yaml', {
      offline: true,
    });
    expect(c.clusters[0]!.restoreTarget!.members[0]!.name).toBe('a');
    expect(c.clusters[0]!.restoreTarget!.binaries).toEqual({});
    expect(parseConfigText(config(''), 'dr.yaml', { offline: true }).clusters[0]!.restoreTarget).toBeNull();
  });

  it('reports member errors with file:line:column and the field path, like a members file', () => {
    const errors = errorsOf(
      config(
        `    restore:\n      members:${member('a', 1)}${member('b', 2, '\n          colour: red').replace('https://10.0.0.2:2380', 'https://10.0.0.2:2380/x')}`,
      ),
    );
    expect(errors).toEqual([
      expect.stringMatching(
        /^dr\.yaml:15:22: clusters\[0\]\.restore\.members\[1\]\.peerURLs\[0\]: must look like http\(s\):\/\/host:port/,
      ),
      expect.stringMatching(
        /^dr\.yaml:21:11: clusters\[0\]\.restore\.members\[1\]\.colour: unknown option "colour"/,
      ),
    ]);
    // checks between members run on the short form too, and a member that checks client certificates
    // needs dr's certificate (the cluster's tls when restore.clientTls is absent)
    const dup = errorsOf(
      config(`    members:${member('a', 1).replace(/^ {2}/gm, '')}${member('a', 2).replace(/^ {2}/gm, '')}`),
    );
    expect(dup).toEqual([
      expect.stringMatching(
        /^dr\.yaml:13:15: clusters\[0\]\.members\[1\]\.name: name a is also used by member "a"/,
      ),
    ]);
    const noCert = errorsOf(
      config(`    restore:\n      members:${member('a', 1)}`).replace(
        'tls: { caFile: pki/ca.pem, certFile: pki/dr.pem, keyFile: pki/dr-key.pem }',
        'tls: { caFile: pki/ca.pem }',
      ),
    );
    expect(noCert).toEqual([
      expect.stringMatching(
        /clusters\[0\]\.restore\.members\[0\]\.tls\.clientCertAuth: the member requires client certificates/,
      ),
    ]);
    const both = errorsOf(
      config(
        `    members:${member('a', 1).replace(/^ {2}/gm, '')}\n    restore:\n      members:${member('b', 2)}`,
      ),
    );
    expect(both).toEqual([expect.stringMatching(/clusters\[0\]\.members: give the restore target once/)]);
  });

  it('the shipped examples validate and carry their restore targets', () => {
    const systemd = loadConfig(path.join(POLICIES, 'systemd-mtls-3-member.yaml'), { offline: true });
    const t = systemd.clusters[0]!.restoreTarget!;
    expect(
      t.members.map((m) => [m.name, m.control.type, m.tls?.clientCertAuth, m.peerTls?.certFile]),
    ).toEqual([
      ['etcd-1', 'systemd', true, '/etc/etcd/pki/peer.pem'],
      ['etcd-2', 'systemd', true, '/etc/etcd/pki/peer.pem'],
      ['etcd-3', 'systemd', true, '/etc/etcd/pki/peer.pem'],
    ]);
    expect(t.clientTls?.certFile).toBe('/etc/etcd-dr/pki/etcd-dr-client.pem');
    const k8s = loadConfig(path.join(POLICIES, 'kubernetes-control-plane.yaml'), { offline: true });
    expect(k8s.clusters[0]!.restoreTarget!.members).toHaveLength(3);
  });
});

describe('dr restore --config FILE --cluster NAME', () => {
  let old: TestCluster;
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let file: string;
  let target: ReturnType<typeof loadConfig>['clusters'][number]['restoreTarget'];

  beforeAll(async () => {
    [old, tmp] = await Promise.all([startTestCluster({ size: 1 }), tempDir('dr-restore-config-')]);
    for (let i = 0; i < 8; i++) await old.etcdctl(['put', `/registry/pods/p${i}`, `v${i}`]);
    const [client, peer] = await freePorts(2);
    mkdirSync(path.join(tmp.dir, 'new'));
    file = path.join(tmp.dir, 'dr.yaml');
    writeFileSync(
      file,
      `clusters:
  - name: prod
    endpoints: [${old.endpoints.map((e) => JSON.stringify(e)).join(', ')}]
    restore:
      members:
        - name: restored-1
          peerURLs: [http://127.0.0.1:${peer}]
          clientURLs: [http://127.0.0.1:${client}]
          dataDir: ${path.join(tmp.dir, 'new', 'restored-1')}
          control: { type: local }
storage:
  - name: disk
    url: ${pathToFileURL(path.join(tmp.dir, 'store')).href}
catalog:
  path: ./catalog.sqlite
`,
    );
    target = loadConfig(file, { offline: true }).clusters[0]!.restoreTarget;
  });
  afterAll(async () => {
    await stopLocal(target ?? undefined);
    await old?.stop();
    await tmp?.cleanup();
  });

  it('plans and restores the cluster named in the config, from its storage and its backups', async () => {
    const b = await runDr(['backup', '--config', file, '--cluster', 'prod', '--json']);
    expect(b.code, b.stderr).toBe(0);
    expect(b.json.clusterName).toBe('prod');
    // while the old cluster answers, the plan refuses
    const dry = await runDr([
      'restore',
      '--to',
      'new-cluster',
      '--config',
      file,
      '--cluster',
      'prod',
      '--backup',
      'latest',
      '--dry-run',
      '--json',
    ]);
    expect(dry.code).toBe(2);
    expect(dry.json.refusals.map((r: { code: string }) => r.code)).toEqual(['OLD_CLUSTER_HEALTHY']);
    expect(dry.json.backup.id).toBe(b.json.id);
    await old.kill(0);
    const r = await runDr(
      [
        'restore',
        '--to',
        'new-cluster',
        '--config',
        file,
        '--cluster',
        'prod',
        '--backup',
        'latest',
        '--yes',
        '--json',
      ],
      {},
      180_000,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.ok).toBe(true);
    expect(r.json.verification.revision).toBe(b.json.snapshot.revision);
    expect(
      etcdctl([target!.members[0]!.clientURLs[0]!], 'get', '/registry/pods/p5', '--print-value-only').trim(),
    ).toBe('v5');
  });

  it('refuses a cluster without a target, an unknown cluster, and half the flags', async () => {
    const noTarget = path.join(tmp.dir, 'plain.yaml');
    writeFileSync(
      noTarget,
      `clusters:\n  - name: plain\n    endpoints: [127.0.0.1:1]\nstorage:\n  - name: disk\n    url: ${pathToFileURL(path.join(tmp.dir, 'store')).href}\n`,
    );
    const none = await runDr([
      'restore',
      '--to',
      'new-cluster',
      '--config',
      noTarget,
      '--cluster',
      'plain',
      '--backup',
      'latest',
      '--dry-run',
    ]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('cluster "plain" in');
    expect(none.stderr).toContain('has no restore target');
    const unknown = await runDr([
      'restore',
      '--to',
      'new-cluster',
      '--config',
      file,
      '--cluster',
      'nope',
      '--backup',
      'latest',
      '--dry-run',
    ]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('has no cluster "nope"');
    const half = await runDr([
      'restore',
      '--to',
      'new-cluster',
      '--config',
      file,
      '--backup',
      'latest',
      '--dry-run',
    ]);
    expect(half.code).toBe(2);
    expect(half.stderr).toContain('--config and --cluster go together');
  });
});
