/**
 * Kubernetes-like sample data for the sandbox: the key layout of a small cluster under /registry/
 * (namespaces, configmaps, secrets, pods, services, deployments, node leases, events). Values are JSON
 * (a real apiserver writes protobuf, but JSON keeps `dr inspect` output readable). Deterministic, so the
 * same sandbox always holds the same keys.
 */
import type { EtcdClient } from '../etcd/client.js';
import type { PutItem } from '../etcd/types.js';

export interface SampleObject {
  key: string;
  value: string;
  /** which sample lease the key is attached to, as Kubernetes attaches events and node leases */
  lease?: 'events' | 'node-leases';
}

const NAMESPACES = ['default', 'kube-system', 'kube-public', 'payments', 'frontend', 'monitoring'];
const NODES = ['node-a', 'node-b', 'node-c'];

const meta = (name: string, namespace: string | undefined, uid: number) => ({
  name,
  ...(namespace ? { namespace } : {}),
  uid: `00000000-0000-4000-8000-${uid.toString(16).padStart(12, '0')}`,
  creationTimestamp: '2024-01-01T00:00:00Z',
  labels: { app: name.replace(/-\d+$/, ''), 'dr.sandbox': 'true' },
});

export function sampleObjects(): SampleObject[] {
  const out: SampleObject[] = [];
  let uid = 1;
  const add = (key: string, obj: object, lease?: SampleObject['lease']) =>
    out.push({ key, value: JSON.stringify(obj), ...(lease ? { lease } : {}) });
  for (const ns of NAMESPACES) {
    add(`/registry/namespaces/${ns}`, {
      kind: 'Namespace',
      apiVersion: 'v1',
      metadata: meta(ns, undefined, uid++),
      status: { phase: 'Active' },
    });
  }
  for (const node of NODES) {
    add(`/registry/minions/${node}`, {
      kind: 'Node',
      apiVersion: 'v1',
      metadata: meta(node, undefined, uid++),
      status: { capacity: { cpu: '4', memory: '16Gi' } },
    });
    add(
      `/registry/leases/kube-node-lease/${node}`,
      {
        kind: 'Lease',
        apiVersion: 'coordination.k8s.io/v1',
        metadata: meta(node, 'kube-node-lease', uid++),
        spec: { holderIdentity: node, leaseDurationSeconds: 40 },
      },
      'node-leases',
    );
  }
  for (const ns of NAMESPACES) {
    for (let i = 0; i < 8; i++) {
      const app = `app-${i}`;
      add(`/registry/configmaps/${ns}/${app}-config`, {
        kind: 'ConfigMap',
        apiVersion: 'v1',
        metadata: meta(`${app}-config`, ns, uid++),
        // varied sizes, like real config
        data: { 'settings.yaml': `replicas: ${i}\n${'# padding\n'.repeat(i * 20)}` },
      });
      add(`/registry/secrets/${ns}/${app}-token`, {
        kind: 'Secret',
        apiVersion: 'v1',
        metadata: meta(`${app}-token`, ns, uid++),
        type: 'Opaque',
        data: { token: Buffer.from(`sandbox-secret-${ns}-${i}`).toString('base64') },
      });
      add(`/registry/deployments/${ns}/${app}`, {
        kind: 'Deployment',
        apiVersion: 'apps/v1',
        metadata: meta(app, ns, uid++),
        spec: { replicas: 2, selector: { matchLabels: { app } } },
      });
      add(`/registry/services/specs/${ns}/${app}`, {
        kind: 'Service',
        apiVersion: 'v1',
        metadata: meta(app, ns, uid++),
        spec: { ports: [{ port: 80 + i, protocol: 'TCP' }] },
      });
      for (let r = 0; r < 2; r++) {
        const pod = `${app}-${r}`;
        add(`/registry/pods/${ns}/${pod}`, {
          kind: 'Pod',
          apiVersion: 'v1',
          metadata: meta(pod, ns, uid++),
          spec: { nodeName: NODES[(i + r) % NODES.length], containers: [{ name: app, image: `${app}:1.0` }] },
          status: { phase: 'Running' },
        });
      }
      add(
        `/registry/events/${ns}/${app}.${(0x17a0000 + uid).toString(16)}`,
        {
          kind: 'Event',
          apiVersion: 'v1',
          metadata: meta(`${app}.event`, ns, uid++),
          reason: 'Scheduled',
          message: `Successfully assigned ${ns}/${app}-0`,
        },
        'events',
      );
    }
  }
  return out;
}

export interface SampleDataResult {
  keys: number;
  leases: number;
  revision: bigint;
}

/** Writes the sample objects; events and node leases get leases of an hour, like an apiserver's. */
export async function loadSampleData(client: EtcdClient, ttlSeconds = 3600): Promise<SampleDataResult> {
  const objects = sampleObjects();
  const leases = {
    events: await client.leaseGrant(ttlSeconds),
    'node-leases': await client.leaseGrant(ttlSeconds),
  };
  const batch: PutItem[] = objects.map((o) => ({
    key: o.key,
    value: o.value,
    ...(o.lease ? { lease: leases[o.lease] } : {}),
  }));
  const revision = await client.txnPuts(batch);
  return { keys: objects.length, leases: 2, revision };
}
