/**
 * The daemon runs the revision log of a policy with `revisionLog:` (in-process, real etcd): writes made
 * while it runs are committed in chained segments under <cluster>/log/ and exported as metrics
 * (committed revision = etcd's, up, nothing waiting uncommitted); a shutdown commits the open segment; a
 * restarted daemon continues the same chain; a compaction past what was logged while the daemon was down
 * is a gap, exported with its time (read back from storage) for EtcdBackupLogGap.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/core/logger.js';
import { startDaemon, type DaemonHandle } from '../../src/daemon/run-daemon.js';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import { createEtcdClient } from '../../src/etcd/client.js';
import { followRevisionLog } from '../../src/revlog/follow-log.js';
import { listLog, readSegmentRecords } from '../../src/revlog/log-reader.js';
import { openBackend } from '../../src/storage/open-backend.js';
import type { Backend } from '../../src/storage/backend.js';
import { startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';
import { runDr } from '../helpers/dr.js';
import { freePort } from '../helpers/ports.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/until.js';
import { sample } from '../metrics/prom-text.js';

let cluster: TestCluster;
let tmp: { dir: string; cleanup: () => Promise<void> };
let file: string;
let port: number;
let store: Backend;

async function start(): Promise<{ handle: DaemonHandle; shutdown: AbortController; base: string }> {
  const shutdown = new AbortController();
  const handle = await startDaemon({
    configFile: file,
    env: { PATH: process.env.PATH ?? '' },
    logger: createLogger(process.env.DR_TEST_LOG ?? 'silent'),
    signal: shutdown.signal,
    graceMs: 1000,
    daemon: { catchUp: false },
    revisionLog: { retryDelayMs: 200 },
  });
  return { handle, shutdown, base: `http://127.0.0.1:${port}` };
}

async function stop(d: Awaited<ReturnType<typeof start>>): Promise<void> {
  d.shutdown.abort();
  await d.handle.stopped;
}

/** the cluster's full backups in storage (manifests), newest last */
async function backups(): Promise<string[]> {
  const out: string[] = [];
  for await (const o of store.list('main/')) if (/^main\/[^/]+\.manifest\.json$/.test(o.key)) out.push(o.key);
  return out.sort();
}

/** etcd's current revision */
async function revision(): Promise<bigint> {
  const out = await cluster.etcdctl(['endpoint', 'status', '-w', 'json']);
  return BigInt(/"revision":(\d+)/.exec(out)![1]!);
}

/** every revision logged, in order, with the keys its events touched */
async function logged(): Promise<{ revision: bigint; keys: string[] }[]> {
  const l = await listLog(store, 'main');
  const out: { revision: bigint; keys: string[] }[] = [];
  for (const s of l.segments) {
    for await (const r of readSegmentRecords(store, s)) {
      out.push({ revision: r.revision, keys: r.events.map((e) => e.key.toString()) });
    }
  }
  return out;
}

