/**
 * `dr config validate` and `dr prune` through their commander registration (src/cli/config.ts,
 * src/cli/prune.ts), in process, with stdout captured.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Catalog } from '../../src/catalog/catalog.js';
import { registerConfig } from '../../src/cli/config.js';
import { registerPrune } from '../../src/cli/prune.js';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import { createEtcdClient, type EtcdClient } from '../../src/etcd/client.js';
import { runBackupJob } from '../../src/jobs/backup-job.js';
import { listStorage } from '../../src/manifest/manifest-store.js';
import { openBackend } from '../../src/storage/open-backend.js';
import type { Backend } from '../../src/storage/backend.js';
import { startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';
import { tempDir } from '../helpers/tmp.js';

let cluster: TestCluster;
let etcd: EtcdClient;
let tmp: { dir: string; cleanup: () => Promise<void> };

beforeAll(async () => {
  [cluster, tmp] = await Promise.all([startTestCluster(), tempDir('dr-cli-prune-')]);
  etcd = createEtcdClient({ endpoints: cluster.endpoints });
  await etcd.put('/k', 'v');
});
afterAll(async () => {
  etcd?.close();
  await cluster?.stop();
  await tmp?.cleanup();
});

async function dr(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const program = new Command('dr').exitOverride();
  registerConfig(program);
  registerPrune(program);
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((stdout += String(s)), true));
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((stderr += String(s)), true));
  process.exitCode = 0;
  try {
    await program.parseAsync(['node', 'dr', ...args]);
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = 0;
  return { code, stdout, stderr };
}

describe('dr config validate', () => {
  it('lists every error with file:line:column and exits 2; summarises a good file', async () => {
    const bad = path.join(tmp.dir, 'bad.yaml');
    await writeFile(
      bad,
      'clusters:\n  - name: a\n    endpoints: [127.0.0.1:2379]\nstorage:\n  - name: s\n    url: ftp://x\npolicies:\n  - name: p\n    cluster: b\n    schedule: "* * *"\n    storage: [s]\n',
    );
    const r = await dr(['config', 'validate', bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /bad\.yaml:6:\d+: storage\[0\]\.url: storage url must start with file:\/\/, s3:\/\/ or azblob:\/\//,
    );
    expect(r.stderr).toMatch(/bad\.yaml:9:\d+: policies\[0\]\.cluster: no cluster named "b"/);
    expect(r.stderr).toMatch(/bad\.yaml:10:\d+: policies\[0\]\.schedule: invalid cron/);
    expect(r.stderr).toMatch(/3 errors/);

    const good = path.join(tmp.dir, 'good.yaml');
    await writeFile(
      good,
      'clusters:\n  - name: a\n    endpoints: [127.0.0.1:2379]\nstorage:\n  - name: s\n    url: file:///tmp/x\npolicies:\n  - name: p\n    cluster: a\n    schedule: "0 */6 * * *"\n    storage: [s]\n',
    );
    const ok = await dr(['config', 'validate', good, '--json']);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({
      ok: true,
      policies: [{ name: 'p', expectedIntervalSeconds: 21600, staleAfterSeconds: 43200 }],
    });
  });
});

describe('dr prune', () => {
  let backend: Backend;
  let url: string;
  const ids: string[] = [];

  beforeAll(async () => {
    url = pathToFileURL(path.join(tmp.dir, 'store')).href;
    backend = await openBackend(url);
    const catalog = Catalog.open(path.join(tmp.dir, 'seed.sqlite'));
    for (let i = 0; i < 3; i++) {
      const r = await runBackupJob(
        { etcd, catalog, logger: silentLogger, clock: systemClock },
        {
          cluster: 'c1',
          policy: 'nightly',
          compressionLevel: 1,
          snapshotFrom: 'any',
          verifyAfterUpload: false,
          retention: {},
          timezone: 'UTC',
          targets: [{ name: 'store', backend }],
        },
      );
      ids.push(r.manifest!.id);
    }
    catalog.close();
  });
  afterAll(async () => backend?.close());

  it('--dry-run with --storage and --keep-last prints each backup with its reasons and deletes nothing', async () => {
    const catalog = path.join(tmp.dir, 'cli.sqlite'); // a fresh catalog: prune syncs it from storage first
    const r = await dr([
      'prune',
      '--dry-run',
      '--json',
      '--storage',
      url,
      '--catalog',
      catalog,
      '--cluster-name',
      'c1',
      '--keep-last',
      '2',
    ]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as {
      dryRun: boolean;
      reports: {
        keep: { id: string; reasons: string[] }[];
        remove: { id: string; reason: string; removed: boolean }[];
      }[];
    };
    expect(out.dryRun).toBe(true);
    expect(out.reports[0]!.keep.map((k) => [k.id, k.reasons])).toEqual([
      [ids[2], ['last 2']],
      [ids[1], ['last 2']],
    ]);
    expect(out.reports[0]!.remove).toEqual([
      expect.objectContaining({
        id: ids[0],
        removed: false,
        reason: expect.stringMatching(/kept by no rule/),
      }),
    ]);
    expect((await listStorage(backend)).manifests.size).toBe(3);

    const real = await dr([
      'prune',
      '--storage',
      url,
      '--catalog',
      catalog,
      '--cluster-name',
      'c1',
      '--keep-last',
      '2',
    ]);
    expect(real.code).toBe(0);
    expect(real.stdout).toMatch(new RegExp(`${ids[0]}.*removed`));
    expect(real.stdout).toMatch(/last 2/);
    expect([...(await listStorage(backend)).manifests.values()].map((m) => m.id).sort()).toEqual(
      [ids[1], ids[2]].sort(),
    );
  });

  it('refuses prune without a rule or a cluster (exit 2)', async () => {
    expect((await dr(['prune', '--storage', url, '--cluster-name', 'c1'])).code).toBe(2);
    expect((await dr(['prune', '--storage', url, '--keep-last', '1'])).code).toBe(2);
    expect(
      (await dr(['prune', '--storage', url, '--cluster-name', 'c1', '--keep-within', 'soon'])).code,
    ).toBe(2);
  });
});
