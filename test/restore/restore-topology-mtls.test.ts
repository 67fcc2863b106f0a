/**
 * The production topology end to end, through the built CLI: a 3-member cluster with mutual TLS on its
 * client AND peer URLs (an openssl CA, certificates with IP SANs), backed up by `dr backup` over mTLS,
 * destroyed (killed, data dirs deleted), then `dr restore --to new-cluster` to new member names and new
 * ports with mTLS on both URLs (`tls:` + `peerTls:` + `clientTls:`), verified by dr and by etcdctl over
 * mTLS. The old cluster is started by etcd's own flags here (not by dr's local control), so the command
 * dr builds is checked against etcd, not against itself.
 */
import { execFile } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMember, stopMember, type RunningMember } from '../../src/etcd/member-process.js';
import { parseMembersYaml, type MembersFile } from '../../src/config/members-file.js';
import { healthProbe } from '../../src/restore/probe.js';
import { makeTestCerts, mtlsServer, type TestCerts } from '../helpers/certs.js';
import { runDr } from '../helpers/dr.js';
import { freePorts } from '../helpers/ports.js';
import { tempDir } from '../helpers/tmp.js';
import { stopLocal } from './helpers.js';

const execFileAsync = promisify(execFile);

describe('restore of a 3-member cluster with mTLS on client and peer URLs (CLI, file:// backup)', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let certs: TestCerts;
  let old: RunningMember[] = [];
  let oldEps: string[];
  let target: MembersFile | undefined;
  let env: Record<string, string>;
  let tlsFlags: string[];

  async function etcdctl(endpoints: string[], ...args: string[]): Promise<string> {
    const { stdout } = await execFileAsync(
      'etcdctl',
      ['--endpoints', endpoints.join(','), ...tlsFlags, '--command-timeout', '20s', ...args],
      { env: { ...process.env, ETCDCTL_API: '3' }, maxBuffer: 16 * 1024 * 1024 },
    );
    return stdout;
  }

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('dr-topology-'));
    certs = await makeTestCerts();
    tlsFlags = ['--cacert', certs.caFile, '--cert', certs.clientCertFile, '--key', certs.clientKeyFile];
    env = {
      DR_STORAGE: `file://${path.join(dir, 'store')}`,
      DR_CATALOG: path.join(dir, 'state', 'catalog.sqlite'),
    };
    // the old cluster: https client and peer URLs, client certificates required on both
    const ports = await freePorts(6);
    const names = ['old-a', 'old-b', 'old-c'];
    const peer = (i: number) => `https://127.0.0.1:${ports[2 * i + 1]}`;
    const initialCluster = names.map((n, i) => `${n}=${peer(i)}`).join(',');
    old = names.map((name, i) =>
      startMember({
        name,
        dataDir: path.join(dir, name),
        clientUrl: `https://127.0.0.1:${ports[2 * i]}`,
        peerUrl: peer(i),
        initialCluster,
        initialClusterToken: 'old-token',
        initialClusterState: 'new',
        logFile: path.join(dir, `${name}.log`),
        tls: mtlsServer(certs),
        extraArgs: [
          '--peer-cert-file',
          certs.serverCertFile,
          '--peer-key-file',
          certs.serverKeyFile,
          '--peer-trusted-ca-file',
          certs.caFile,
          '--peer-client-cert-auth',
        ],
      }),
    );
    oldEps = old.map((m) => m.spec.clientUrl);
    const client = { caFile: certs.caFile, certFile: certs.clientCertFile, keyFile: certs.clientKeyFile };
    for (let i = 0; ; i++) {
      const ok = await Promise.all(oldEps.map((e) => healthProbe(e, client).catch(() => false)));
      if (ok.every(Boolean)) break;
      if (i > 200) throw new Error('the old mTLS cluster did not become healthy');
      await new Promise((r) => setTimeout(r, 300));
    }
    for (let i = 0; i < 20; i++) await etcdctl(oldEps, 'put', `/registry/secrets/ns/s-${i}`, `v-${i}`);
    const r = await runDr(
      ['backup', '--endpoints', oldEps.join(','), ...tlsFlags, '--cluster-name', 'prod', '--json'],
      env,
    );
    expect(r.stderr).not.toMatch(/"level":"error"/);
    expect(r.code).toBe(0);
  }, 120_000);

  afterAll(async () => {
    await Promise.all(old.map((m) => stopMember(m, 3000)));
    await stopLocal(target);
    await certs?.cleanup();
    await cleanup?.();
  });

  it('restores to new names and ports with mTLS on both URLs; etcdctl over mTLS sees every key', async () => {
    // the disaster
    await Promise.all(old.map((m) => stopMember(m, 1)));
    await Promise.all(old.map((m) => rm(m.spec.dataDir, { recursive: true, force: true })));

    const ports = await freePorts(6);
    const tls = (extra = '') =>
      `{ caFile: ${certs.caFile}, certFile: ${certs.serverCertFile}, keyFile: ${certs.serverKeyFile}, clientCertAuth: true${extra} }`;
    const yaml = [
      `clientTls: { caFile: ${certs.caFile}, certFile: ${certs.clientCertFile}, keyFile: ${certs.clientKeyFile} }`,
      `oldCluster: { endpoints: [${oldEps.join(', ')}] }`,
      'timing: { heartbeatInterval: 200, electionTimeout: 2000 }',
      'members:',
      ...['new-1', 'new-2', 'new-3'].flatMap((name, i) => [
        `  - name: ${name}`,
        `    peerURLs: [https://127.0.0.1:${ports[2 * i + 1]}]`,
        `    clientURLs: [https://127.0.0.1:${ports[2 * i]}]`,
        `    dataDir: ${path.join(dir, name)}`,
        `    tls: ${tls()}`,
        `    peerTls: ${tls()}`,
        '    control: { type: local }',
      ]),
      '',
    ].join('\n');
    const membersFile = path.join(dir, 'members.yaml');
    await writeFile(membersFile, yaml);
    target = parseMembersYaml(yaml);
    const eps = target.members.map((m) => m.clientURLs[0]!);
    const args = ['restore', '--to', 'new-cluster', '--backup', 'latest', '--members', membersFile];

    const planFile = path.join(dir, 'plan.json');
    const dry = await runDr([...args, '--token', 'topo-1', '--dry-run', '--json', '--out', planFile], env);
    expect(dry.code).toBe(0);
    expect(dry.json.refusals).toEqual([]);
    const start = dry.json.steps.find((s: { id: string }) => s.id === 'start:new-2').commands[0] as string;
    for (const flag of [
      '--cert-file',
      '--key-file',
      '--trusted-ca-file',
      '--client-cert-auth',
      '--peer-cert-file',
      '--peer-key-file',
      '--peer-trusted-ca-file',
      '--peer-client-cert-auth',
    ])
      expect(start).toContain(` ${flag}`);
    expect(start).toContain('--heartbeat-interval 200 --election-timeout 2000');
    expect(start).not.toContain('...');
    const verify = dry.json.steps.find((s: { id: string }) => s.id === 'verify').commands[0] as string;
    expect(verify).toContain(`--cert ${certs.clientCertFile}`);

    // the reviewed plan file is private, and refuses to run against another members file
    expect(statSync(planFile).mode & 0o777).toBe(0o600);
    const changed = path.join(dir, 'members-changed.yaml');
    await writeFile(changed, yaml.replace('heartbeatInterval: 200', 'heartbeatInterval: 250'));
    const refused = await runDr(
      ['restore', '--plan', planFile, '--members', changed, '--yes', '--json'],
      env,
    );
    expect(refused.code).toBe(2);
    expect(refused.stdout + refused.stderr).toMatch(/RESTORE_REFUSED[\s\S]*the members file changed since/);
    expect(existsSync(path.join(dir, 'new-1'))).toBe(false);

    // the plan runs as reviewed: its token, its cluster and member IDs, its commands
    const r = await runDr(
      [
        'restore',
        '--plan',
        planFile,
        '--members',
        membersFile,
        '--yes',
        '--json',
        '--journal',
        path.join(dir, 'j.json'),
      ],
      env,
      240_000,
    );
    expect(r.stderr).not.toMatch(/exited with code|ETCD_UNREACHABLE/);
    expect(r.code).toBe(0);
    expect(r.json.verification.checks.filter((c: { ok: boolean }) => !c.ok)).toEqual([]);
    expect(r.json.plan.newCluster).toEqual(dry.json.newCluster);
    expect(r.json.plan.steps).toEqual(dry.json.steps);
    // the fetched backup went to the scratch path the plan named, and is gone
    expect(dry.json.snapshotFile).toMatch(/\/restores\/\.dr-restore-[^/]+\/[^/]+\.db$/);
    expect(existsSync(path.dirname(dry.json.snapshotFile))).toBe(false);

    // etcdctl over mTLS, as an operator would check it
    const list = await etcdctl(eps, 'member', 'list', '-w', 'json');
    const members = (JSON.parse(list) as { members: { name: string; peerURLs: string[] }[] }).members;
    expect(members.map((m) => m.name).sort()).toEqual(['new-1', 'new-2', 'new-3']);
    expect(members.every((m) => m.peerURLs.every((u) => u.startsWith('https://')))).toBe(true);
    expect(
      (await etcdctl(eps, 'get', '--prefix', '/registry/secrets/', '--keys-only')).match(/s-\d+/g),
    ).toHaveLength(20);
    expect((await etcdctl([eps[2]!], 'get', '/registry/secrets/ns/s-7', '--print-value-only')).trim()).toBe(
      'v-7',
    );
    // the peers really are mutual TLS: no client certificate, no answer
    expect(await healthProbe(eps[0]!, { caFile: certs.caFile }).catch(() => false)).toBe(false);
    expect(existsSync(path.join(dir, 'new-1', 'member'))).toBe(true);
    // dr's private scratch copy of the fetched backup (next to the journal) is gone
    expect(r.json.plan.snapshotFile).toBeDefined();
    expect((await readdir(dir)).filter((f) => f.startsWith('.dr-restore-'))).toEqual([]);
  }, 300_000);
});
