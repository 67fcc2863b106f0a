/**
 * The daemon removes what killed backups left in its storage targets on its own schedule
 * (src/jobs/cleanup.ts wired into src/daemon/daemon.ts), without anyone running `dr gc`: an old temp file
 * and an old data object without manifest go, a committed backup and a young temp file stay. No etcd is
 * needed: the policy's schedule never fires during the test and there is no catch-up.
 */
import { mkdir, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/core/logger.js';
import { startDaemon, type DaemonHandle } from '../../src/daemon/run-daemon.js';
import { filesBelow } from '../helpers/dr.js';
import { freePorts } from '../helpers/ports.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/until.js';

const HOUR = 3600_000;

describe('dr daemon: scheduled clean-up of leftovers', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let root: string;
  let handle: DaemonHandle | undefined;
  const shutdown = new AbortController();

  async function file(rel: string, ageMs: number): Promise<void> {
    const p = path.join(root, rel);
    await mkdir(path.dirname(p), { recursive: true });
    await writeFile(p, 'x');
    const t = new Date(Date.now() - ageMs);
    await utimes(p, t, t);
  }

  beforeAll(async () => {
    tmp = await tempDir('dr-daemon-cleanup-');
    root = path.join(tmp.dir, 'backups');
    await file('c1/20260101T000000Z-aaaaaaaa.db.zst', 10 * HOUR);
    await file('c1/20260101T000000Z-aaaaaaaa.manifest.json', 10 * HOUR);
    await file('c1/20260102T000000Z-bbbbbbbb.db.zst.tmp-0123456789abcdef', 2 * HOUR);
    await file('c1/20260103T000000Z-cccccccc.db.zst', 2 * HOUR);
    await file('c1/20260104T000000Z-dddddddd.db.zst.tmp-fedcba9876543210', 60_000);
    const [etcdPort, httpPort] = await freePorts(2);
    const configFile = path.join(tmp.dir, 'dr.yaml');
    await writeFile(
      configFile,
      `
clusters:
  - name: c1
    endpoints: ["127.0.0.1:${etcdPort}"]
storage:
  - name: local
    url: ${JSON.stringify(`file://${root}`)}
policies:
  - name: yearly
    cluster: c1
    schedule: "0 0 1 1 *"
    storage: [local]
server:
  listen: 127.0.0.1:${httpPort}
catalog:
  path: ./catalog.sqlite
`,
    );
    handle = await startDaemon({
      configFile,
      env: {},
      logger: createLogger(process.env.DR_TEST_LOG ?? 'silent'),
      signal: shutdown.signal,
      graceMs: 1000,
      daemon: { catchUp: false, cleanupEverySeconds: 1 },
    });
  });
  afterAll(async () => {
    shutdown.abort();
    await handle?.stopped.catch(() => undefined);
    await tmp?.cleanup();
  });

  it('removes old temp files and orphans on its own, keeps backups and young leftovers', async () => {
    const left = await until('the scheduled clean-up', () => {
      const files = filesBelow(root).sort();
      return files.length === 3 ? files : undefined;
    });
    expect(left).toEqual([
      'c1/20260101T000000Z-aaaaaaaa.db.zst',
      'c1/20260101T000000Z-aaaaaaaa.manifest.json',
      'c1/20260104T000000Z-dddddddd.db.zst.tmp-fedcba9876543210',
    ]);
  });
});
