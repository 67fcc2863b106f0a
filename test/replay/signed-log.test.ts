/**
 * Signed segment manifests: with a signing key the writer puts `<first>-<last>.manifest.sig` beside each
 * segment manifest (before it); with a verify key, `dr inspect log` and a point-in-time restore accept the
 * signed log and refuse, naming the segment, one whose signature is missing or does not verify (an edited
 * manifest) — as backup manifests are refused. Without a verify key nothing changes.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import { createEtcdClient, type EtcdClient } from '../../src/etcd/client.js';
import { loadSigningKey } from '../../src/manifest/manifest-signature.js';
import { followRevisionLog } from '../../src/revlog/follow-log.js';
import { countingObserver } from '../../src/revlog/revlog-metrics.js';
import { openBackend } from '../../src/storage/open-backend.js';
import { runDr } from '../helpers/dr.js';
import { startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/until.js';

describe('signed revision log', () => {
  let c: TestCluster;
  let etcd: EtcdClient;
  let dir: string;
  let cleanup: () => Promise<void>;
  let env: Record<string, string>;
  let logDir: string;
  let head: bigint;
  let verifyKey: string;

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('dr-signed-log-'));
    c = await startTestCluster({ size: 1 });
    etcd = createEtcdClient({ endpoints: c.endpoints });
    const signKey = path.join(dir, 'sign.pem');
    verifyKey = path.join(dir, 'verify.pem');
    execFileSync('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', signKey]);
    execFileSync('chmod', ['600', signKey]);
    execFileSync('openssl', ['pkey', '-in', signKey, '-pubout', '-out', verifyKey]);
    const store = path.join(dir, 'store');
    await mkdir(store);
    logDir = path.join(store, 'prod', 'log');
    env = { DR_STORAGE: `file://${store}`, DR_CATALOG: path.join(dir, 'state', 'catalog.sqlite') };
    for (let i = 0; i < 5; i++) await etcd.put(`/s/${i}`, 'v');
    const b = await runDr(
      ['backup', '--endpoints', c.endpoints[0]!, '--cluster-name', 'prod', '--sign-key', signKey, '--json'],
      env,
    );
    expect(b.code, b.stderr).toBe(0);

    const backend = await openBackend(env.DR_STORAGE!);
    const stop = new AbortController();
    const observer = countingObserver();
    const running = followRevisionLog(
      { etcd, backend, logger: silentLogger, clock: systemClock, observer },
      {
        clusterName: 'prod',
        segmentSeconds: 1,
        checkpointEverySeconds: 1,
        signKey: loadSigningKey(signKey),
        signal: stop.signal,
      },
    );
    running.catch(() => undefined);
    try {
      for (let i = 0; i < 3; i++) {
        await etcd.put(`/s/${i}`, `w${i}`);
        await new Promise((r) => setTimeout(r, 1200));
      }
      head = await etcd.put('/s/last', 'z');
      await until('committed', () => observer.counters.committedRevision >= head, 30_000);
    } finally {
      stop.abort();
    }
    await running;
    await backend.close();
  }, 120_000);
  afterAll(async () => {
    etcd?.close();
    await c?.stop();
    await cleanup?.();
  });

  const manifests = () =>
    readdirSync(logDir)
      .filter((f) => f.endsWith('.manifest.json'))
      .sort();

  it('writes a signature beside every segment manifest; a verify key accepts the log and the replay', async () => {
    const ms = manifests();
    expect(ms.length).toBeGreaterThan(1);
    for (const m of ms) expect(readdirSync(logDir)).toContain(m.replace('.manifest.json', '.manifest.sig'));
    const i = await runDr(['inspect', 'log', '--cluster', 'prod', '--verify-key', verifyKey, '--json'], env);
    expect(i.code, i.stderr).toBe(0);
    const f = await runDr(
      [
        'fetch',
        '--revision',
        head.toString(),
        '--cluster-name',
        'prod',
        '--verify-key',
        verifyKey,
        '--out',
        path.join(dir, 'ok.db'),
        '--json',
      ],
      env,
    );
    expect(f.code, f.stderr).toBe(0);
    expect(f.json.revision).toBe(head.toString());
  }, 60_000);

  it('with a verify key, a segment without its signature or with an edited manifest is refused, naming it', async () => {
    const fetchArgs = (out: string, more: string[] = []) => [
      'fetch',
      '--revision',
      head.toString(),
      '--cluster-name',
      'prod',
      '--out',
      path.join(dir, out),
      '--json',
      ...more,
    ];
    const victim = manifests()[1]!;
    const sig = path.join(logDir, victim.replace('.manifest.json', '.manifest.sig'));
    await rename(sig, `${sig}.away`);
    try {
      const r = await runDr(fetchArgs('unsigned.db', ['--verify-key', verifyKey]), env);
      expect(r.code).toBe(1);
      expect(r.json.error.code).toBe('REVLOG_DISCONTINUOUS');
      expect(r.json.error.message).toContain(victim);
      expect(r.json.error.message).toContain('unsigned');
      // without a verify key the same log replays
      const plain = await runDr(fetchArgs('unverified.db'), env);
      expect(plain.code, plain.stderr).toBe(0);
    } finally {
      await rename(`${sig}.away`, sig);
    }
    // an edited manifest keeps its old signature, which no longer verifies
    const file = path.join(logDir, victim);
    const original = await readFile(file, 'utf8');
    await writeFile(
      file,
      original.replace(/"eventCount": (\d+)/, (_m, n: string) => `"eventCount": ${Number(n) + 1}`),
    );
    try {
      const r = await runDr(fetchArgs('edited.db', ['--verify-key', verifyKey]), env);
      expect(r.code).toBe(1);
      expect(r.json.error.code).toBe('REVLOG_DISCONTINUOUS');
      expect(r.json.error.message).toContain('does not verify');
    } finally {
      await writeFile(file, original);
    }
  }, 60_000);
});
