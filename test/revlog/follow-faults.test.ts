/**
 * The revision log writer when things go wrong, against a real 3-member etcd cluster: the watched member
 * is killed (the writer watches another from the next revision: no gap, no duplicate), and the writer is
 * held back by slow storage while etcd compacts past it (etcd cancels the watch: a `watch-compacted` gap,
 * a new chain at the compact revision + 1, and the revisions before the cut are kept).
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import { createEtcdClient, type EtcdClient } from '../../src/etcd/client.js';
import { followRevisionLog } from '../../src/revlog/follow-log.js';
import { listLog, readSegmentRecords } from '../../src/revlog/log-reader.js';
import { countingObserver } from '../../src/revlog/revlog-metrics.js';
import type { Backend } from '../../src/storage/backend.js';
import { openBackend } from '../../src/storage/open-backend.js';
import { startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';
import { backendView } from '../helpers/backend-view.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/until.js';

describe('revision log writer faults (real 3-member etcd)', () => {
  let c: TestCluster;
  let etcd: EtcdClient;
  let backend: Backend;
  let cleanup: () => Promise<void>;

  async function revisions(cluster: string): Promise<bigint[]> {
    const log = await listLog(backend, cluster);
    const out: bigint[] = [];
    for (const s of log.segments) for await (const r of readSegmentRecords(backend, s)) out.push(r.revision);
    return out;
  }

  beforeAll(async () => {
    let dir: string;
    ({ dir, cleanup } = await tempDir('dr-revlog-faults-'));
    await mkdir(path.join(dir, 'store'));
    backend = await openBackend(`file://${path.join(dir, 'store')}`);
    c = await startTestCluster({ size: 3 });
    etcd = createEtcdClient({ endpoints: c.endpoints, dialTimeoutMs: 1000, reconnectBackoffMs: 100 });
  }, 180_000);
  afterAll(async () => {
    etcd?.close();
    await c?.stop();
    await cleanup?.();
  });

  it('watches another member when the watched one dies, from the next revision', async () => {
    const start = (await etcd.put('/fo/start', '0')) + 1n;
    const stop = new AbortController();
    const observer = countingObserver();
    const running = followRevisionLog(
      { etcd, backend, logger: silentLogger, clock: systemClock, observer },
      {
        clusterName: 'fo',
        fromRevision: start,
        segmentSeconds: 1,
        checkpointEverySeconds: 0,
        retryDelayMs: 200,
        signal: stop.signal,
      },
    );
    running.catch(() => undefined);
    let last = 0n;
    for (let i = 0; i < 5; i++) last = await etcd.put(`/fo/before/${i}`, 'x');
    await until('written before the kill', () => observer.counters.committedRevision >= last, 30_000);
    await c.kill(0);
    for (let i = 0; i < 5; i++) last = await etcd.put(`/fo/after/${i}`, 'y');
    await until('written after the kill', () => observer.counters.committedRevision >= last, 60_000);
    stop.abort();
    const result = await running;
    expect(result.gaps).toEqual([]);
    const log = await listLog(backend, 'fo');
    expect(log.problems).toEqual([]);
    expect(log.chains).toHaveLength(1);
    expect(await revisions('fo')).toEqual(
      Array.from({ length: Number(last - start + 1n) }, (_, i) => start + BigInt(i)),
    );
    const sources = new Set(log.segments.map((s) => s.manifest.source.endpoint));
    expect(sources.has(c.endpoints[0]!)).toBe(true);
    expect(sources.size).toBeGreaterThan(1);
  });

  it(
    'a writer held back past a compaction records a watch-compacted gap and keeps what it read',
    { timeout: 180_000 },
    async () => {
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const slow: Backend = backendView(backend, {
        put: async (key, body, o) => {
          if (!key.includes('/gaps/')) await gate;
          return backend.put(key, body, o);
        },
      });
      const start = (await etcd.put('/wc/start', '0')) + 1n;
      const stop = new AbortController();
      const observer = countingObserver();
      const running = followRevisionLog(
        { etcd, backend: slow, logger: silentLogger, clock: systemClock, observer },
        {
          clusterName: 'wc',
          fromRevision: start,
          segmentSeconds: 1,
          segmentMaxBytes: 4096,
          checkpointEverySeconds: 0,
          signal: stop.signal,
        },
      );
      running.catch(() => undefined);
      // far more revisions than the writer may hold (two segments of 4 KiB) and than etcd queues for a
      // watch (128 responses, then the HTTP/2 window): etcd stops sending and its watcher falls behind
      const value = 'v'.repeat(1000);
      let last = 0n;
      const writes = Array.from({ length: 1500 }, (_, i) => i);
      for (let i = 0; i < writes.length; i += 20)
        for (const r of await Promise.all(writes.slice(i, i + 20).map((j) => etcd.put(`/wc/${j}`, value))))
          if (r > last) last = r;
      await until('the writer is held back', () => observer.counters.loggedRevision > 0n, 30_000);
      expect(observer.counters.loggedRevision).toBeLessThan(last);
      await etcd.compact(last, { physical: true });
      release();
      const after = await etcd.put('/wc/after', '1');
      await until(
        'a gap recorded and the write after it committed',
        () => observer.counters.gaps === 1 && observer.counters.committedRevision >= after,
        60_000,
      );
      stop.abort();
      const result = await running;
      expect(result.gaps).toHaveLength(1);
      const gap = result.gaps[0]!;
      expect(gap).toMatchObject({
        cause: 'watch-compacted',
        compactRevision: last.toString(),
        resumedFrom: (last + 1n).toString(),
      });
      const lostFrom = BigInt(gap.lostFrom);
      expect(lostFrom).toBeGreaterThan(start);
      const log = await listLog(backend, 'wc');
      expect(log.chains).toHaveLength(2);
      expect(log.problems.map((p) => p.code)).toEqual(['gap']);
      // everything read before the cut is committed, then the new chain from last + 1
      const revs = await revisions('wc');
      const firstChain = revs.filter((r) => r < lostFrom);
      expect(firstChain).toEqual(
        Array.from({ length: Number(lostFrom - start) }, (_, i) => start + BigInt(i)),
      );
      expect(revs.filter((r) => r >= lostFrom)).toEqual([after]);
    },
  );
});
