import { afterEach, describe, expect, it } from 'vitest';
import type { DrError } from '../../src/core/errors.js';
import { createEtcdClient, type EtcdClient } from '../../src/etcd/client.js';
import { startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';

/** About `mb` MiB of 100 KiB values, so a snapshot takes a while to stream to a slow reader. */
async function fill(client: EtcdClient, mb: number): Promise<void> {
  const value = Buffer.alloc(100 * 1024, 'x');
  await client.txnPuts(Array.from({ length: mb * 10 }, (_, i) => ({ key: `/big/${i}`, value })));
}

/** Reads slowly (like an upload to slow storage); calls onBytes after each chunk. */
async function slowRead(s: NodeJS.ReadableStream, onBytes: (n: number) => void): Promise<number> {
  let n = 0;
  for await (const chunk of s) {
    n += (chunk as Buffer).length;
    onBytes(n);
    await new Promise((r) => setTimeout(r, 2));
  }
  return n;
}

describe('snapshot stream faults', () => {
  let c: TestCluster | undefined;
  let client: EtcdClient | undefined;
  afterEach(async () => {
    client?.close();
    if (c) {
      for (const m of c.members) if (m.process.signalCode === null) m.process.kill('SIGCONT');
      await c.stop();
    }
    c = undefined;
  });

  it('fails with SNAPSHOT_STREAM_FAILED naming the endpoint when the member is killed mid-stream', async () => {
    c = await startTestCluster({ size: 1 });
    client = createEtcdClient({ endpoints: c.endpoints });
    await fill(client, 40);
    const endpoint = c.endpoints[0]!;
    let killed = false;
    const err = (await slowRead(client.snapshot(endpoint), (n) => {
      if (!killed && n > 2 * 1024 * 1024) {
        killed = true;
        c!.members[0]!.process.kill('SIGKILL');
      }
    }).catch((e: unknown) => e)) as DrError;
    expect(killed).toBe(true);
    expect(err).toMatchObject({ code: 'SNAPSHOT_STREAM_FAILED' });
    expect(err.message).toContain(endpoint);
    expect(err.details.bytesReceived as number).toBeGreaterThan(2 * 1024 * 1024);
    expect(err.details.bytesReceived as number).toBeLessThan(40 * 1024 * 1024);
  });

  it('fails after the idle timeout when the member stops sending (SIGSTOP)', async () => {
    c = await startTestCluster({ size: 1 });
    client = createEtcdClient({ endpoints: c.endpoints, requestTimeoutMs: 1500 });
    await fill(client, 30);
    let stopped = false;
    const err = (await slowRead(client.snapshot(c.endpoints[0]!), (n) => {
      if (!stopped && n > 1024 * 1024) {
        stopped = true;
        c!.members[0]!.process.kill('SIGSTOP');
      }
    }).catch((e: unknown) => e)) as DrError;
    expect(stopped).toBe(true);
    expect(err).toMatchObject({ code: 'SNAPSHOT_STREAM_FAILED' });
    expect(err.message).toMatch(/no data for 1500 ms/);
  });

  it('picks a live follower when a member is down, and reports the dead one as unreachable', async () => {
    c = await startTestCluster({ size: 3 });
    client = createEtcdClient({ endpoints: c.endpoints, dialTimeoutMs: 1500 });
    const statuses = await client.statusAll();
    const leaderIdx = statuses.findIndex((s) => s.status!.leaderId === s.status!.memberId);
    const victim = (leaderIdx + 1) % 3;
    await c.kill(victim);
    const all = await client.statusAll();
    expect(all[victim]).toMatchObject({ error: { code: 'ETCD_UNREACHABLE' } });
    expect(all[victim]!.error!.message).toContain(c.endpoints[victim]);
    const picked = await client.pickSnapshotSource('follower');
    const expected = [0, 1, 2].find((i) => i !== victim && i !== leaderIdx)!;
    expect(picked.endpoint).toBe(c.endpoints[expected]);
    // cluster-wide reads fail over past the dead endpoint
    expect(await client.memberList()).toHaveLength(3);
  });
});
