/**
 * `dr daemon` as a real process: exit code and message for a bad config, SIGHUP adding a policy,
 * SIGTERM in the middle of an upload leaving nothing visible in storage, and a daemon killed with SIGKILL
 * while its revision log holds an open segment: nothing committed is lost, and the daemon started again
 * continues the chain at once (the lease of its dead predecessor on this host is taken over).
 * Runs the compiled CLI (dist/, built by `npm test`; DR_DIST_DIR overrides).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Catalog } from '../../src/catalog/catalog.js';
import { createEtcdClient } from '../../src/etcd/client.js';
import { listStorage } from '../../src/manifest/manifest-store.js';
import { listLog, readSegmentRecords } from '../../src/revlog/log-reader.js';
import { openBackend } from '../../src/storage/open-backend.js';
import { startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';
import { freePort } from '../helpers/ports.js';
import { until } from '../helpers/until.js';
import { tempDir } from '../helpers/tmp.js';

const FIXTURE = path.join(import.meta.dirname, 'fixtures', 'daemon-cli.mjs');
const DIST = path.resolve(process.env.DR_DIST_DIR ?? path.join(import.meta.dirname, '../../dist'));

let cluster: TestCluster;
let tmp: { dir: string; cleanup: () => Promise<void> };
const children: ChildProcess[] = [];

interface Run {
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: string | null }>;
}

function startDr(args: string[]): Run {
  const child = spawn(process.execPath, [FIXTURE, 'daemon', ...args], {
    env: { ...process.env, DR_DIST_DIR: DIST, DR_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  child.stdout.resume();
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, stderr: () => err, exited };
}

function config(o: { port: number; storageDir: string; policies: string; catalog: string }): string {
  return `clusters:
  - name: big
    endpoints: [${cluster.endpoints.map((e) => JSON.stringify(e)).join(', ')}]
    snapshotFrom: any
storage:
  - name: disk
    url: ${pathToFileURL(o.storageDir).href}
policies:
${o.policies}
server:
  listen: 127.0.0.1:${o.port}
catalog:
  path: ${o.catalog}
`;
}

beforeAll(async () => {
  if (!existsSync(path.join(DIST, 'cli', 'daemon.js')))
    throw new Error(`${DIST}/cli/daemon.js is missing: run \`npm run build\` first`);
  [cluster, tmp] = await Promise.all([startTestCluster(), tempDir('dr-daemon-proc-')]);
  // ~24 MiB of random values: a snapshot that takes seconds to compress at zstd level 19.
  const etcd = createEtcdClient({ endpoints: cluster.endpoints });
  try {
    for (let i = 0; i < 24; i++) await etcd.put(`/big/${i}`, randomBytes(1024 * 1024));
  } finally {
    etcd.close();
  }
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await cluster?.stop();
  await tmp?.cleanup();
});

describe('dr daemon (process)', () => {
  it('refuses a bad config at start with exit 2 and file:line:field messages', async () => {
    const file = path.join(tmp.dir, 'bad.yaml');
    await writeFile(
      file,
      config({
        port: 1,
        storageDir: path.join(tmp.dir, 'bad-store'),
        catalog: path.join(tmp.dir, 'bad.sqlite'),
        policies: `  - name: p\n    cluster: big\n    schedule: "61 * * * *"\n    storage: [nowhere]\n`,
      }),
    );
    const run = startDr(['--config', file]);
    const { code } = await run.exited;
    expect(code).toBe(2);
    expect(run.stderr()).toMatch(/CONFIG_INVALID/);
    expect(run.stderr()).toMatch(new RegExp(`bad\\.yaml:\\d+:\\d+: policies\\[0\\]\\.schedule: .*61`));
    expect(run.stderr()).toMatch(/policies\[0\]\.storage\[0\]: no storage target named "nowhere"/);
  });

  it('SIGHUP adds a policy without a restart, and its schedule runs', async () => {
    const port = await freePort();
    const file = path.join(tmp.dir, 'hup.yaml');
    const o = {
      port,
      storageDir: path.join(tmp.dir, 'hup-store'),
      catalog: path.join(tmp.dir, 'hup.sqlite'),
    };
    const yearly = `  - name: yearly\n    cluster: big\n    schedule: "0 0 1 1 *"\n    storage: [disk]\n    verifyAfterUpload: false\n`;
    await writeFile(file, config({ ...o, policies: yearly }));
    const run = startDr(['--config', file, '--no-catch-up']);
    const base = `http://127.0.0.1:${port}`;
    await until('the API', async () => (await fetch(`${base}/healthz`)).ok);
    const policies = async () =>
      (
        (await (await fetch(`${base}/api/v1/clusters`)).json()) as {
          clusters: { policies: { name: string }[] }[];
        }
      ).clusters[0]!.policies.map((p) => p.name);
    expect(await policies()).toEqual(['yearly']);

    const every = `  - name: every-second\n    cluster: big\n    schedule: "* * * * * *"\n    storage: [disk]\n    compressionLevel: 1\n    verifyAfterUpload: false\n    retention: { keepLast: 2 }\n`;
    await writeFile(file, config({ ...o, policies: yearly + every }));
    run.child.kill('SIGHUP');
    await until('the added policy', async () => (await policies()).includes('every-second'));
    const backups = await until('backups of the added policy', async () => {
      const b = (
        (await (await fetch(`${base}/api/v1/backups?cluster=big`)).json()) as {
          backups: { policy: string }[];
        }
      ).backups;
      return b.filter((x) => x.policy === 'every-second').length >= 1 ? b : undefined;
    });
    expect(backups.every((b) => b.policy === 'every-second')).toBe(true);
    expect(run.stderr()).toMatch(/"msg":"config reloaded"/);

    run.child.kill('SIGTERM');
    expect((await run.exited).code).toBe(0);
  });

  it('SIGTERM mid-upload with no grace period aborts the backup and leaves nothing visible', async () => {
    const port = await freePort();
    const file = path.join(tmp.dir, 'term.yaml');
    const storageDir = path.join(tmp.dir, 'term-store');
    const catalogFile = path.join(tmp.dir, 'term.sqlite');
    // Never scheduled in this test; the catch-up at start (no backup yet) starts the upload.
    const slow = `  - name: slow\n    cluster: big\n    schedule: "0 0 1 1 *"\n    storage: [disk]\n    compressionLevel: 19\n`;
    await writeFile(file, config({ port, storageDir, catalog: catalogFile, policies: slow }));
    const run = startDr(['--config', file, '--grace-period', '0']);
    await until('the upload to start', () => run.stderr().includes('"msg":"backup started"'));
    await new Promise((r) => setTimeout(r, 700));
    expect(run.stderr()).not.toMatch(/"msg":"backup committed"/);
    run.child.kill('SIGTERM');
    const { code } = await run.exited;
    expect(code).toBe(0);
    expect(run.stderr()).toMatch(/"msg":"grace period over: aborting running jobs"/);
    expect(run.stderr()).toMatch(/"state":"cancelled"/);
    expect(run.stderr()).not.toMatch(/"msg":"backup committed"/);

    const backend = await openBackend(pathToFileURL(storageDir).href);
    try {
      const { manifests, orphans } = await listStorage(backend);
      expect(manifests.size).toBe(0);
      expect(orphans).toEqual([]);
      const visible: string[] = [];
      for await (const o of backend.list('')) visible.push(o.key);
      expect(visible).toEqual([]);
    } finally {
      await backend.close();
    }
    const catalog = Catalog.open(catalogFile);
    try {
      expect(catalog.listBackups(backend.location)).toEqual([]);
      expect(catalog.recentAttempts({ policy: 'slow' })).toMatchObject([
        { result: 'failure', errorCode: 'ABORTED' },
      ]);
    } finally {
      catalog.close();
    }
  });

  it('SIGKILL with an open log segment loses nothing committed; started again, it continues the chain', async () => {
    const port = await freePort();
    const file = path.join(tmp.dir, 'kill.yaml');
    const storageDir = path.join(tmp.dir, 'kill-store');
    // the catch-up at start takes the base backup; a segment closes at 200 plain bytes or after 60 s
    const logged = `  - name: logged\n    cluster: big\n    schedule: "0 0 1 1 *"\n    storage: [disk]\n    compressionLevel: 1\n    verifyAfterUpload: false\n    revisionLog: { segmentSeconds: 60, segmentMaxBytes: 200, checkpointEverySeconds: 0 }\n`;
    await writeFile(
      file,
      config({ port, storageDir, catalog: path.join(tmp.dir, 'kill.sqlite'), policies: logged }),
    );
    const etcd = createEtcdClient({ endpoints: cluster.endpoints });
    const backend = await openBackend(pathToFileURL(storageDir).href);
    const committedUpTo = async () => {
      const log = await listLog(backend, 'big').catch(() => null);
      return (log?.segments ?? []).reduce(
        (m, s) => (BigInt(s.manifest.lastRevision) > m ? BigInt(s.manifest.lastRevision) : m),
        0n,
      );
    };
    try {
      const first = startDr(['--config', file]);
      await until('the base backup', () => first.stderr().includes('"msg":"backup committed"'), 60_000);
      // logged from the base backup's revision on, whenever the writer has started
      const committed = await etcd.put('/log/committed', 'x'.repeat(300));
      await until('the first write committed', async () => (await committedUpTo()) >= committed, 60_000);
      const open = await etcd.put('/log/open', 'y');
      await new Promise((r) => setTimeout(r, 500));
      expect(await committedUpTo()).toBe(committed);
      first.child.kill('SIGKILL');
      expect((await first.exited).signal).toBe('SIGKILL');

      const second = startDr(['--config', file, '--no-catch-up']);
      const after = await etcd.put('/log/after', 'z'.repeat(300));
      await until(
        'the write after the restart committed',
        async () => (await committedUpTo()) >= after,
        60_000,
      );
      expect(second.stderr()).toMatch(
        /taking over the lease of a process of this host that no longer exists/,
      );
      second.child.kill('SIGTERM');
      expect((await second.exited).code).toBe(0);

      const log = await listLog(backend, 'big');
      expect(log.problems).toEqual([]);
      expect(log.chains).toHaveLength(1);
      const keys: [string, bigint][] = [];
      for (const s of log.segments)
        for await (const rec of readSegmentRecords(backend, s))
          for (const e of rec.events)
            if (e.key.toString().startsWith('/log/')) keys.push([e.key.toString(), rec.revision]);
      expect(keys).toEqual([
        ['/log/committed', committed],
        ['/log/open', open],
        ['/log/after', after],
      ]);
    } finally {
      etcd.close();
      await backend.close();
    }
  }, 120_000);
});
