/**
 * The replay loop against a real member: a lease granted by the replay outlives its TTL while the replay
 * runs (kept alive), so it expires into no revision of its own; a lease the log has no TTL for is granted
 * with the fallback and reported; a member that is not at the revision the replay believes is
 * REPLAY_DIVERGED at the first transaction; a checkpoint whose HashKV differs is REPLAY_DIVERGED naming
 * both hashes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDrError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/logger.js';
import { createEtcdClient, type EtcdClient } from '../../src/etcd/client.js';
import { applyRevisions, UNKNOWN_LEASE_TTL_SECONDS } from '../../src/replay/apply-revisions.js';
import type { LogEvent, RevisionRecord } from '../../src/revlog/segment-format.js';
import { startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';

const put = (key: string, value: string, lease = 0n): LogEvent => ({
  type: 'PUT',
  key: Buffer.from(key),
  value: Buffer.from(value),
  createRevision: 0n,
  modRevision: 0n,
  version: 0n,
  lease,
});

describe('applyRevisions (real etcd)', () => {
  let c: TestCluster;
  let etcd: EtcdClient;
  let ep: string;
  beforeAll(async () => {
    c = await startTestCluster({ size: 1 });
    etcd = createEtcdClient({ endpoints: c.endpoints });
    ep = c.endpoints[0]!;
  });
  afterAll(async () => {
    etcd?.close();
    await c?.stop();
  });

  const revisionNow = async () => (await etcd.status(ep)).revision;

  it('keeps a replayed lease alive past its TTL: it expires into no revision while the replay runs', async () => {
    const r0 = await revisionNow();
    const lease = 0x7a11n;
    async function* records(): AsyncGenerator<RevisionRecord> {
      yield { revision: r0 + 1n, receivedAt: Date.now(), events: [put('/ka/on-lease', 'x', lease)] };
      // more than the TTL (3 s) and etcd's extension at promotion: without keep-alives the lease would
      // expire here and delete /ka/on-lease in a revision of its own
      await new Promise((r) => setTimeout(r, 7000));
      yield { revision: r0 + 2n, receivedAt: Date.now(), events: [put('/ka/after', 'y')] };
    }
    const r = await applyRevisions(records(), {
      client: etcd,
      endpoint: ep,
      fromRevision: r0,
      toRevision: r0 + 2n,
      checkpoints: [],
      leaseTtls: new Map([[lease, 3]]),
      logger: silentLogger,
    });
    expect(r.applied).toBe(2);
    expect(r.leasesGranted).toBe(1);
    expect(await revisionNow()).toBe(r0 + 2n);
    const [kv] = await etcd.get('/ka/on-lease');
    expect(kv?.lease).toBe(lease);
    expect((await etcd.leaseTimeToLive(lease)).grantedTtl).toBe(3n);
  }, 30_000);

  it('grants a lease the log has no TTL for with the fallback, and says so', async () => {
    const r0 = await revisionNow();
    async function* records(): AsyncGenerator<RevisionRecord> {
      yield { revision: r0 + 1n, receivedAt: Date.now(), events: [put('/nt/a', 'x', 0xbeefn)] };
    }
    const r = await applyRevisions(records(), {
      client: etcd,
      endpoint: ep,
      fromRevision: r0,
      toRevision: r0 + 1n,
      checkpoints: [],
      leaseTtls: new Map([[0xbeefn, null]]),
      logger: silentLogger,
    });
    expect(r.leasesWithoutTtl).toEqual(['beef']);
    expect((await etcd.leaseTimeToLive(0xbeefn)).grantedTtl).toBe(BigInt(UNKNOWN_LEASE_TTL_SECONDS));
  });

  it('REPLAY_DIVERGED when the member is not at the revision the replay starts from', async () => {
    const r0 = await revisionNow();
    async function* records(): AsyncGenerator<RevisionRecord> {
      yield { revision: r0, receivedAt: Date.now(), events: [put('/dv/a', 'x')] };
    }
    const err = await applyRevisions(records(), {
      client: etcd,
      endpoint: ep,
      fromRevision: r0 - 1n,
      toRevision: r0,
      checkpoints: [],
      leaseTtls: new Map(),
      logger: silentLogger,
    }).catch((e: unknown) => e);
    expect(isDrError(err, 'REPLAY_DIVERGED')).toBe(true);
    expect((err as Error).message).toContain(`revision ${r0} of the log became revision ${r0 + 1n}`);
  });

  it('REPLAY_DIVERGED at a checkpoint whose HashKV differs, naming both hashes', async () => {
    const r0 = await revisionNow();
    async function* records(): AsyncGenerator<RevisionRecord> {
      yield { revision: r0 + 1n, receivedAt: Date.now(), events: [put('/cp/a', 'x')] };
      yield { revision: r0 + 2n, receivedAt: Date.now(), events: [put('/cp/b', 'y')] };
    }
    const err = await applyRevisions(records(), {
      client: etcd,
      endpoint: ep,
      fromRevision: r0,
      toRevision: r0 + 2n,
      checkpoints: [
        {
          revision: (r0 + 1n).toString(),
          hashKV: 12345,
          compactRevision: '-1',
          memberId: '1',
          endpoint: 'x',
          at: new Date().toISOString(),
        },
      ],
      leaseTtls: new Map(),
      logger: silentLogger,
    }).catch((e: unknown) => e);
    expect(isDrError(err, 'REPLAY_DIVERGED')).toBe(true);
    const real = (await etcd.hashKV(ep, r0 + 1n)).hash;
    expect((err as Error).message).toContain(
      `is ${real} on the replay member, the log's checkpoint says 12345`,
    );
    // it stopped at the checkpoint: the next revision was not applied
    expect(await revisionNow()).toBe(r0 + 1n);
  });
});
