/**
 * Retention of the revision log (src/revlog/log-retention.ts through `dr prune`), against a real etcd
 * member and file:// storage: backup A, logged writes, backup B, more logged writes; `dr prune --keep-last
 * 1` removes A and every segment whose revisions are all at or below B's (the dry run lists them with the
 * reason and removes nothing), keeps the segment that reaches past B and every later one; the log that
 * remains reads as continuous (`dr inspect log` exit 0) and a writer started afterwards continues its
 * chain without a gap. The chain check itself: a first segment whose predecessor retention removed is not
 * a missing chain start; one below nothing pruned still is.
 */
import path from 'node:path';
import { mkdir } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import { createEtcdClient, type EtcdClient } from '../../src/etcd/client.js';
import { checkChains } from '../../src/revlog/chain-check.js';
import { followRevisionLog } from '../../src/revlog/follow-log.js';
import { listLog } from '../../src/revlog/log-reader.js';
import type { ReadSegmentManifest } from '../../src/revlog/segment-manifest.js';
import type { Backend } from '../../src/storage/backend.js';
import { openBackend } from '../../src/storage/open-backend.js';
import { runDr } from '../helpers/dr.js';
import { startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/until.js';

const CLUSTER = 'prod';

describe('revision log retention (dr prune)', () => {
  let c: TestCluster;
  let etcd: EtcdClient;
  let backend: Backend;
  let url: string;
  let cleanup: () => Promise<void>;
  let dir: string;

  /** the writer runs while `work` does, and commits its open segment when stopped */
  async function logging(work: () => Promise<void>): Promise<void> {
    const stop = new AbortController();
    const running = followRevisionLog(
      { etcd, backend, logger: silentLogger, clock: systemClock },
      { clusterName: CLUSTER, segmentSeconds: 1, checkpointEverySeconds: 0, signal: stop.signal },
    );
    running.catch(() => undefined);
    try {
      await work();
    } finally {
      stop.abort();
    }
    const r = await running;
    expect(r.gaps).toEqual([]);
  }

  /** a few writes, each in a segment of its own (segments close 1 s after their first revision) */
  async function writes(prefix: string, n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      const rev = await etcd.put(`${prefix}/${i}`, `v${i}`);
      await until(`revision ${rev} committed`, async () => {
        const l = await listLog(backend, CLUSTER);
        return l.segments.some((s) => BigInt(s.manifest.lastRevision) >= rev);
      });
    }
  }

  const backup = async (): Promise<{ id: string; revision: bigint }> => {
    const r = await runDr([
      'backup',
      '--endpoints',
      c.endpoints.join(','),
      '--cluster-name',
      CLUSTER,
      '--storage',
      url,
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    return { id: r.json.id, revision: BigInt(r.json.snapshot.revision) };
  };

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('dr-revlog-retention-'));
    c = await startTestCluster({ size: 1 });
    etcd = createEtcdClient({ endpoints: c.endpoints });
    await mkdir(path.join(dir, 'store'));
    url = `file://${path.join(dir, 'store')}`;
    backend = await openBackend(url);
  }, 120_000);
  afterAll(async () => {
    etcd?.close();
    await c?.stop();
    await cleanup?.();
  });

  it('removes the segments no kept backup needs, says why, and leaves a log that reads continuous', async () => {
    await etcd.put('/seed', 'x');
    const a = await backup();
    let b = { id: '', revision: 0n };
    await logging(async () => {
      await writes('/before', 3);
      b = await backup();
      await writes('/after', 2);
    });
    const before = await listLog(backend, CLUSTER);
    expect(before.problems).toEqual([]);
    const segs = before.segments.map((s) => ({
      key: s.key,
      first: BigInt(s.manifest.firstRevision),
      last: BigInt(s.manifest.lastRevision),
    }));
    const needless = segs.filter((s) => s.last <= b.revision);
    const needed = segs.filter((s) => s.last > b.revision);
    expect(needless.length).toBeGreaterThanOrEqual(3);
    expect(needed.length).toBeGreaterThanOrEqual(2);

    const args = ['prune', '--storage', url, '--cluster-name', CLUSTER, '--keep-last', '1', '--json'];
    const dry = await runDr([...args, '--dry-run'], { DR_CATALOG: path.join(dir, 'catalog.sqlite') });
    expect(dry.code, dry.stderr).toBe(0);
    const dl = dry.json.reports[0].log;
    expect(dry.json.reports[0].remove.map((x: { id: string }) => x.id)).toEqual([a.id]);
    expect(dl.oldestKept).toEqual({ id: b.id, revision: b.revision.toString() });
    const manifests = dl.remove.filter((x: { kind: string }) => x.kind === 'segment-manifest');
    expect(manifests.map((x: { key: string }) => x.key).sort()).toEqual(needless.map((s) => s.key).sort());
    expect(dl.remove.filter((x: { kind: string }) => x.kind === 'segment-data')).toHaveLength(
      needless.length,
    );
    for (const x of dl.remove) {
      expect(x.removed).toBe(false);
      expect(x.reason).toContain(
        `at or below ${b.revision}, the revision of the oldest full backup kept (${b.id})`,
      );
    }
    expect((await listLog(backend, CLUSTER)).segments).toHaveLength(segs.length);

    const real = await runDr(args, { DR_CATALOG: path.join(dir, 'catalog.sqlite') });
    expect(real.code, real.stderr).toBe(0);
    expect(real.json.reports[0].log.remove.every((x: { removed: boolean }) => x.removed)).toBe(true);
    const after = await listLog(backend, CLUSTER);
    expect(after.segments.map((s) => s.key).sort()).toEqual(needed.map((s) => s.key).sort());
    expect(after.prunedThrough).toBe(b.revision);
    expect(after.problems).toEqual([]);
    const inspect = await runDr(['inspect', 'log', '--storage', url, '--cluster', CLUSTER, '--json']);
    expect(inspect.code, inspect.stderr).toBe(0);
    // a writer started now continues the chain: no gap, and the next revision follows the head
    await logging(() => writes('/later', 1));
    const later = await listLog(backend, CLUSTER);
    expect(later.problems).toEqual([]);
    expect(later.chains).toHaveLength(1);
  });

  it('the chain check: a predecessor retention removed is not a missing start; one it did not remove is', () => {
    const seg = (first: number, last: number, prev: string | null): ReadSegmentManifest =>
      ({
        key: `${CLUSTER}/log/${first}-${last}.manifest.json`,
        sha256: `sha-${first}`,
        manifest: {
          chainId: 'c1',
          chainStartRevision: '10',
          firstRevision: String(first),
          lastRevision: String(last),
          prevSha256: prev,
          firstTime: '2026-12-03T00:00:00.000Z',
          lastTime: '2026-12-03T00:00:01.000Z',
        },
      }) as unknown as ReadSegmentManifest;
    const left = [seg(21, 30, 'sha-gone'), seg(31, 40, 'sha-21')];
    expect(checkChains(left, [], 20n).problems).toEqual([]);
    expect(checkChains(left, [], 19n).problems.map((p) => p.code)).toEqual(['chain-start-missing']);
    expect(checkChains(left, []).problems.map((p) => p.code)).toEqual(['chain-start-missing']);
  });
});
