/**
 * The daemon's online audit as metrics, in process against a real 3-member cluster and a cluster nobody
 * answers for: findings per cluster and severity, one up gauge per endpoint, a member that goes down, and
 * a wholly unreachable cluster counted as one error (never "critical").
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/core/logger.js';
import { startDaemon, type DaemonHandle } from '../../src/daemon/run-daemon.js';
import { startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';
import { freePort } from '../helpers/ports.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/until.js';
import { sample } from '../metrics/prom-text.js';

let cluster: TestCluster;
let tmp: { dir: string; cleanup: () => Promise<void> };
let handle: DaemonHandle | undefined;
let base: string;
const shutdown = new AbortController();
const DOWN = 'http://127.0.0.1:1';

const metrics = async (): Promise<string> => (await fetch(`${base}/metrics`)).text();

beforeAll(async () => {
  [cluster, tmp] = await Promise.all([startTestCluster({ size: 3 }), tempDir('dr-daemon-audit-')]);
  const port = await freePort();
  const file = path.join(tmp.dir, 'dr.yaml');
  await writeFile(
    file,
    `clusters:
  - name: main
    endpoints: [${cluster.endpoints.map((e) => JSON.stringify(e)).join(', ')}]
  - name: gone
    endpoints: [${JSON.stringify(DOWN)}]
    dialTimeoutMs: 1000
storage:
  - name: disk
    url: ${pathToFileURL(path.join(tmp.dir, 'store')).href}
policies:
  - name: yearly
    cluster: main
    schedule: "0 0 1 1 *"
    storage: [disk]
server:
  listen: 127.0.0.1:${port}
catalog:
  path: ./catalog.sqlite
`,
  );
  handle = await startDaemon({
    configFile: file,
    env: {},
    logger: createLogger(process.env.DR_TEST_LOG ?? 'silent'),
    signal: shutdown.signal,
    graceMs: 1000,
    daemon: { catchUp: false, auditEverySeconds: 1 },
  });
  base = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  shutdown.abort();
  await handle?.stopped.catch(() => undefined);
  await cluster?.stop();
  await tmp?.cleanup();
});

describe('online audit metrics (daemon, real cluster)', () => {
  it('a healthy cluster: every endpoint up, no error; an unreachable cluster: one error, its endpoint down', async () => {
    const text = await until('the first audit round', async () => {
      const t = await metrics();
      return sample(t, 'etcd_backup_audit_findings', { cluster: 'gone', severity: 'error' }) !== undefined
        ? t
        : undefined;
    });
    for (const endpoint of cluster.endpoints)
      expect(sample(text, 'etcd_backup_member_up', { cluster: 'main', endpoint }), endpoint).toBe(1);
    expect(sample(text, 'etcd_backup_audit_findings', { cluster: 'main', severity: 'error' })).toBe(0);
    expect(sample(text, 'etcd_backup_member_hash_divergence', { cluster: 'main' })).toBe(0);

    expect(sample(text, 'etcd_backup_audit_findings', { cluster: 'gone', severity: 'error' })).toBe(1);
    expect(sample(text, 'etcd_backup_audit_findings', { cluster: 'gone', severity: 'warning' })).toBe(0);
    expect(sample(text, 'etcd_backup_member_up', { cluster: 'gone', endpoint: DOWN })).toBe(0);
    expect(text).not.toMatch(/severity="critical"/);
    expect(text).not.toMatch(/^etcd_backup_audit_findings\{severity=/m);
  });

  it('a member that stops answering is down in the next round and makes an error finding', async () => {
    await cluster.kill(2);
    const down = cluster.endpoints[2]!;
    const text = await until('the stopped member in an audit round', async () => {
      const t = await metrics();
      return sample(t, 'etcd_backup_member_up', { cluster: 'main', endpoint: down }) === 0 ? t : undefined;
    });
    expect(sample(text, 'etcd_backup_member_up', { cluster: 'main', endpoint: cluster.endpoints[0]! })).toBe(
      1,
    );
    expect(sample(text, 'etcd_backup_member_up', { cluster: 'main', endpoint: cluster.endpoints[1]! })).toBe(
      1,
    );
    expect(
      sample(text, 'etcd_backup_audit_findings', { cluster: 'main', severity: 'error' }),
    ).toBeGreaterThanOrEqual(1);
  });
});
