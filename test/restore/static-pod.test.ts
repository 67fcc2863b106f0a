/**
 * `static-pod` control (kubeadm control planes) against real etcd: three "nodes", each a manifest folder
 * watched by a kubelet stand-in that runs the manifest's etcd command. A running 3-member cluster is
 * restored in place: stop moves each manifest out and waits for the member to go, the restore writes the
 * data dirs, start writes the manifests back with the new cluster's flags, and the stand-ins run them.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDrError } from '../../src/core/errors.js';
import type { Manifest } from '../../src/manifest/manifest.js';
import { rewriteManifest } from '../../src/restore/control/static-pod.js';
import { stoppedPath } from '../../src/restore/control/static-pod-spec.js';
import { executeRestore } from '../../src/restore/execute.js';
import { parseMembers, type MembersFile } from '../../src/config/members-file.js';
import { prepareRestore } from '../../src/restore/prepare.js';
import { startKubeletStandIn, type KubeletStandIn } from '../helpers/kubelet-standin.js';
import { freePorts } from '../helpers/ports.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/until.js';
import { clusterIdOf, etcdctl, manifestFor } from './helpers.js';

function kubeadmManifest(o: {
  name: string;
  dataDir: string;
  client: string;
  peer: string;
  initialCluster: string;
  token: string;
}): string {
  return `apiVersion: v1
kind: Pod
metadata:
  name: etcd
  namespace: kube-system
  labels: { component: etcd, tier: control-plane }
spec:
  containers:
    - name: etcd
      image: registry.k8s.io/etcd:3.5.16-0
      command:
        - etcd
        - --name=${o.name}
        - --data-dir=${o.dataDir}
        - --listen-client-urls=${o.client}
        - --advertise-client-urls=${o.client}
        - --listen-peer-urls=${o.peer}
        - --initial-advertise-peer-urls=${o.peer}
        - --initial-cluster=${o.initialCluster}
        - --initial-cluster-state=new
        - --initial-cluster-token=${o.token}
        - --heartbeat-interval=200
        - --election-timeout=2000
      volumeMounts:
        - { name: etcd-data, mountPath: ${o.dataDir} }
  hostNetwork: true
  volumes:
    - name: etcd-data
      hostPath: { path: ${o.dataDir}, type: DirectoryOrCreate }
`;
}

describe('rewriteManifest', () => {
  const text = kubeadmManifest({
    name: 'cp-1',
    dataDir: '/var/lib/etcd',
    client: 'https://10.0.0.1:2379',
    peer: 'https://10.0.0.1:2380',
    initialCluster: 'cp-1=https://10.0.0.1:2380',
    token: 'old',
  });
  it('sets the new cluster flags and keeps everything else', () => {
    const out = rewriteManifest(text, {
      name: 'cp-1',
      dataDir: '/var/lib/etcd',
      initialCluster: 'cp-1=https://10.0.0.1:2380,cp-2=https://10.0.0.2:2380',
      token: 'dr-new',
    });
    expect(out).toContain('- --initial-cluster=cp-1=https://10.0.0.1:2380,cp-2=https://10.0.0.2:2380\n');
    expect(out).toContain('- --initial-cluster-token=dr-new\n');
    expect(out).toContain('- --initial-cluster-state=new\n');
    expect(out).not.toContain('token=old');
    expect(out).toContain('image: registry.k8s.io/etcd:3.5.16-0');
    expect(out).toContain('- --election-timeout=2000');
  });
  it('follows a moved data dir into the hostPath volume and the mount', () => {
    const out = rewriteManifest(text, {
      name: 'cp-1',
      dataDir: '/data/etcd',
      initialCluster: 'x=y',
      token: 't',
    });
    expect(out).toContain('- --data-dir=/data/etcd');
    expect(out).toContain('mountPath: /data/etcd');
    expect(out).toContain('path: /data/etcd');
    expect(out).not.toContain('/var/lib/etcd');
  });
  it('refuses a manifest without an etcd command', () => {
    expect(() =>
      rewriteManifest('spec: { containers: [{ name: etcd }] }', {
        name: 'a',
        dataDir: '/d',
        initialCluster: 'a=b',
        token: 't',
      }),
    ).toThrow(/no command/);
  });
});

describe('restore with static-pod control (kubelet stand-in, real etcd)', () => {
  let work: { dir: string; cleanup: () => Promise<void> };
  const kubelets: KubeletStandIn[] = [];
  let target: MembersFile;
  let manifest: Manifest;
  let snapshot: string;
  const names = ['cp-1', 'cp-2', 'cp-3'];

  beforeAll(async () => {
    work = await tempDir('dr-static-pod-');
    const ports = await freePorts(6);
    const nodes = names.map((name, i) => {
      const root = path.join(work.dir, name);
      mkdirSync(path.join(root, 'manifests'), { recursive: true });
      mkdirSync(path.join(root, 'var', 'lib'), { recursive: true });
      return {
        name,
        root,
        dataDir: path.join(root, 'var', 'lib', 'etcd'),
        client: `http://127.0.0.1:${ports[2 * i]}`,
        peer: `http://127.0.0.1:${ports[2 * i + 1]}`,
      };
    });
    const initialCluster = nodes.map((n) => `${n.name}=${n.peer}`).join(',');
    for (const n of nodes) {
      writeFileSync(
        path.join(n.root, 'manifests', 'etcd.yaml'),
        kubeadmManifest({ ...n, initialCluster, token: 'kubeadm' }),
      );
      kubelets.push(startKubeletStandIn(path.join(n.root, 'manifests'), n.root));
    }
    const eps = nodes.map((n) => n.client);
    // endpoint health exits 0 only when every endpoint is healthy (3.4 prints its verdicts on stderr)
    await until(
      'the kubeadm cluster (logs: <node>/etcd.yaml.log)',
      () => {
        etcdctl(eps, 'endpoint', 'health');
        return true;
      },
      60_000,
      300,
    );
    for (let i = 0; i < 20; i++) etcdctl(eps, 'put', `/registry/configmaps/kube-system/c${i}`, `v${i}`);
    snapshot = path.join(work.dir, 'snap.db');
    etcdctl([eps[0]!], 'snapshot', 'save', snapshot);
    manifest = manifestFor(snapshot, { clusterId: clusterIdOf(eps[0]!), liveKeys: 20 });
    etcdctl(eps, 'put', '/registry/configmaps/kube-system/after-the-backup', 'lost');
    target = parseMembers({
      members: nodes.map((n) => ({
        name: n.name,
        peerURLs: [n.peer],
        clientURLs: [n.client],
        dataDir: n.dataDir,
        control: {
          type: 'static-pod',
          manifest: path.join(n.root, 'manifests', 'etcd.yaml'),
          crictl: kubelets[nodes.indexOf(n)]!.crictl,
        },
      })),
    });
  });
  afterAll(async () => {
    await Promise.all(kubelets.map((k) => k.stop()));
    await work?.cleanup();
  });

  it('moves each manifest out, restores, and writes it back with the new cluster flags', async () => {
    // the old cluster still answers: a deliberate roll-back needs --force
    const plan = await prepareRestore({
      manifest,
      target,
      now: new Date(),
      snapshotFile: snapshot,
      force: true,
    });
    expect(plan.refusals).toEqual([]);
    const stop = plan.steps.find((s) => s.id === 'stop:cp-1')!;
    expect(stop.commands.join('\n')).toContain(
      `mv -T ${target.members[0]!.control.type === 'static-pod' ? (target.members[0]!.control as { manifest: string }).manifest : ''}`,
    );
    const r = await executeRestore(plan, {
      manifest,
      source: { file: snapshot },
      journalFile: path.join(work.dir, 'j.json'),
    });
    expect(r.ok, JSON.stringify(r.verification.checks)).toBe(true);
    const eps = target.members.map((m) => m.clientURLs[0]!);
    expect(etcdctl(eps, 'get', '/registry/configmaps/kube-system/c7', '--print-value-only').trim()).toBe(
      'v7',
    );
    expect(
      etcdctl(eps, 'get', '/registry/configmaps/kube-system/after-the-backup', '--print-value-only').trim(),
    ).toBe('');
    for (const m of target.members) {
      const spec = m.control as { type: 'static-pod'; manifest: string };
      const now = readFileSync(spec.manifest, 'utf8');
      expect(now).toContain(`--initial-cluster-token=${plan.newCluster.token}`);
      expect(now).toContain(`--initial-cluster=${plan.newCluster.initialCluster}`);
      // the manifest that ran before is kept where stop put it
      expect(readFileSync(stoppedPath(spec), 'utf8')).toContain('--initial-cluster-token=kubeadm');
      expect(existsSync(`${stoppedPath(spec)}.dr-new`)).toBe(false);
      // the old data was moved aside, not deleted
      expect(existsSync(plan.newCluster.members.find((x) => x.name === m.name)!.dataAside!)).toBe(true);
    }
    // each stand-in ran the old manifest, then the new one
    for (const k of kubelets) {
      expect(k.started.map((a) => a.find((x) => x.startsWith('--initial-cluster-token=')))).toEqual([
        '--initial-cluster-token=kubeadm',
        `--initial-cluster-token=${plan.newCluster.token}`,
      ]);
    }
  });

  it('reports a member whose container exits after the start at once, with its exit code and log (crictl)', async () => {
    const plan = await prepareRestore({
      manifest,
      target,
      now: new Date(),
      snapshotFile: snapshot,
      force: true,
    });
    expect(plan.refusals).toEqual([]);
    const cp2 = target.members[1]!;
    const peerPort = Number(new URL(cp2.peerURLs[0]!).port);
    let squatter: Server | undefined;
    let err: unknown;
    try {
      await executeRestore(plan, {
        manifest,
        source: { file: snapshot },
        journalFile: path.join(work.dir, 'j2.json'),
        // the waits' own timeouts lie far beyond the test's: only the death report can end this in time
        timeouts: { quorumMs: 3_600_000, allMs: 3_600_000 },
        // after cp-1 is started and before cp-2 is, something else takes cp-2's peer port: its etcd exits,
        // and the kubelet (stand-in) restarts it after a back-off, as kubelets do
        afterStep: async (id) => {
          if (id !== 'start:cp-1') return;
          squatter = createServer();
          await new Promise<void>((resolve) => squatter!.listen(peerPort, '127.0.0.1', resolve));
        },
      });
    } catch (e) {
      err = e;
    } finally {
      squatter?.close();
    }
    expect(isDrError(err)).toBe(true);
    if (!isDrError(err)) return;
    expect(err.code).toBe('ETCD_REQUEST_FAILED');
    expect(err.message).toMatch(
      /member cp-2 container etcd \([0-9a-f]{13}\) of its static pod on [^\n]* exited with code [1-9]\d*, Error after it was started/,
    );
    expect(err.message).toMatch(/its log \([^)]*crictl logs [0-9a-f]{13}\)/);
    expect(err.message).toMatch(/address already in use/);
    expect(err.message).toMatch(/not done: wait-quorum, wait-all, verify/);
  }, 120_000);
});
