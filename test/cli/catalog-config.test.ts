/**
 * One catalog for the daemon and the CLI, and one hash form per output kind, end to end: a daemon (in
 * process) backs up a real member and verifies the backup into its catalog; `dr list --config` shows that
 * verification; `dr backup --config` writes to the same storage and catalog; the hash is hex for people
 * and decimal in JSON, exactly as `etcdctl snapshot status -w table` / `-w json` print them.
 */
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { catalogPath, type CommandContext } from '../../src/cli/context.js';
import { createLogger } from '../../src/core/logger.js';
import { startDaemon, type DaemonHandle } from '../../src/daemon/run-daemon.js';
import { runDr } from '../helpers/dr.js';
import { startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';
import { freePort } from '../helpers/ports.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/until.js';

const execFileAsync = promisify(execFile);

let c: TestCluster;
let tmp: { dir: string; cleanup: () => Promise<void> };
let handle: DaemonHandle | undefined;
let configFile: string;
let storeUrl: string;
let xdg: Record<string, string>;
const shutdown = new AbortController();

beforeAll(async () => {
  [c, tmp] = await Promise.all([startTestCluster({ size: 1 }), tempDir('dr-catalog-config-')]);
  for (let i = 0; i < 20; i++) await c.etcdctl(['put', `/k/${i}`, `v${i}`]);
  const port = await freePort();
  storeUrl = pathToFileURL(path.join(tmp.dir, 'store')).href;
  configFile = path.join(tmp.dir, 'dr.yaml');
  await writeFile(
    configFile,
    `clusters:
  - name: main
    endpoints: [${c.endpoints.map((e) => JSON.stringify(e)).join(', ')}]
    snapshotFrom: any
storage:
  - name: disk
    url: ${storeUrl}
policies:
  - name: yearly
    cluster: main
    schedule: "0 0 1 1 *"
    storage: [disk]
    verifyAfterUpload: false
server:
  listen: 127.0.0.1:${port}
catalog:
  path: ./daemon-catalog.sqlite
`,
  );
  // the CLI's own default catalog lives elsewhere: only --config can make them meet
  await mkdir(path.join(tmp.dir, 'xdg'));
  xdg = { XDG_STATE_HOME: path.join(tmp.dir, 'xdg'), DR_CATALOG: '' };
  handle = await startDaemon({
    configFile,
    env: {},
    logger: createLogger(process.env.DR_TEST_LOG ?? 'silent'),
    signal: shutdown.signal,
    graceMs: 5000,
    daemon: { catchUp: true, verifyEverySeconds: 1 },
  });
  // the catch-up backup, then the daemon's periodic verification of it
  await until(
    'the daemon to verify its backup',
    () => handle!.daemon.backups()[0]?.verifyOk === true,
    60_000,
  );
});

afterAll(async () => {
  shutdown.abort();
  await handle?.stopped.catch(() => undefined);
  await c?.stop();
  await tmp?.cleanup();
});

async function etcdctlStatus(file: string): Promise<{ json: { hash: number }; table: string }> {
  const env = { ...process.env, ETCDCTL_API: '3' };
  const json = await execFileAsync('etcdctl', ['snapshot', 'status', file, '-w', 'json'], { env });
  const table = await execFileAsync('etcdctl', ['snapshot', 'status', file, '-w', 'table'], { env });
  return { json: JSON.parse(json.stdout) as { hash: number }, table: table.stdout };
}

describe('the daemon and the CLI share a catalog with --config', () => {
  it("dr list --config shows the daemon's verification; without it the CLI's own catalog reads it from storage", async () => {
    const daemonId = handle!.daemon.backups()[0]!.id;
    const shared = await runDr(['list', '--config', configFile, '--json'], xdg);
    expect(shared.code).toBe(0);
    expect(shared.json.storage).toBe(storeUrl);
    const b = shared.json.backups.find((x: { id: string }) => x.id === daemonId);
    expect(b).toMatchObject({ verifyOk: true });
    expect(b.verifiedAt).toEqual(expect.any(String));

    const table = await runDr(['list', '--config', configFile], xdg);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(new RegExp(`${daemonId}.*\\bok \\d+[smhd] ago`));

    // a catalog of its own (another host, a rebuilt catalog) learns the daemon's verification from the
    // record the daemon wrote beside the manifest
    const separate = await runDr(['list', '--storage', storeUrl, '--json'], xdg);
    expect(separate.code).toBe(0);
    const s = separate.json.backups.find((x: { id: string }) => x.id === daemonId);
    expect(s).toMatchObject({ verifyOk: true, verifiedAt: expect.any(String) });
  });

  it('--storage NAME picks a target of --config; an unknown name is a usage error naming the targets', async () => {
    const byName = await runDr(['list', '--config', configFile, '--storage', 'disk', '--json'], xdg);
    expect(byName.code).toBe(0);
    expect(byName.json.backups.length).toBeGreaterThan(0);
    const wrong = await runDr(['list', '--config', configFile, '--storage', 'tape', '--json'], xdg);
    expect(wrong.code).toBe(2);
    expect(wrong.json.error).toMatchObject({ code: 'USAGE', message: expect.stringMatching(/"tape".*disk/) });
  });

  it('the hash is hex for people and decimal in JSON, as etcdctl prints them', async () => {
    const backup = await runDr(['backup', '--config', configFile, '--cluster', 'main'], xdg);
    expect(backup.stderr).toBe('');
    expect(backup.code).toBe(0);
    const id = /^backup (\S+) committed/m.exec(backup.stdout)![1]!;
    const hex = /\bhash ([0-9a-f]+)$/m.exec(backup.stdout)![1]!;

    // the backup went to the daemon's catalog too
    const listed = await runDr(['list', '--config', configFile, '--json'], xdg);
    expect(listed.json.backups.map((x: { id: string }) => x.id)).toContain(id);

    const show = await runDr(['show', id, '--config', configFile], xdg);
    expect(show.code).toBe(0);
    const manifest = JSON.parse(show.stdout) as { snapshot: { hash: number } };
    expect(typeof manifest.snapshot.hash).toBe('number');
    expect(manifest.snapshot.hash.toString(16)).toBe(hex);

    const file = path.join(tmp.dir, `${id}.db`);
    const fetched = await runDr(['fetch', id, '--out', file, '--storage', storeUrl], xdg);
    expect(fetched.code).toBe(0);
    const etcdctl = await etcdctlStatus(file);
    expect(etcdctl.json.hash).toBe(manifest.snapshot.hash);
    expect(etcdctl.table).toMatch(new RegExp(`\\|\\s+${hex}\\s+\\|`));
  });
});

describe('catalog location', () => {
  const ctx = (flags: CommandContext['flags'], env: Record<string, string> = {}) =>
    ({ flags, env: { XDG_STATE_HOME: '/xdg', ...env } }) as unknown as CommandContext;

  it("uses the daemon's default catalog when it exists and is writable, else the XDG one", async () => {
    const daemonDefault = path.join(tmp.dir, 'var-lib', 'catalog.sqlite');
    expect(catalogPath(ctx({}), daemonDefault)).toBe('/xdg/etcd-dr/catalog.sqlite');
    await mkdir(path.dirname(daemonDefault), { recursive: true });
    await writeFile(daemonDefault, '');
    expect(catalogPath(ctx({}), daemonDefault)).toBe(daemonDefault);
    expect(catalogPath(ctx({}, { DR_CATALOG: '/env.sqlite' }), daemonDefault)).toBe('/env.sqlite');
    expect(catalogPath(ctx({ catalog: '/flag.sqlite' }), daemonDefault)).toBe('/flag.sqlite');
  });
});
