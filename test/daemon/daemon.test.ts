/**
 * The daemon in process against a real etcd member and a real s3rver over HTTP: a seconds schedule,
 * retention, the HTTP API with its token, /metrics moving, a refused reload, and a storage outage.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/core/logger.js';
import { startDaemon, type DaemonHandle } from '../../src/daemon/run-daemon.js';
import { listStorage } from '../../src/manifest/manifest-store.js';
import { openBackend } from '../../src/storage/open-backend.js';
import { startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';
import { freePorts } from '../helpers/ports.js';
import { until } from '../helpers/until.js';
import { tempDir } from '../helpers/tmp.js';
import { sample } from '../metrics/prom-text.js';
import { restartableS3rver, type RestartableS3rver } from './s3rver-process.js';

const TOKEN = 'test-token-0123456789';
let cluster: TestCluster;
let s3: RestartableS3rver;
let tmp: { dir: string; cleanup: () => Promise<void> };
let handle: DaemonHandle | undefined;
let base: string;
let configFile: string;
const shutdown = new AbortController();

function configText(port: number, extra = ''): string {
  return `
clusters:
  - name: c1
    endpoints: [${cluster.endpoints.map((e) => JSON.stringify(e)).join(', ')}]
    snapshotFrom: any
storage:
  - name: bucket
    url: ${JSON.stringify(s3.url('daemon'))}
policies:
  - name: fast
    cluster: c1
    schedule: "*/2 * * * * *"
    storage: [bucket]
    retention:
      keepLast: 3
${extra}
server:
  listen: 127.0.0.1:${port}
  tokenEnv: DR_TEST_TOKEN
catalog:
  path: ./catalog.sqlite
concurrency: 2
`;
}

const metrics = async (): Promise<string> => (await fetch(`${base}/metrics`)).text();
const l = { cluster: 'c1', policy: 'fast' };

beforeAll(async () => {
  tmp = await tempDir('dr-daemon-');
  const [s3Port, httpPort] = await freePorts(2);
  s3 = restartableS3rver(path.join(tmp.dir, 's3'), s3Port!);
  [cluster] = await Promise.all([startTestCluster(), s3.start()]);
  configFile = path.join(tmp.dir, 'dr.yaml');
  await writeFile(configFile, configText(httpPort!));
  handle = await startDaemon({
    configFile,
    env: { DR_TEST_TOKEN: TOKEN },
    logger: createLogger(process.env.DR_TEST_LOG ?? 'silent'),
    signal: shutdown.signal,
    graceMs: 5000,
    daemon: { catchUp: false, retryBaseMs: 300, auditEverySeconds: 1 },
  });
  base = `http://127.0.0.1:${httpPort}`;
});

afterAll(async () => {
  shutdown.abort();
  await handle?.stopped.catch(() => undefined);
  await Promise.all([cluster?.stop(), s3?.stop()]);
  await tmp?.cleanup();
});