describe('dr daemon: the revision log of a policy', () => {
  const metric = async (d: Awaited<ReturnType<typeof start>>, name: string): Promise<number | undefined> =>
    sample(await (await fetch(`${d.base}/metrics`)).text(), name, { cluster: 'main', policy: 'hourly' });

  beforeAll(async () => {
    [cluster, tmp] = await Promise.all([startTestCluster({ size: 1 }), tempDir('dr-revlog-daemon-')]);
    port = await freePort();
    file = path.join(tmp.dir, 'dr.yaml');
    const url = pathToFileURL(path.join(tmp.dir, 'store')).href;
    await writeFile(
      file,
      `clusters:
  - name: main
    endpoints: [${cluster.endpoints.map((e) => JSON.stringify(e)).join(', ')}]
storage:
  - name: disk
    url: ${url}
policies:
  - name: hourly
    cluster: main
    schedule: "0 * * * *"
    storage: [disk]
    revisionLog: { segmentSeconds: 1, checkpointEverySeconds: 0, lagAlertSeconds: 90 }
server:
  listen: 127.0.0.1:${port}
catalog:
  path: ./catalog.sqlite
`,
    );
    store = await openBackend(url, {});
    // the base: a log starts one revision after the newest full backup
    await cluster.etcdctl(['put', '/registry/base', 'b']);
    const b = await runDr([
      'backup',
      '--endpoints',
      cluster.endpoints.join(','),
      '--cluster-name',
      'main',
      '--storage',
      url,
    ]);
    expect(b.code, b.stderr).toBe(0);
  });
  afterAll(async () => {
    await store?.close();
    await cluster?.stop();
    await tmp?.cleanup();
  });

  it('commits every write in chained segments and exports where it is', async () => {
    const d = await start();
    try {
      expect(await metric(d, 'etcd_backup_log_lag_alert_seconds')).toBe(90);
      await until(
        'etcd_backup_log_up === 1',
        async () => (await metric(d, 'etcd_backup_log_up')) === 1,
        30_000,
      );
      expect(await metric(d, 'etcd_backup_log_down_since_timestamp_seconds')).toBe(0);
      for (let i = 0; i < 5; i++) await cluster.etcdctl(['put', `/registry/pods/p${i}`, `v${i}`]);
      await cluster.etcdctl(['del', '/registry/pods/p2']);
      const rev = await revision();
      await until(
        'etcd_backup_log_committed_revision === Number(rev)',
        async () => (await metric(d, 'etcd_backup_log_committed_revision')) === Number(rev),
        30_000,
      );
      expect(await metric(d, 'etcd_backup_log_watch_revision')).toBe(Number(rev));
      expect(await metric(d, 'etcd_backup_log_uncommitted_since_timestamp_seconds')).toBe(0);
      expect(await metric(d, 'etcd_backup_log_segments_total')).toBeGreaterThanOrEqual(1);
      expect(await metric(d, 'etcd_backup_log_gaps_total')).toBe(0);
      expect(await metric(d, 'etcd_backup_log_last_gap_timestamp_seconds')).toBe(0);
      const recs = await logged();
      expect(recs.at(-1)!.revision).toBe(rev);
      expect(recs.flatMap((r) => r.keys)).toEqual([
        ...['p0', 'p1', 'p2', 'p3', 'p4'].map((p) => `/registry/pods/${p}`),
        '/registry/pods/p2',
      ]);
      // one chain, one revision after another
      const l = await listLog(store, 'main');
      expect(l.problems).toEqual([]);
      expect(l.chains).toHaveLength(1);
      // the writes before the shutdown are committed by it, not lost with the open segment
      await cluster.etcdctl(['put', '/registry/pods/last', 'x']);
    } finally {
      await stop(d);
    }
    const recs = await logged();
    expect(recs.at(-1)!.keys).toEqual(['/registry/pods/last']);
    expect(recs.at(-1)!.revision).toBe(await revision());
  });

  it('a restarted daemon continues the same chain, with no revision twice', async () => {
    await cluster.etcdctl(['put', '/registry/pods/while-down', 'y']);
    const d = await start();
    try {
      await cluster.etcdctl(['put', '/registry/pods/after', 'z']);
      const rev = await revision();
      await until(
        'etcd_backup_log_committed_revision === Number(rev)',
        async () => (await metric(d, 'etcd_backup_log_committed_revision')) === Number(rev),
        30_000,
      );
    } finally {
      await stop(d);
    }
    const recs = await logged();
    const revs = recs.map((r) => r.revision);
    expect(new Set(revs.map(String)).size).toBe(revs.length);
    for (let i = 1; i < revs.length; i++) expect(revs[i]! - revs[i - 1]!).toBe(1n);
    expect(recs.slice(-2).flatMap((r) => r.keys)).toEqual([
      '/registry/pods/while-down',
      '/registry/pods/after',
    ]);
    const l = await listLog(store, 'main');
    expect(l.chains).toHaveLength(1);
    expect(l.problems).toEqual([]);
  });

  it('another writer holding the log makes the daemon a standby; it takes over when that writer stops', async () => {
    const etcd = createEtcdClient({ endpoints: cluster.endpoints });
    const stopOther = new AbortController();
    const other = followRevisionLog(
      {
        etcd,
        backend: store,
        logger: silentLogger,
        clock: systemClock,
        owner: { host: 'h2', pid: 2, command: 'dr daemon' },
      },
      { clusterName: 'main', segmentSeconds: 1, checkpointEverySeconds: 0, signal: stopOther.signal },
    );
    other.catch(() => undefined);
    const otherRev = await etcd.put('/registry/pods/by-other', 'o');
    await until('the other writer committed', async () =>
      (await listLog(store, 'main')).segments.some((x) => BigInt(x.manifest.lastRevision) >= otherRev),
    );
    const d = await start();
    try {
      await until('standby', async () => (await metric(d, 'etcd_backup_log_standby')) === 1, 30_000);
      expect(await metric(d, 'etcd_backup_log_up')).toBe(0);
      stopOther.abort();
      await other;
      await until('taken over', async () => (await metric(d, 'etcd_backup_log_up')) === 1, 30_000);
      expect(await metric(d, 'etcd_backup_log_standby')).toBe(0);
      const rev = await etcd.put('/registry/pods/by-daemon', 'd');
      await until(
        'committed by the daemon',
        async () => (await metric(d, 'etcd_backup_log_committed_revision')) === Number(rev),
        30_000,
      );
    } finally {
      await stop(d);
      etcd.close();
    }
    const l = await listLog(store, 'main');
    expect(l.chains).toHaveLength(1);
    expect(l.problems).toEqual([]);
  });

  it('a compaction past the log while the daemon was down is a gap: counted, its time exported, and a full backup taken at once', async () => {
    for (let i = 0; i < 3; i++) await cluster.etcdctl(['put', '/registry/pods/lost', `v${i}`]);
    const rev = await revision();
    await cluster.etcdctl(['compaction', String(rev)]);
    const backupsBefore = (await backups()).length;
    const before = Date.now() / 1000;
    const d = await start();
    try {
      // the new chain's base: a backup the daemon takes because of the gap (its schedule is hourly)
      await until('a backup after the gap', async () => (await backups()).length > backupsBefore, 60_000);
      await until(
        'etcd_backup_log_gaps_total === 1',
        async () => (await metric(d, 'etcd_backup_log_gaps_total')) === 1,
        30_000,
      );
      const at = await metric(d, 'etcd_backup_log_last_gap_timestamp_seconds');
      expect(at).toBeGreaterThanOrEqual(Math.floor(before) - 1);
      await until(
        'etcd_backup_log_up === 1',
        async () => (await metric(d, 'etcd_backup_log_up')) === 1,
        30_000,
      );
    } finally {
      await stop(d);
    }
    const l = await listLog(store, 'main');
    expect(l.gaps).toHaveLength(1);
    expect(l.gaps[0]!.record.cause).toBe('resume-compacted');
    // a daemon started later still exports that gap's time (read back from storage) for the alert
    const again = await start();
    try {
      await until(
        'etcd_backup_log_last_gap_timestamp_seconds > 0',
        async () => (await metric(again, 'etcd_backup_log_last_gap_timestamp_seconds'))! > 0,
        30_000,
      );
      expect(await metric(again, 'etcd_backup_log_gaps_total')).toBe(0);
    } finally {
      await stop(again);
    }
  });

  it('a reload keeps a writer whose policy did not change (its segment stays open) and restarts one that did', async () => {
    const original = await readFile(file, 'utf8');
    const slow = original.replace('segmentSeconds: 1,', 'segmentSeconds: 60,');
    await writeFile(file, slow);
    const d = await start();
    const committed = async () => (await metric(d, 'etcd_backup_log_committed_revision')) ?? 0;
    try {
      await until(
        'etcd_backup_log_up === 1',
        async () => (await metric(d, 'etcd_backup_log_up')) === 1,
        30_000,
      );
      await cluster.etcdctl(['put', '/registry/reload/open', 'x']);
      const rev = Number(await revision());
      await until(
        'the write watched',
        async () => (await metric(d, 'etcd_backup_log_watch_revision')) === rev,
        30_000,
      );
      expect(await committed()).toBeLessThan(rev);
      // another policy added: this writer keeps running, its segment still open
      await writeFile(
        file,
        slow.replace(
          'server:',
          '  - name: yearly\n    cluster: main\n    schedule: "0 0 1 1 *"\n    storage: [disk]\nserver:',
        ),
      );
      expect(await d.handle.reload()).toBe(true);
      await new Promise((r) => setTimeout(r, 1500));
      expect(await committed()).toBeLessThan(rev);
      // its own block changed: restarted, which commits the open segment
      await writeFile(file, slow.replace('lagAlertSeconds: 90', 'lagAlertSeconds: 91'));
      expect(await d.handle.reload()).toBe(true);
      await until(
        'the open segment committed by the restart',
        async () => (await committed()) === rev,
        30_000,
      );
      expect(await metric(d, 'etcd_backup_log_lag_alert_seconds')).toBe(91);
    } finally {
      await stop(d);
      await writeFile(file, original);
    }
  });
});
