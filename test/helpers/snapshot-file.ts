import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { createEtcdClient } from '../../src/etcd/client.js';
import { startTestCluster } from './etcd-cluster.js';

/**
 * A real snapshot file from `etcdctl snapshot save` of a 1-member cluster holding `keys` keys
 * (values of ~valueSize bytes), written to dir/name. Returns its path and the member's final revision.
 */
export async function makeSnapshotFile(
  dir: string,
  opts: { keys?: number; valueSize?: number; name?: string } = {},
): Promise<string> {
  const c = await startTestCluster({ size: 1 });
  try {
    const ep = c.endpoints[0]!;
    const n = opts.keys ?? 50;
    const value = 'v'.repeat(opts.valueSize ?? 100);
    // one put (one revision) per key, as an application writes; through one client, not a process per key
    const client = createEtcdClient({ endpoints: [ep] });
    try {
      for (let i = 0; i < n; i++) await client.put(`/registry/configmaps/default/cm-${i}`, `${value}${i}`);
    } finally {
      client.close();
    }
    const file = path.join(dir, opts.name ?? 'snap.db');
    execFileSync('etcdctl', ['--endpoints', ep, 'snapshot', 'save', file], { stdio: 'ignore' });
    return file;
  } finally {
    await c.stop();
  }
}