describe('dr daemon (in process)', () => {
  it('serves health and readiness, and exposes the policy series from the start', async () => {
    expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ ok: true });
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ ready: true, storage: [{ name: 'bucket', ok: true }] });
    const text = await metrics();
    expect(sample(text, 'etcd_backup_expected_interval_seconds', l)).toBe(2);
    expect(sample(text, 'etcd_backup_last_success_timestamp_seconds', l)).toBeDefined();
  });

  it('runs the online audit and exports it: no divergence and no error on a healthy cluster', async () => {
    // the audit's decisions (divergence, alarms, unreachable members) are tested with a fake client in
    // test/audit/online.test.ts, and the alert on this gauge with promtool in test/alerts; this checks the wiring
    const text = await until('the first online audit', async () => {
      const t = await metrics();
      return sample(t, 'etcd_backup_member_hash_divergence', { cluster: 'c1' }) !== undefined ? t : undefined;
    });
    expect(sample(text, 'etcd_backup_member_hash_divergence', { cluster: 'c1' })).toBe(0);
    expect(sample(text, 'etcd_backup_audit_findings', { cluster: 'c1', severity: 'error' })).toBe(0);
    for (const endpoint of cluster.endpoints)
      expect(sample(text, 'etcd_backup_member_up', { cluster: 'c1', endpoint })).toBe(1);
  });

  it('fires the seconds schedule several times, applies keepLast 3, and moves /metrics', async () => {
    const successes = await until('three scheduled successes', async () => {
      const n = sample(await metrics(), 'etcd_backup_attempts_total', { ...l, result: 'success' }) ?? 0;
      return n >= 4 ? n : undefined;
    });
    expect(successes).toBeGreaterThanOrEqual(4);
    const text = await metrics();
    expect(sample(text, 'etcd_backup_last_success_timestamp_seconds', l)).toBeGreaterThan(
      Date.now() / 1000 - 60,
    );
    expect(sample(text, 'etcd_backup_last_db_size_bytes', l)).toBeGreaterThan(0);
    expect(
      sample(text, 'etcd_backup_retention_deletions_total', { ...l, storage: 'bucket' }),
    ).toBeGreaterThanOrEqual(1);
    expect(text).toMatch(/^etcd_backup_duration_seconds_count\{cluster="c1",policy="fast"\} [1-9]/m);

    const body = (await (await fetch(`${base}/api/v1/backups?cluster=c1`)).json()) as {
      backups: { id: string; verifyOk: boolean }[];
    };
    // keepLast 3 after each run: at most 3 (a run may be between its upload and its retention).
    expect(body.backups.length).toBeGreaterThanOrEqual(3);
    expect(body.backups.length).toBeLessThanOrEqual(4);
    expect(body.backups.every((b) => b.verifyOk)).toBe(true);
    const clusters = (await (await fetch(`${base}/api/v1/clusters`)).json()) as {
      clusters: { policies: { name: string; stale: boolean; nextRunAt: string }[] }[];
    };
    expect(clusters.clusters[0]!.policies[0]).toMatchObject({ name: 'fast', stale: false });
  });

  it('refuses a backup request without the right token (401) and runs one with it (202, then the job succeeds)', async () => {
    const url = `${base}/api/v1/clusters/c1/backups`;
    expect((await fetch(url, { method: 'POST' })).status).toBe(401);
    const wrong = await fetch(url, { method: 'POST', headers: { authorization: 'Bearer nope' } });
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
    expect(
      (
        await fetch(`${base}/api/v1/clusters/nosuch/backups`, {
          method: 'POST',
          headers: { authorization: `Bearer ${TOKEN}` },
        })
      ).status,
    ).toBe(404);

    const res = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ policy: 'fast' }),
    });
    expect(res.status).toBe(202);
    const { job } = (await res.json()) as { job: { id: string; cluster: string; policy: string } };
    expect(job).toMatchObject({ cluster: 'c1', policy: 'fast' });
    const done = await until('the job to finish', async () => {
      const j = (
        (await (await fetch(`${base}/api/v1/jobs/${job.id}`)).json()) as {
          job: { state: string; backupId: string | null };
        }
      ).job;
      return j.state === 'succeeded' || j.state === 'failed' ? j : undefined;
    });
    expect(done.state).toBe('succeeded');
    // The backup may already have been pruned by a later scheduled run (keepLast 3), but it existed:
    const one = await fetch(`${base}/api/v1/backups/${done.backupId}`);
    expect([200, 404]).toContain(one.status);
    expect((await fetch(`${base}/api/v1/jobs/00000000-0000-0000-0000-000000000000`)).status).toBe(404);
    expect((await fetch(`${base}/api/v1/backups/not-an-id`)).status).toBe(400);
  });

  it('keeps the running config when a reload finds the new one invalid', async () => {
    const good = await import('node:fs/promises').then((fs) => fs.readFile(configFile, 'utf8'));
    await writeFile(configFile, good.replace('"*/2 * * * * *"', '"every two seconds"'));
    expect(await handle!.reload()).toBe(false);
    expect(handle!.daemon.config.policies.map((p) => p.schedule)).toEqual(['*/2 * * * * *']);
    await writeFile(configFile, good);
  });

  it('counts failures and lets the age grow during a storage outage, then recovers on the same port', async () => {
    await s3.stop();
    const before = sample(await metrics(), 'etcd_backup_attempts_total', { ...l, result: 'failure' }) ?? 0;
    await until(
      'two failed attempts',
      async () =>
        (sample(await metrics(), 'etcd_backup_attempts_total', { ...l, result: 'failure' }) ?? 0) >=
        before + 2,
      45_000,
    );
    const age1 = sample(await metrics(), 'etcd_backup_last_success_age_seconds', l)!;
    await new Promise((r) => setTimeout(r, 1500));
    const age2 = sample(await metrics(), 'etcd_backup_last_success_age_seconds', l)!;
    expect(age2).toBeGreaterThan(age1);
    const notReady = await fetch(`${base}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.json()).toMatchObject({ ready: false, storage: [{ name: 'bucket', ok: false }] });

    await s3.start();
    const successes = sample(await metrics(), 'etcd_backup_attempts_total', { ...l, result: 'success' }) ?? 0;
    await until(
      'a success after the outage',
      async () =>
        (sample(await metrics(), 'etcd_backup_attempts_total', { ...l, result: 'success' }) ?? 0) > successes,
      45_000,
    );
    expect(sample(await metrics(), 'etcd_backup_last_success_age_seconds', l)).toBeLessThan(age2);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    // Nothing half-written was left behind by the failed attempts: every data object has its manifest.
    const backend = await openBackend(s3.url('daemon'));
    try {
      const { orphans } = await listStorage(backend, 'c1');
      expect(orphans).toEqual([]);
    } finally {
      await backend.close();
    }
  });
});
