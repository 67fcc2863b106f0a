/**
 * Scheduled drills in the daemon (in-process, real etcd with etcd auth enabled: the drilled cluster keeps
 * the backup's users, and dr verifies it as root by the drill's own client certificate): a policy's newest
 * backup is drilled, a policy
 * without a backup is a failed drill, both are recorded in the catalog, exported as metrics and listed by
 * GET /api/v1/drills, and a restarted daemon restores the drill series from the catalog.
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
let file: string;
let port: number;

async function start(): Promise<{ handle: DaemonHandle; shutdown: AbortController; base: string }> {
  const shutdown = new AbortController();
  const handle = await startDaemon({
    configFile: file,
    env: { PATH: process.env.PATH ?? '' },
    logger: createLogger(process.env.DR_TEST_LOG ?? 'silent'),
    signal: shutdown.signal,
    graceMs: 1000,
    daemon: { catchUp: false },
    drill: { timeouts: { quorumMs: 60_000, allMs: 60_000 } },
  });
  return { handle, shutdown, base: `http://127.0.0.1:${port}` };
}

describe('dr daemon: scheduled restore drills', () => {
  let d: Awaited<ReturnType<typeof start>>;
  const metrics = async (): Promise<string> => (await fetch(`${d.base}/metrics`)).text();
  const series = (policy: string) => ({ cluster: 'main', policy });

  beforeAll(async () => {
    const rootPassword = 'drill-daemon-root-7713';
    [cluster, tmp] = await Promise.all([
      startTestCluster({ size: 1, auth: { rootPassword } }),
      tempDir('dr-drill-daemon-'),
    ]);
    await writeFile(path.join(tmp.dir, 'root.pw'), `${rootPassword}\n`, { mode: 0o600 });
    for (let i = 0; i < 12; i++) await cluster.etcdctl(['put', `/registry/secrets/s-${i}`, `v${i}`]);
    port = await freePort();
    file = path.join(tmp.dir, 'dr.yaml');
    await writeFile(
      file,
      `clusters:
  - name: main
    endpoints: [${cluster.endpoints.map((e) => JSON.stringify(e)).join(', ')}]
    auth: { user: root, passwordFile: ./root.pw }
storage:
  - name: disk
    url: ${pathToFileURL(path.join(tmp.dir, 'store')).href}
policies:
  - name: hourly
    cluster: main
    schedule: "0 * * * *"
    storage: [disk]
    drill: { schedule: "0 4 * * 0", members: 1, workDir: ${JSON.stringify(tmp.dir)} }
  - name: never-backed-up
    cluster: main
    schedule: "0 0 1 1 *"
    storage: [disk]
    drill: { schedule: "0 5 * * 0", staleAfterSeconds: 3600 }
server:
  listen: 127.0.0.1:${port}
catalog:
  path: ./catalog.sqlite
`,
    );
    d = await start();
  });
  afterAll(async () => {
    d?.shutdown.abort();
    await d?.handle.stopped;
    await cluster?.stop();
    await tmp?.cleanup();
  });

  it('exports every drilled policy from the start: never drilled, with its staleness threshold', async () => {
    const text = await metrics();
    expect(sample(text, 'etcd_backup_last_drill_success_timestamp_seconds', series('hourly'))).toBe(0);
    expect(sample(text, 'etcd_backup_last_drill_timestamp_seconds', series('hourly'))).toBe(0);
    // twice a weekly schedule
    expect(sample(text, 'etcd_backup_drill_stale_after_seconds', series('hourly'))).toBe(2 * 7 * 86400);
    expect(sample(text, 'etcd_backup_drill_stale_after_seconds', series('never-backed-up'))).toBe(3600);
    expect(sample(text, 'etcd_backup_drills_total', { ...series('hourly'), result: 'failure' })).toBe(0);
  });

  it("drills the policy's newest backup and exports its success and measured RTO", async () => {
    const { job } = d.handle.daemon.trigger('main', 'hourly');
    await until('the backup job', () => d.handle.daemon.job(job.id)?.state === 'succeeded', 60_000);
    const backupId = d.handle.daemon.job(job.id)!.backupId;
    const r = (await d.handle.drills.fire('hourly'))!;
    expect(r.ok, JSON.stringify(r)).toBe(true);
    expect(r.backupId).toBe(backupId);
    expect(r.durationSeconds).toBeGreaterThan(0);
    const text = await metrics();
    const at = sample(text, 'etcd_backup_last_drill_success_timestamp_seconds', series('hourly'))!;
    expect(at).toBe(Date.parse(r.finishedAt) / 1000);
    expect(sample(text, 'etcd_backup_last_drill_timestamp_seconds', series('hourly'))).toBe(at);
    expect(sample(text, 'etcd_backup_drill_duration_seconds', series('hourly'))).toBe(r.durationSeconds);
    expect(sample(text, 'etcd_backup_drills_total', { ...series('hourly'), result: 'success' })).toBe(1);
  });

  it('a policy without a backup is a failed drill: last drill newer than the last success', async () => {
    const r = (await d.handle.drills.fire('never-backed-up'))!;
    expect(r.ok).toBe(false);
    expect((r as unknown as { error: { code: string } }).error.code).toBe('BACKUP_NOT_FOUND');
    const text = await metrics();
    expect(sample(text, 'etcd_backup_last_drill_success_timestamp_seconds', series('never-backed-up'))).toBe(
      0,
    );
    expect(
      sample(text, 'etcd_backup_last_drill_timestamp_seconds', series('never-backed-up')),
    ).toBeGreaterThan(0);
    expect(
      sample(text, 'etcd_backup_drills_total', { ...series('never-backed-up'), result: 'failure' }),
    ).toBe(1);
  });

  it('GET /api/v1/drills lists the schedules and the results, newest first', async () => {
    const res = await fetch(`${d.base}/api/v1/drills?cluster=main`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as any; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(body.scheduled.map((s: { policy: string }) => s.policy)).toEqual(['hourly', 'never-backed-up']);
    expect(body.scheduled[0].schedule).toBe('0 4 * * 0');
    expect(new Date(body.scheduled[0].nextRunAt).getUTCDay()).toBe(0);
    expect(body.scheduled[0].lastDrill.ok).toBe(true);
    expect(body.drills.map((x: { policy: string; ok: boolean }) => [x.policy, x.ok])).toEqual([
      ['never-backed-up', false],
      ['hourly', true],
    ]);
    // the whole result is there: what the backup said and what the restored cluster answered
    expect(body.drills[1].found.revision).toBe(body.drills[1].expected.revision);
    expect(body.drills[1].checks.length).toBe(7);
    const only = (await (await fetch(`${d.base}/api/v1/drills?policy=hourly`)).json()) as {
      drills: unknown[];
    };
    expect(only.drills).toHaveLength(1);
    expect((await fetch(`${d.base}/api/v1/drills?limit=0`)).status).toBe(400);
  });

  it('a restarted daemon exports the last drill from the catalog', async () => {
    const before = await metrics();
    const at = sample(before, 'etcd_backup_last_drill_success_timestamp_seconds', series('hourly'));
    const rto = sample(before, 'etcd_backup_drill_duration_seconds', series('hourly'));
    d.shutdown.abort();
    await d.handle.stopped;
    d = await start();
    const after = await metrics();
    expect(sample(after, 'etcd_backup_last_drill_success_timestamp_seconds', series('hourly'))).toBe(at);
    expect(sample(after, 'etcd_backup_drill_duration_seconds', series('hourly'))).toBe(rto);
    expect(
      sample(after, 'etcd_backup_last_drill_timestamp_seconds', series('never-backed-up')),
    ).toBeGreaterThan(0);
  });
});
