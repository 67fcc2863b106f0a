/**
 * Real etcd 3.4 snapshot files for the bbolt / mvcc / audit tests: a single-member cluster (started with the
 * shared harness) filled with puts, overwrites, deletes, a txn, leases, a large value (overflow pages) and
 * enough keys for branch pages; then saved with `etcdctl snapshot save` before and after a compaction and
 * after a defrag. The caller must call stop().
 */
import { execFile } from 'node:child_process';
import { copyFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { startTestCluster, type TestCluster } from '../../helpers/etcd-cluster.js';
import { TestEtcdClient } from '../../helpers/etcd-test-client.js';

const run = promisify(execFile);

export interface EtcdctlStatus {
  hash: number;
  revision: number;
  totalKey: number;
  totalSize: number;
}

export interface Corpus {
  cluster: TestCluster;
  endpoint: string;
  client: TestEtcdClient;
  dir: string;
  /** saved before any compaction */
  fresh: string;
  /** revision of `fresh` */
  freshRevision: number;
  /** HashKV answered by the live member at these revisions while it held exactly `fresh` (no compaction yet) */
  freshHashKV: { rev: number; hash: number; compactRevision: number }[];
  /** saved after compacting at `compactedAt` */
  compacted: string;
  compactedAt: number;
  /** saved after `etcdctl defrag` */
  defragmented: string;
  /** current revision when `defragmented` was saved */
  revision: number;
  stop(): Promise<void>;
}

export async function etcdctl(endpoint: string | null, ...args: string[]): Promise<string> {
  const full = endpoint ? ['--endpoints', endpoint, ...args] : args;
  const { stdout } = await run('etcdctl', full, {
    env: { ...process.env, ETCDCTL_API: '3' },
    maxBuffer: 64 << 20,
  });
  return stdout;
}

export async function etcdctlStatus(file: string): Promise<EtcdctlStatus> {
  return JSON.parse(await etcdctl(null, 'snapshot', 'status', file, '-w', 'json')) as EtcdctlStatus;
}

export async function saveSnapshot(endpoint: string, file: string): Promise<string> {
  await etcdctl(endpoint, 'snapshot', 'save', file);
  return file;
}

/** Fills the member: `keys` keys in txn batches, then overwrites, deletes, leases, a large value. */
export async function fill(client: TestEtcdClient, keys = 3000): Promise<void> {
  for (let i = 0; i < keys; i += 100) {
    const ops = [];
    for (let j = i; j < Math.min(keys, i + 100); j++) {
      ops.push({
        request_put: {
          key: Buffer.from(`/registry/configmaps/ns${j % 7}/cm-${String(j).padStart(5, '0')}`),
          value: Buffer.from(JSON.stringify({ n: j, data: 'x'.repeat(50 + (j % 200)) })),
        },
      });
    }
    await client.kv.txn({ success: ops });
  }
  for (let j = 0; j < 300; j++)
    await client.put(`/registry/configmaps/ns${j % 7}/cm-${String(j).padStart(5, '0')}`).value(`v2-${j}`);
  for (let j = 300; j < 400; j++)
    await client.delete().key(`/registry/configmaps/ns${j % 7}/cm-${String(j).padStart(5, '0')}`);
  // one txn that puts and deletes: two sub-revisions at one main revision
  await client.kv.txn({
    success: [
      { request_put: { key: Buffer.from('/txn/a'), value: Buffer.from('1') } },
      { request_delete_range: { key: Buffer.from('/registry/configmaps/ns0/cm-00000') } },
    ],
  });
  const lease = await client.leaseClient.leaseGrant({ TTL: 3600 });
  await client.put('/leased/one').value('L').exec();
  await client.kv.put({ key: Buffer.from('/leased/two'), value: Buffer.from('L2'), lease: lease.ID });
  await client.put('/big/value').value(Buffer.alloc(50_000, 'b'));
  // a key deleted and re-created: two generations
  await client.put('/gen/k').value('1');
  await client.delete().key('/gen/k');
  await client.put('/gen/k').value('2');
}

export async function liveHashKV(
  endpoint: string,
  rev: number,
): Promise<{ rev: number; hash: number; compactRevision: number }> {
  const out = JSON.parse(
    await etcdctl(
      endpoint,
      '--command-timeout=60s',
      'endpoint',
      'hashkv',
      '--rev',
      String(rev),
      '-w',
      'json',
    ),
  ) as { HashKV: { hash: number; compact_revision: number } }[];
  const h = out[0]?.HashKV;
  if (!h) throw new Error(`etcdctl endpoint hashkv --rev ${rev} gave no answer`);
  return { rev, hash: h.hash, compactRevision: h.compact_revision };
}

export async function currentRevision(client: TestEtcdClient): Promise<number> {
  const r = await client.kv.range({ key: Buffer.from('/'), limit: '1' });
  return Number(r.header.revision);
}

export async function makeCorpus(opts: { keys?: number } = {}): Promise<Corpus> {
  const cluster = await startTestCluster({ size: 1 });
  const endpoint = cluster.endpoints[0]!;
  const client = new TestEtcdClient({ hosts: endpoint });
  try {
    const dir = cluster.dir;
    await fill(client, opts.keys ?? 3000);
    const fresh = await saveSnapshot(endpoint, path.join(dir, 'fresh.db'));
    const freshRevision = await currentRevision(client);
    const freshHashKV = [];
    for (const rev of [freshRevision, freshRevision - 7, 40, 2])
      freshHashKV.push(await liveHashKV(endpoint, rev));
    const compactedAt = (await currentRevision(client)) - 50;
    await client.kv.compact({ revision: String(compactedAt), physical: true });
    for (let j = 0; j < 20; j++) await client.put(`/after/compact/${j}`).value(`${j}`);
    const compacted = await saveSnapshot(endpoint, path.join(dir, 'compacted.db'));
    await etcdctl(endpoint, 'defrag');
    const defragmented = await saveSnapshot(endpoint, path.join(dir, 'defragmented.db'));
    const revision = await currentRevision(client);
    return {
      cluster,
      endpoint,
      client,
      dir,
      fresh,
      freshRevision,
      freshHashKV,
      compacted,
      compactedAt,
      defragmented,
      revision,
      stop: async () => {
        client.close();
        await cluster.stop();
      },
    };
  } catch (err) {
    client.close();
    await cluster.stop();
    throw err;
  }
}

/** A copy of `file` (inside the corpus dir) that a test may corrupt. */
export async function copyOf(file: string, name: string): Promise<string> {
  const out = path.join(path.dirname(file), name);
  await copyFile(file, out);
  return out;
}
