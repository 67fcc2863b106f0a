/**
 * The daemon's grace period ends an upload that hangs: storage accepts the data object's PUT and never
 * answers (a fault-injecting proxy in front of s3rver), every S3 deadline is far beyond the test's
 * timeout, and the daemon is asked to stop. After the grace period the job is aborted, the request in
 * flight with it, the daemon stops, and nothing of the backup is visible.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/core/logger.js';
import { startDaemon, type DaemonHandle } from '../../src/daemon/run-daemon.js';
import { listStorage } from '../../src/manifest/manifest-store.js';
import { openBackend } from '../../src/storage/open-backend.js';
import { startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { freePort } from '../helpers/ports.js';
import { startS3rver, type S3rverHandle } from '../helpers/s3rver.js';
import { tempDir } from '../helpers/tmp.js';

describe('dr daemon: the grace period ends an upload that hangs', () => {
  let cluster: TestCluster;
  let s3: S3rverHandle;
  let proxy: FaultProxy;
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let handle: DaemonHandle | undefined;
  const shutdown = new AbortController();

  beforeAll(async () => {
    tmp = await tempDir('dr-daemon-stall-');
    [cluster, s3] = await Promise.all([startTestCluster({ size: 1 }), startS3rver('stall')]);
    proxy = await startFaultProxy(s3.endpoint);
  });
  afterAll(async () => {
    shutdown.abort();
    await handle?.stopped.catch(() => undefined);
    await proxy?.close();
    await Promise.all([cluster?.stop(), s3?.stop()]);
    await tmp?.cleanup();
  });

  it('SIGTERM-like stop: the job is aborted after the grace period, the daemon stops, nothing visible', async () => {
    proxy.fault({ op: 'PutObject', match: (r) => r.path.endsWith('.db.zst'), fault: { kind: 'stall' } });
    const q = new URLSearchParams({
      endpoint: proxy.endpoint,
      region: 'us-east-1',
      forcePathStyle: 'true',
      maxAttempts: '1',
      socketTimeoutMs: '600000',
      requestTimeoutMs: '600000',
    });
    const configFile = path.join(tmp.dir, 'dr.yaml');
    await writeFile(
      configFile,
      `
clusters:
  - name: c1
    endpoints: [${JSON.stringify(cluster.endpoints[0])}]
    snapshotFrom: any
storage:
  - name: bucket
    url: ${JSON.stringify(`s3://${s3.bucket}/daemon?${q.toString()}`)}
policies:
  - name: yearly
    cluster: c1
    schedule: "0 0 1 1 *"
    storage: [bucket]
server:
  listen: 127.0.0.1:${await freePort()}
catalog:
  path: ./catalog.sqlite
`,
    );
    handle = await startDaemon({
      configFile,
      env: {},
      logger: createLogger(process.env.DR_TEST_LOG ?? 'silent'),
      signal: shutdown.signal,
      graceMs: 500,
      // the catch-up backup (no success yet) starts at once and hangs on its upload
      daemon: { catchUp: true, retryBaseMs: 60_000 },
    });
    await proxy.waitFor('PutObject', 'stall');
    shutdown.abort();
    // the test's timeout (30 s) is far below the 600 s deadlines: only the abort can end the upload
    await handle.stopped;
    const direct = await openBackend(s3.url('daemon'));
    try {
      const { manifests, orphans } = await listStorage(direct);
      expect(manifests.size).toBe(0);
      expect(orphans).toEqual([]);
    } finally {
      await direct.close();
    }
  }, 30_000);
});
