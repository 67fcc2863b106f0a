import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDrError } from '../../src/core/errors.js';
import { createEtcdClient, prefixRangeEnd, type EtcdClient } from '../../src/etcd/client.js';
import { startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';
import { freePorts } from '../helpers/ports.js';
import { etcdAtLeast, etcdVersion } from '../helpers/etcd-version.js';

async function collect(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('etcd client against a real 3-member cluster', () => {
  let c: TestCluster;
  let client: EtcdClient;
  beforeAll(async () => {
    c = await startTestCluster({ size: 3 });
    client = createEtcdClient({ endpoints: c.endpoints });
  });
  afterAll(async () => {
    client?.close();
    await c?.stop();
  });

  it('reads the status of every member: one leader, one cluster, same revision after a write', async () => {
    const rev = await client.put('/status-probe', 'x');
    const all = await client.statusAll();
    expect(all.map((s) => s.endpoint)).toEqual(c.endpoints);
    const statuses = all.map((s) => s.status!);
    expect(statuses.every(Boolean)).toBe(true);
    expect(new Set(statuses.map((s) => s.clusterId)).size).toBe(1);
    expect(new Set(statuses.map((s) => s.memberId)).size).toBe(3);
    const leaders = statuses.filter((s) => s.leaderId === s.memberId);
    expect(leaders).toHaveLength(1);
    expect(statuses[0]!.version).toBe(etcdVersion().text);
    expect(statuses[0]!.dbSize).toBeGreaterThan(0n);
    const own = await client.status(c.endpoints[1]!);
    expect(own.revision).toBeGreaterThanOrEqual(rev);
  });

  it('lists members and alarms', async () => {
    const members = await client.memberList();
    expect(members.map((m) => m.name).sort()).toEqual(['m0', 'm1', 'm2']);
    expect(members.map((m) => m.clientURLs[0]).sort()).toEqual([...c.endpoints].sort());
    const statuses = await client.statusAll();
    expect(new Set(members.map((m) => m.id))).toEqual(new Set(statuses.map((s) => s.status!.memberId)));
    expect(await client.alarms()).toEqual([]);
  });

  it('puts, gets by prefix, deletes, and writes batches in several transactions', async () => {
    const items = Array.from({ length: 300 }, (_, i) => ({
      key: `/batch/k${String(i).padStart(4, '0')}`,
      value: `v${i}`,
    }));
    const rev = await client.txnPuts(items);
    expect(rev).toBeGreaterThan(0n);
    const kvs = await client.get('/batch/', { prefix: true });
    expect(kvs).toHaveLength(300);
    expect(kvs[299]!.value.toString()).toBe('v299');
    // 300 puts need three transactions of at most 128 operations: three revisions
    expect(new Set(kvs.map((kv) => kv.modRevision)).size).toBe(3);
    const lease = await client.leaseGrant(60);
    await client.put('/leased', 'l', { lease });
    expect((await client.get('/leased'))[0]!.lease).toBe(lease);
    expect(await client.delete('/batch/', { prefix: true })).toBe(300n);
    expect(await client.get('/batch/', { prefix: true })).toEqual([]);
  });

  it('gets and deletes one key only, not the keys after it', async () => {
    await client.txnPuts([
      { key: '/one/a', value: '1' },
      { key: '/one/c', value: '3' },
      { key: '/one/d', value: '4' },
    ]);
    expect(await client.get('/one/b')).toEqual([]);
    expect((await client.get('/one/c')).map((kv) => kv.key.toString())).toEqual(['/one/c']);
    expect(await client.delete('/one/c')).toBe(1n);
    expect((await client.get('/one/', { prefix: true })).map((kv) => kv.key.toString())).toEqual([
      '/one/a',
      '/one/d',
    ]);
    await client.delete('/one/', { prefix: true });
  });

  it('computes prefix range ends like etcd', () => {
    expect(prefixRangeEnd(Buffer.from('/a/'))).toEqual(Buffer.from('/a0'));
    expect(prefixRangeEnd(Buffer.from([0x61, 0xff]))).toEqual(Buffer.from([0x62]));
    expect(prefixRangeEnd(Buffer.from([0xff]))).toEqual(Buffer.from([0]));
  });

  it('gives equal HashKV on every member at the same revision', async () => {
    await client.txnPuts([
      { key: '/h/1', value: 'a' },
      { key: '/h/2', value: 'b' },
    ]);
    const rev = (await client.status(c.endpoints[0]!)).revision;
    // followers apply asynchronously; wait until each has reached rev
    for (const e of c.endpoints) {
      for (let i = 0; i < 50 && (await client.status(e)).revision < rev; i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    const hashes = await Promise.all(c.endpoints.map((e) => client.hashKV(e, rev)));
    expect(new Set(hashes.map((h) => h.hash)).size).toBe(1);
    expect(new Set(hashes.map((h) => h.memberId)).size).toBe(3);
    await client.put('/h/3', 'c');
    const after = await client.hashKV(c.endpoints[0]!, 0n);
    expect(after.hash).not.toBe(hashes[0]!.hash);
  });

  it('prefers a follower, or the leader when asked', async () => {
    const follower = await client.pickSnapshotSource('follower');
    expect(follower.status.leaderId).not.toBe(follower.status.memberId);
    expect(c.endpoints).toContain(follower.endpoint);
    const leader = await client.pickSnapshotSource('leader');
    expect(leader.status.leaderId).toBe(leader.status.memberId);
  });

  it('streams the same snapshot as `etcdctl snapshot save` of the same member (byte-identical on 3.4)', async () => {
    await client.txnPuts(
      Array.from({ length: 200 }, (_, i) => ({ key: `/snap/${i}`, value: 'x'.repeat(500) })),
    );
    const { endpoint } = await client.pickSnapshotSource('follower');
    const ours = await collect(client.snapshot(endpoint));
    const file = path.join(c.dir, 'etcdctl.db');
    await c.etcdctl(['snapshot', 'save', file], { endpoints: [endpoint] });
    const theirs = await readFile(file);
    // etcd's trailer is the sha256 of the db bytes
    const db = ours.subarray(0, ours.length - 32);
    expect(ours.subarray(ours.length - 32).toString('hex')).toBe(sha256(db));
    const oursFile = path.join(c.dir, 'ours.db');
    await writeFile(oursFile, ours);
    type Status = { hash: number; revision: number; totalKey: number };
    const statusOf = async (f: string) =>
      JSON.parse(await c.etcdctl(['snapshot', 'status', f, '-w', 'json'])) as Status;
    // the same data: etcd's own status (hash over every bucket, revision, key count) agrees
    expect(await statusOf(oursFile)).toEqual(await statusOf(file));
    expect(BigInt((await statusOf(file)).revision)).toBe((await client.status(endpoint)).revision);
    if (!etcdAtLeast(3, 5)) {
      // 3.4 commits the backend only when something changed, so two snapshots of an idle member are the
      // same bytes; 3.5 commits (and so moves bbolt pages) at every snapshot, so only the content matches
      expect(ours.length).toBe(theirs.length);
      expect(sha256(ours)).toBe(sha256(theirs));
    }
  });

  it('pauses the grpc call when the consumer does not read (backpressure)', async () => {
    await client.txnPuts(
      Array.from({ length: 400 }, (_, i) => ({ key: `/bp/${i}`, value: 'y'.repeat(20_000) })),
    );
    const { endpoint } = await client.pickSnapshotSource('any');
    const s = client.snapshot(endpoint);
    await new Promise((r) => s.once('readable', r));
    await new Promise((r) => setTimeout(r, 1500));
    // buffered bytes stay near the high-water mark (4 MiB + one chunk), not the whole ~8 MiB db
    expect(s.readableLength).toBeLessThan(4 * 1024 * 1024 + 256 * 1024);
    const all = await collect(s);
    expect(all.length).toBeGreaterThan(8_000_000);
    expect(all.subarray(all.length - 32).toString('hex')).toBe(sha256(all.subarray(0, all.length - 32)));
  });

  it('cancels a snapshot on abort with ABORTED', async () => {
    const ac = new AbortController();
    const s = client.snapshot(c.endpoints[0]!, ac.signal);
    ac.abort();
    await expect(collect(s)).rejects.toMatchObject({ code: 'ABORTED' });
  });

  it('rejects an endpoint that is not configured', async () => {
    await expect(client.status('127.0.0.1:1')).rejects.toMatchObject({ code: 'USAGE' });
  });

  it('compacts and defragments', async () => {
    const rev = await client.put('/compact', 'z');
    await client.compact(rev);
    await client.defragment(c.endpoints[0]!);
    const h = await client.hashKV(c.endpoints[0]!, 0n);
    expect(h.compactRevision).toBe(rev);
  });
});

describe('etcd client with nothing listening', () => {
  it('reports ETCD_UNREACHABLE naming every endpoint, within the dial timeout', async () => {
    const ports = await freePorts(2);
    const endpoints = ports.map((p) => `127.0.0.1:${p}`);
    const client = createEtcdClient({ endpoints, dialTimeoutMs: 1000, requestTimeoutMs: 2000 });
    try {
      const err = await client.pickSnapshotSource().catch((e: unknown) => e);
      expect(isDrError(err, 'ETCD_UNREACHABLE')).toBe(true);
      for (const e of endpoints) expect((err as Error).message).toContain(e);
      const one = await client.status(endpoints[0]!).catch((e: unknown) => e);
      expect(one).toMatchObject({ code: 'ETCD_UNREACHABLE', details: { endpoint: endpoints[0] } });
      await expect(client.memberList()).rejects.toMatchObject({ code: 'ETCD_UNREACHABLE' });
      await expect(collectErr(client.snapshot(endpoints[1]!))).resolves.toMatchObject({
        code: 'ETCD_UNREACHABLE',
      });
    } finally {
      client.close();
    }
  });

  it('gives up on a server that accepts connections but never speaks, after the dial timeout', async () => {
    const srv = net.createServer(() => undefined);
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const endpoint = `127.0.0.1:${(srv.address() as net.AddressInfo).port}`;
    const client = createEtcdClient({ endpoints: [endpoint], dialTimeoutMs: 1000, requestTimeoutMs: 1500 });
    try {
      const err = await client.status(endpoint).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'ETCD_UNREACHABLE', details: { endpoint } });
      expect((err as Error).message).toContain('dial timeout of 1000 ms');
      await expect(collectErr(client.snapshot(endpoint))).resolves.toMatchObject({
        code: 'ETCD_UNREACHABLE',
      });
    } finally {
      client.close();
      srv.close();
    }
  });

  it('rejects malformed endpoints as usage errors', () => {
    expect(() => createEtcdClient({ endpoints: ['ftp://x:1'] })).toThrow(/http:\/\/ or https:\/\//);
    expect(() => createEtcdClient({ endpoints: [] })).toThrow(/no endpoints/);
  });
});

async function collectErr(s: NodeJS.ReadableStream): Promise<unknown> {
  try {
    await collect(s);
    return undefined;
  } catch (e) {
    return e;
  }
}
