/**
 * The revision log on s3:// (a real s3rver over HTTP): segments and manifests under `<prefix>/<cluster>/log/`,
 * a second writer resuming the chain, the reader listing and reading them back, and `dr`'s backup listing
 * (listStorage) not seeing any of it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import { createEtcdClient, type EtcdClient } from '../../src/etcd/client.js';
import { listStorage } from '../../src/manifest/manifest-store.js';
import { followRevisionLog } from '../../src/revlog/follow-log.js';
import { listLog, readSegmentRecords } from '../../src/revlog/log-reader.js';
import { countingObserver } from '../../src/revlog/revlog-metrics.js';
import type { Backend } from '../../src/storage/backend.js';
import { openBackend } from '../../src/storage/open-backend.js';
import { startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';
import { startS3rver, type S3rverHandle } from '../helpers/s3rver.js';
import { until } from '../helpers/until.js';

describe('revision log on s3:// (s3rver)', () => {
  let c: TestCluster;
  let s3: S3rverHandle;
  let etcd: EtcdClient;
  let backend: Backend;

  beforeAll(async () => {
    [c, s3] = await Promise.all([startTestCluster({ size: 1 }), startS3rver('dr-revlog')]);
    etcd = createEtcdClient({ endpoints: c.endpoints });
    backend = await openBackend(s3.url('backups'));
  }, 120_000);
  afterAll(async () => {
    etcd?.close();
    await backend?.close();
    await Promise.all([c?.stop(), s3?.stop()]);
  });

  async function run(fromRevision: bigint | undefined, write: () => Promise<bigint>): Promise<void> {
    const stop = new AbortController();
    const observer = countingObserver();
    const running = followRevisionLog(
      { etcd, backend, logger: silentLogger, clock: systemClock, observer },
      {
        clusterName: 'prod',
        fromRevision,
        segmentSeconds: 1,
        checkpointEverySeconds: 1,
        signal: stop.signal,
      },
    );
    running.catch(() => undefined);
    const last = await write();
    await until('committed', () => observer.counters.committedRevision >= last, 30_000);
    stop.abort();
    expect((await running).gaps).toEqual([]);
  }

  it('writes, resumes and reads back the log; the backup listing ignores it', async () => {
    const start = (await etcd.put('/s3/start', '0')) + 1n;
    let last = 0n;
    await run(start, async () => {
      await etcd.txnPuts([
        { key: '/s3/a', value: '1' },
        { key: '/s3/b', value: '2' },
      ]);
      return etcd.put('/s3/c', '3');
    });
    await run(undefined, async () => {
      await etcd.delete('/s3/a');
      last = await etcd.put('/s3/d', '4');
      return last;
    });
    const log = await listLog(backend, 'prod');
    expect(log.problems).toEqual([]);
    expect(log.chains).toHaveLength(1);
    expect(log.segments[0]!.manifest.stored.key).toMatch(/^prod\/log\/\d{20}-\d{20}\.log\.zst$/);
    const changes: string[] = [];
    for (const s of log.segments)
      for await (const r of readSegmentRecords(backend, s))
        for (const e of r.events) changes.push(`${r.revision} ${e.type} ${e.key.toString()}`);
    expect(changes).toEqual([
      `${start} PUT /s3/a`,
      `${start} PUT /s3/b`,
      `${start + 1n} PUT /s3/c`,
      `${start + 2n} DELETE /s3/a`,
      `${last} PUT /s3/d`,
    ]);
    const listing = await listStorage(backend);
    expect(listing.manifests.size).toBe(0);
    expect(listing.orphans).toEqual([]);
  });
});
