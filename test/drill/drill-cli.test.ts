/**
 * `dr drill` end to end (the built CLI): a real cluster is backed up with `dr backup`, then the backup is
 * restored into a throwaway cluster by the etcd under test, verified, timed and removed. A backup whose
 * manifest lies about its key count fails the drill (exit 1); a machine without a matching etcd refuses
 * it (exit 2). Nothing is left behind: no file under the work dir, no etcd process on its data dirs.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Catalog } from '../../src/catalog/catalog.js';
import { filesBelow, runDr, spawnDr } from '../helpers/dr.js';
import { startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';
import { etcdAtLeast, etcdVersion } from '../helpers/etcd-version.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/until.js';

/** pids of processes whose command line mentions dir (an etcd the drill left running) */
function processesUnder(dir: string): number[] {
  const pids: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(dir)) pids.push(Number(p));
    } catch {
      /* gone */
    }
  }
  return pids;
}

/** pids of etcd members whose command line mentions dir */
function etcdsUnder(dir: string): number[] {
  return processesUnder(dir).filter((p) => {
    try {
      return path.basename(readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0')[0]!) === 'etcd';
    } catch {
      return false;
    }
  });
}

/**
 * true once an etcd member under dir answers /health on the client URL its command line names (https with
 * the drill's own client certificate, from the tls/ folder beside its data dir)
 */
async function memberAnswers(dir: string, withCert = true): Promise<boolean> {
  for (const pid of etcdsUnder(dir)) {
    let url: string | undefined;
    let dataDir: string | undefined;
    try {
      const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      const value = (name: string) => {
        const i = args.findIndex((a) => a === name || a.startsWith(`${name}=`));
        return i < 0 ? undefined : args[i]!.includes('=') ? args[i]!.split('=')[1] : args[i + 1];
      };
      url = value('--listen-client-urls')?.split(',')[0];
      dataDir = value('--data-dir');
    } catch {
      continue;
    }
    if (!url || !dataDir) continue;
    const tls = path.join(path.dirname(dataDir), 'tls');
    const ok = await new Promise<boolean>((resolve) => {
      const req = httpsRequest(
        new URL('/health', url),
        {
          ca: readFileSync(path.join(tls, 'ca.crt')),
          ...(withCert
            ? {
                cert: readFileSync(path.join(tls, 'client.crt')),
                key: readFileSync(path.join(tls, 'client.key')),
              }
            : {}),
          timeout: 1000,
        },
        (res) => {
          res.resume();
          resolve(res.statusCode === 200);
        },
      );
      req.on('error', () => resolve(false));
      req.on('timeout', () => req.destroy());
      req.end();
    });
    if (ok) return true;
  }
  return false;
}

describe('dr drill', () => {
  let c: TestCluster;
  let dir: string;
  let cleanup: () => Promise<void>;
  let env: Record<string, string>;
  let work: string;
  let manifest: any; // eslint-disable-line @typescript-eslint/no-explicit-any

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('dr-drill-'));
    work = path.join(dir, 'work');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(work);
    c = await startTestCluster({ size: 1 });
    env = { DR_STORAGE: `file://${path.join(dir, 'store')}`, DR_CATALOG: path.join(dir, 'catalog.sqlite') };
    for (let i = 0; i < 25; i++) await c.etcdctl(['put', `/registry/configmaps/default/cm-${i}`, `v${i}`]);
    await c.etcdctl(['put', '/registry/configmaps/default/cm-3', 'rewritten']);
    await c.etcdctl(['del', '/registry/configmaps/default/cm-7']);
    const b = await runDr(
      ['backup', '--endpoints', c.endpoints.join(','), '--cluster-name', 'prod', '--json'],
      env,
    );
    expect(b.code, b.stderr).toBe(0);
    manifest = b.json;
  });
  afterAll(async () => {
    await c?.stop();
    await cleanup?.();
  });

  it('restores the latest backup into a 3-member throwaway cluster, verifies it, times it and removes it', async () => {
    const r = await runDr(
      ['drill', '--backup', 'latest', '--members', '3', '--work-dir', work, '--json'],
      env,
      240_000,
    );
    expect(r.code, r.stderr).toBe(0);
    const d = r.json;
    expect(d.ok).toBe(true);
    expect(d.backupId).toBe(manifest.id);
    expect(d.members).toBe(3);
    expect(d.etcdVersion).toBe(etcdVersion().text);
    expect(d.error).toBeNull();
    // the restored cluster answered the backup's revision, live key count and HashKV
    expect(d.found.revision).toBe(manifest.snapshot.revision);
    expect(d.expected.revision).toBe(manifest.snapshot.revision);
    expect(d.found.keys).toBe(24);
    expect(d.expected.keys).toBe(24);
    expect(d.expected.keysAre).toBe('live');
    expect(typeof d.found.hashKV).toBe('number');
    expect(d.found.hashKV).toBe(d.expected.hashKV);
    expect(d.checks.map((x: { name: string }) => x.name)).toEqual([
      'health',
      'members',
      'leader',
      'cluster-id',
      'revision',
      'key-count',
      'hashkv',
    ]);
    expect(d.checks.every((x: { ok: boolean }) => x.ok)).toBe(true);
    expect(d.durationSeconds).toBeGreaterThan(0);
    expect(Date.parse(d.finishedAt)).toBeGreaterThanOrEqual(Date.parse(d.startedAt));
    // everything it made is gone
    expect(d.cleanedUp).toBe(true);
    expect(filesBelow(work)).toEqual([]);
    expect(readdirSync(work)).toEqual([]);
    expect(processesUnder(work)).toEqual([]);
    // the original cluster was not touched
    expect(await c.etcdctl(['get', '/registry/configmaps/default/cm-3', '--print-value-only'])).toContain(
      'rewritten',
    );
    // recorded in the catalog
    const cat = Catalog.open(env.DR_CATALOG!);
    try {
      const drills = cat.recentDrills({ cluster: 'prod' });
      expect(drills).toHaveLength(1);
      expect(drills[0]!.ok).toBe(true);
      expect(drills[0]!.backupId).toBe(manifest.id);
      expect(drills[0]!.durationSeconds).toBe(d.durationSeconds);
    } finally {
      cat.close();
    }
  });

  it('a drill killed with SIGKILL leaves its member running; the next drill stops it and removes its directory', async () => {
    const killed = spawnDr(['drill', '--backup', 'latest', '--work-dir', work, '--json'], env);
    const exited = new Promise<void>((r) => killed.once('exit', () => r()));
    try {
      // killed once its throwaway member runs and answers: nothing in dr can clean up after a SIGKILL
      // (dr itself and etcd's restore tool name the work dir too: wait for an etcd member, then for its
      // /health, so that the kill cannot land while the member is still starting or failing to)
      await until('the drill member to answer /health', () => memberAnswers(work), 120_000, 100);
    } finally {
      killed.kill('SIGKILL');
      await exited;
    }
    const left = readdirSync(work);
    expect(left).toHaveLength(1);
    expect(left[0]).toMatch(/^dr-drill-/);
    expect(etcdsUnder(work).length).toBeGreaterThan(0);
    // the restored keyspace is served to holders of the drill's own client certificate only
    expect(await memberAnswers(work, false)).toBe(false);
    expect(await memberAnswers(work, true)).toBe(true);
    const r = await runDr(['drill', '--backup', 'latest', '--work-dir', work, '--json'], env, 240_000);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.ok).toBe(true);
    expect(r.json.cleanedUp).toBe(true);
    expect(readdirSync(work)).toEqual([]);
    expect(
      processesUnder(work).map((p) => readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ')),
    ).toEqual([]);
  });

  it('fails (exit 1) when the restored cluster does not match what the backup says, and still cleans up', async () => {
    const file = path.join(dir, 'store', 'prod', `${manifest.id}.manifest.json`);
    const original = readFileSync(file, 'utf8');
    const lying = JSON.parse(original);
    lying.snapshot.liveKeys = 25;
    writeFileSync(file, JSON.stringify(lying));
    try {
      const r = await runDr(['drill', '--backup', manifest.id, '--work-dir', work, '--json'], env, 240_000);
      expect(r.code, r.stderr).toBe(1);
      expect(r.json.ok).toBe(false);
      expect(r.json.error.code).toBe('VERIFY_FAILED');
      expect(r.json.error.message).toContain('key-count');
      expect(r.json.error.message).not.toContain('--resume');
      const kc = r.json.checks.find((x: { name: string }) => x.name === 'key-count');
      expect(kc.ok).toBe(false);
      expect(kc.message).toContain('24 keys (backup 25)');
      expect(r.json.durationSeconds).toBeNull();
      expect(r.json.cleanedUp).toBe(true);
      expect(readdirSync(work)).toEqual([]);
      expect(processesUnder(work)).toEqual([]);
      const cat = Catalog.open(env.DR_CATALOG!);
      try {
        expect(cat.recentDrills({ cluster: 'prod', ok: false }).map((x) => x.backupId)).toEqual([
          manifest.id,
        ]);
      } finally {
        cat.close();
      }
    } finally {
      writeFileSync(file, original);
    }
  });

  it('refuses (exit 2) when no etcd of the backup version is installed, naming what it looked for', async () => {
    const r = await runDr(['drill', '--backup', 'latest', '--work-dir', work], {
      ...env,
      PATH: path.join(dir, 'empty'),
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`no etcd ${etcdVersion().major}.${etcdVersion().minor}.x`);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(readdirSync(work)).toEqual([]);
  });

  it("--config takes the daemon config's storage target and catalog", async () => {
    const cfg = path.join(dir, 'dr.yaml');
    writeFileSync(
      cfg,
      `clusters:\n  - name: prod\n    endpoints: [${c.endpoints.map((e) => JSON.stringify(e)).join(', ')}]\nstorage:\n  - name: disk\n    url: ${env.DR_STORAGE}\ncatalog:\n  path: ./cfg-catalog.sqlite\n`,
    );
    const r = await runDr(
      ['drill', '--config', cfg, '--backup', 'latest', '--work-dir', work, '--json'],
      {},
      240_000,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.ok).toBe(true);
    const cat = Catalog.open(path.join(dir, 'cfg-catalog.sqlite'));
    try {
      expect(cat.recentDrills().map((x) => x.backupId)).toEqual([manifest.id]);
    } finally {
      cat.close();
    }
    expect(readdirSync(work)).toEqual([]);
  });

  it(
    etcdAtLeast(3, 5)
      ? '--bump-revision N --mark-compacted rehearses the Kubernetes restore: revision + N, compacted there, keys checked'
      : '--bump-revision is refused before anything runs (etcdctl 3.4.23 cannot bump), and nothing is left',
    async () => {
      const bump = 1_000_000_000;
      const r = await runDr(
        [
          'drill',
          '--backup',
          'latest',
          '--work-dir',
          work,
          '--bump-revision',
          String(bump),
          '--mark-compacted',
          '--json',
        ],
        env,
        240_000,
      );
      const d = r.json;
      const to = (BigInt(manifest.snapshot.revision) + BigInt(bump)).toString();
      expect(d.bump).toEqual({ revision: bump, fromRevision: manifest.snapshot.revision, toRevision: to });
      expect(d.expected.revision).toBe(to);
      expect(readdirSync(work)).toEqual([]);
      expect(processesUnder(work)).toEqual([]);
      if (!etcdAtLeast(3, 5)) {
        expect(r.code).toBe(2);
        expect(d.ok).toBe(false);
        expect(d.error.code).toBe('RESTORE_REFUSED');
        expect(d.error.message).toContain('cannot --bump-revision');
        return;
      }
      expect(r.code, r.stderr).toBe(0);
      expect(d.ok).toBe(true);
      expect(d.found.revision).toBe(to);
      expect(d.found.keys).toBe(24);
      // a bumped store's HashKV is not compared with the backup's: no offline hash was computed
      expect(d.expected.hashKV).toBeNull();
      expect(d.checks.find((x: { name: string }) => x.name === 'revision')).toMatchObject({ ok: true });
      expect(d.checks.every((x: { ok: boolean }) => x.ok)).toBe(true);
    },
  );

  it('--bump-revision without --mark-compacted is a usage error', async () => {
    const r = await runDr(['drill', '--backup', 'latest', '--bump-revision', '1000'], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('drill: --bump-revision N and --mark-compacted go together');
  });

  it('rejects a bad --members', async () => {
    const r = await runDr(['drill', '--backup', 'latest', '--members', '2'], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--members 2: 1 or 3');
  });
});
