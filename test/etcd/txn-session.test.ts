/**
 * The replay's Txn path over Node's http2 (src/etcd/txn-session.ts) against a real member: the revision of
 * each write, one revision per call; a guard that does not hold writes nothing (succeeded false), one that
 * holds writes; calls overlap over several connections; etcd's own refusal (a key twice in one transaction) comes back as
 * etcd's message, classified; a member that dies fails the next call at once, naming the endpoint.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDrError } from '../../src/core/errors.js';
import { createEtcdClient, type EtcdClient } from '../../src/etcd/client.js';
import { openTxnSession, type TxnSession } from '../../src/etcd/txn-session.js';
import { startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';

const put = (k: string, v: string) => ({
  type: 'put' as const,
  key: Buffer.from(k),
  value: Buffer.from(v),
  lease: 0n,
});

describe('txn session (node:http2) against real etcd', () => {
  let c: TestCluster;
  let etcd: EtcdClient;
  let s: TxnSession;
  beforeAll(async () => {
    c = await startTestCluster({ size: 1 });
    etcd = createEtcdClient({ endpoints: c.endpoints });
    s = await openTxnSession(c.endpoints[0]!);
  });
  afterAll(async () => {
    s?.close();
    etcd?.close();
    await c?.stop();
  });

  it('answers the revision of each write: one per transaction, whatever it holds', async () => {
    const a1 = await s.txn([put('/ts/a', '1'), put('/ts/b', '2')]);
    const a2 = await s.txn([{ type: 'delete', key: Buffer.from('/ts/a') }, put('/ts/c', '3')]);
    expect([a1.succeeded, a2.succeeded]).toEqual([true, true]);
    const [r1, r2] = [a1.revision, a2.revision];
    expect(r2).toBe(r1 + 1n);
    expect(
      (await etcd.get('/ts/', { prefix: true })).map((kv) => [kv.key.toString(), kv.modRevision]),
    ).toEqual([
      ['/ts/b', r1],
      ['/ts/c', r2],
    ]);
  });

  it("etcd's refusal comes back with etcd's reason, and the session still works", async () => {
    const err = await s.txn([put('/ts/d', '1'), put('/ts/d', '2')]).catch((e: unknown) => e);
    expect(isDrError(err)).toBe(true);
    expect((err as Error).message).toContain('duplicate key');
    expect((err as Error).message).toContain(c.endpoints[0]!);
    expect((await s.txn([put('/ts/e', '1')])).revision).toBeGreaterThan(0n);
  });

  it('a guard that does not hold writes nothing and says so; one that holds writes', async () => {
    const { revision: r } = await s.txn([put('/ts/g', '1')]);
    const no = await s.txn([put('/ts/h', 'x')], { key: Buffer.from('/ts/g'), modRevision: r - 1n });
    expect(no).toEqual({ revision: r, succeeded: false });
    expect(await etcd.get('/ts/h')).toEqual([]);
    const yes = await s.txn([put('/ts/h', 'y')], { key: Buffer.from('/ts/g'), modRevision: r });
    expect(yes).toEqual({ revision: r + 1n, succeeded: true });
    expect((await etcd.get('/ts/h'))[0]?.value.toString()).toBe('y');
  });

  it('calls overlap over several connections, each answered with its own revision', async () => {
    const many = await openTxnSession(c.endpoints[0]!, { connections: 3 });
    try {
      const answers = await Promise.all(
        Array.from({ length: 30 }, (_, i) => many.txn([put(`/ts/many/${i}`, String(i))])),
      );
      const revs = answers.map((a) => a.revision).sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
      expect(new Set(revs).size).toBe(30);
      expect(revs.at(-1)! - revs[0]!).toBe(29n);
    } finally {
      many.close();
    }
  });

  it('fails at once when the member is gone', async () => {
    await c.stop();
    const err = await s.txn([put('/ts/f', '1')]).catch((e: unknown) => e);
    expect(isDrError(err)).toBe(true);
    expect((err as Error).message).toContain(c.endpoints[0]!);
  });
});
