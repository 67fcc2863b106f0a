/**
 * `dr log follow` and `dr inspect log` end to end with the built CLI, a real etcd member and file://
 * storage: the log starts after the newest full backup; inspect log shows exactly the writes (checked
 * against etcd's own state); a follower killed with SIGKILL mid-segment loses nothing committed; the next
 * one on the same host takes its lease over at once (its pid is gone) and continues the chain with no gap
 * and no duplicate, and a second one beside a live follower is refused (LEASE_HELD, --break-lease); a compaction while no follower runs is
 * recorded as a gap and a new chain (exit 1 on both sides); encrypted segments need the identity; a
 * tampered segment or manifest fails the check (exit 1).
 */
import type { ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEtcdClient, type EtcdClient } from '../../src/etcd/client.js';
import { parseLogKey } from '../../src/revlog/layout.js';
import { filesBelow, runDr, spawnDr } from '../helpers/dr.js';
import { startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/until.js';

interface Change {
  revision: string;
  type: string;
  key: string;
  value?: string;
  version?: string;
  createRevision?: string;
}

describe('dr log follow / dr inspect log (real etcd, file://)', () => {
  let c: TestCluster;
  let etcd: EtcdClient;
  let dir: string;
  let store: string;
  let cleanup: () => Promise<void>;
  let env: Record<string, string>;
  let backupRev: bigint;
  const followers: ChildProcess[] = [];

  /** `dr log follow` in the background; `stopped` resolves with its exit code and output. */
  function startFollow(cluster: string, extra: string[] = []) {
    const child = spawnDr(
      [
        'log',
        'follow',
        '--endpoints',
        c.endpoints[0]!,
        '--cluster-name',
        cluster,
        '--segment-seconds',
        '1',
        '--checkpoint-every',
        '1',
        '--json',
        ...extra,
      ],
      env,
    );
    followers.push(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const stopped = new Promise<{
      code: number | null;
      signal: string | null;
      stdout: string;
      stderr: string;
    }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
    return { child, stopped };
  }

  /** The highest last revision among the committed segments of a cluster. */
  function committedUpTo(cluster: string): bigint {
    let top = 0n;
    for (const f of filesBelow(store)) {
      const at = parseLogKey(f);
      if (at?.kind === 'segment-manifest' && at.cluster === cluster && at.last > top) top = at.last;
    }
    return top;
  }

  const inspect = (args: string[], extraEnv: Record<string, string> = {}) =>
    runDr(['inspect', 'log', '--cluster', 'prod', ...args], { ...env, ...extraEnv });

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('dr-revlog-cli-'));
    store = path.join(dir, 'store');
    await mkdir(store);
    env = {
      DR_STORAGE: `file://${store}`,
      DR_CATALOG: path.join(dir, 'catalog.sqlite'),
      DR_LOG_LEVEL: 'error',
    };
    c = await startTestCluster({ size: 1 });
    etcd = createEtcdClient({ endpoints: c.endpoints });
    await etcd.put('/before-backup', 'x');
  }, 120_000);
  afterAll(async () => {
    for (const f of followers) f.kill('SIGKILL');
    etcd?.close();
    await c?.stop();
    await cleanup?.();
  });

  it('refuses to start without a full backup, and inspect finds no log', async () => {
    const f = await runDr(['log', 'follow', '--endpoints', c.endpoints[0]!, '--cluster-name', 'prod'], env);
    expect(f.code).toBe(2);
    expect(f.stderr).toMatch(/REVLOG_NOT_FOUND.*no full backup/);
    const i = await inspect(['--json']);
    expect(i.code).toBe(2);
    expect(i.json.error.code).toBe('REVLOG_NOT_FOUND');
  });

  it('logs every write after the newest full backup; inspect log shows exactly them, as etcd holds them', async () => {
    const b = await runDr(
      ['backup', '--endpoints', c.endpoints[0]!, '--cluster-name', 'prod', '--json'],
      env,
    );
    expect(b.code, b.stderr).toBe(0);
    backupRev = BigInt(b.json.snapshot.revision);
    const f = startFollow('prod');
    const lease = await etcd.leaseGrant(3600);
    const revs: bigint[] = [];
    revs.push(await etcd.put('/app/a', 'alpha'));
    revs.push(
      await etcd.txnPuts([
        { key: '/app/b', value: 'beta' },
        { key: '/app/c', value: 'gamma' },
        { key: '/other/d', value: 'delta', lease },
      ]),
    );
    revs.push(await etcd.put('/app/a', 'alpha-2'));
    await etcd.delete('/app/b');
    const last = await etcd.put('/app/e', 'epsilon');
    await until('the writes committed', () => committedUpTo('prod') >= last, 30_000);
    f.child.kill('SIGTERM');
    const r = await f.stopped;
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary).toMatchObject({
      ok: true,
      startedAt: (backupRev + 1n).toString(),
      committedRevision: last.toString(),
      gaps: [],
    });

    const i = await inspect(['--json', '--values']);
    expect(i.code, i.stderr).toBe(0);
    expect(i.json.ok).toBe(true);
    expect(i.json.problems).toEqual([]);
    const changes = i.json.changes as Change[];
    expect(changes.map((x) => [x.type, x.key, x.value ?? null])).toEqual([
      ['PUT', '/app/a', 'alpha'],
      ['PUT', '/app/b', 'beta'],
      ['PUT', '/app/c', 'gamma'],
      ['PUT', '/other/d', 'delta'],
      ['PUT', '/app/a', 'alpha-2'],
      ['DELETE', '/app/b', null],
      ['PUT', '/app/e', 'epsilon'],
    ]);
    // the three keys of the transaction share one revision, the first change is right after the backup
    expect(new Set(changes.slice(1, 4).map((x) => x.revision)).size).toBe(1);
    expect(changes[0]!.revision).toBe((backupRev + 1n).toString());
    // etcd's own state: every live key's last PUT in the log carries its revision, version and value
    for (const kv of await etcd.get('/', { prefix: true })) {
      if (BigInt(kv.modRevision) <= backupRev) continue;
      const lastPut = changes.filter((x) => x.key === kv.key.toString()).at(-1)!;
      expect(lastPut).toMatchObject({
        type: 'PUT',
        revision: kv.modRevision.toString(),
        version: kv.version.toString(),
        createRevision: kv.createRevision.toString(),
        value: kv.value.toString(),
      });
    }
    expect(await etcd.get('/app/b')).toEqual([]);
    // the lease was recorded with the TTL it was granted
    const manifests = filesBelow(store).filter((k) => parseLogKey(k)?.kind === 'segment-manifest');
    const leases = (
      await Promise.all(
        manifests.map(async (k) => JSON.parse(await readFile(path.join(store, k), 'utf8')).leases),
      )
    ).flat();
    expect(leases).toContainEqual({
      id: lease.toString(16),
      firstSeenRevision: revs[1]!.toString(),
      grantedTtl: 3600,
    });
  });

  it('filters by key, prefix and revision; values only with --values', async () => {
    const text = await inspect([]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/PUT +\/app\/a/);
    expect(text.stdout).not.toContain('alpha');
    expect((await inspect(['--values'])).stdout).toContain('= alpha-2');
    const byKey = await inspect(['--json', '--key', '/app/a']);
    expect((byKey.json.changes as Change[]).map((x) => x.type)).toEqual(['PUT', 'PUT']);
    const byPrefix = await inspect(['--json', '--prefix', '/other/']);
    expect((byPrefix.json.changes as Change[]).map((x) => x.key)).toEqual(['/other/d']);
    const from = (backupRev + 2n).toString();
    const byRev = await inspect(['--json', '--from-rev', from, '--to-rev', from]);
    expect((byRev.json.changes as Change[]).map((x) => x.key)).toEqual(['/app/b', '/app/c', '/other/d']);
    const future = await inspect(['--json', '--from-time', '2999-01-01T00:00:00Z']);
    expect(future.json.changes).toEqual([]);
    expect((await inspect(['--key', 'a', '--prefix', 'b'])).code).toBe(2);
  });

  it('SIGKILL mid-segment loses nothing committed; the next follower continues the chain', async () => {
    const f = startFollow('prod', ['--segment-seconds', '30', '--segment-max-bytes', '200']);
    // a segment closes at 200 plain bytes: the first write is committed, the second stays open
    const committed = await etcd.put('/kill/committed', 'x'.repeat(300));
    await until('the first write committed', () => committedUpTo('prod') >= committed, 30_000);
    const open = await etcd.put('/kill/open', 'y');
    await new Promise((r) => setTimeout(r, 500));
    expect(committedUpTo('prod')).toBe(committed);
    f.child.kill('SIGKILL');
    expect((await f.stopped).signal).toBe('SIGKILL');

    // the killed follower's pid is gone on this host: the next follower takes its lease over at once
    const g = startFollow('prod');
    const after = await etcd.put('/kill/after', 'z');
    await until('the write after the restart committed', () => committedUpTo('prod') >= after, 30_000);
    // while that one lives, a second follower is refused, naming it and how to override
    const refused = startFollow('prod');
    const r = await refused.stopped;
    expect(r.code).toBe(3);
    const said = r.stdout + r.stderr; // --json: the error is the JSON document on stdout
    expect(said).toContain('LEASE_HELD');
    expect(said).toContain(`dr log follow (pid ${g.child.pid}`);
    expect(said).toContain('--break-lease');
    g.child.kill('SIGTERM');
    expect((await g.stopped).code).toBe(0);
    const i = await inspect(['--json', '--prefix', '/kill/']);
    expect(i.code, i.stderr).toBe(0);
    expect(i.json.chains).toHaveLength(1);
    expect((i.json.changes as Change[]).map((x) => [x.key, x.revision])).toEqual([
      ['/kill/committed', committed.toString()],
      ['/kill/open', open.toString()],
      ['/kill/after', after.toString()],
    ]);
    const all = await inspect(['--json']);
    const revisions = (all.json.changes as Change[]).map((x) => x.revision);
    expect(revisions).toEqual([...revisions].sort((a, b) => Number(BigInt(a) - BigInt(b))));
  });

  it('a compaction while no follower runs is a recorded gap and a new chain', async () => {
    const head = committedUpTo('prod');
    await etcd.put('/gap/lost', '1');
    const compactAt = await etcd.put('/gap/lost', '2');
    await etcd.compact(compactAt, { physical: true });
    const backupsBefore = filesBelow(store).filter((k) => /^prod\/[^/]+\.manifest\.json$/.test(k)).length;
    const f = startFollow('prod');
    const after = await etcd.put('/gap/after', '1');
    await until('the write after the gap committed', () => committedUpTo('prod') >= after, 30_000);
    // the follower takes a full backup at once: the base the new chain replays from
    await until(
      'the backup after the gap',
      () => filesBelow(store).filter((k) => /^prod\/[^/]+\.manifest\.json$/.test(k)).length > backupsBefore,
      30_000,
    );
    const healed = await etcd.put('/gap/healed', '1');
    await until('the write after the backup committed', () => committedUpTo('prod') >= healed, 30_000);
    f.child.kill('SIGTERM');
    const r = await f.stopped;
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout);
    expect(out.gaps[0]).toMatchObject({
      cause: 'resume-compacted',
      lostFrom: (head + 1n).toString(),
      resumedFrom: (compactAt + 1n).toString(),
    });
    expect(out.backupsAfterGap).toHaveLength(1);
    // healed: a point in time after that backup replays from it over the new chain
    const pit = await runDr(
      [
        'fetch',
        '--revision',
        healed.toString(),
        '--cluster-name',
        'prod',
        '--out',
        path.join(dir, 'healed.db'),
        '--json',
      ],
      env,
    );
    expect(pit.code, pit.stderr).toBe(0);
    expect(pit.json.pointInTime.base.id).toBe(out.backupsAfterGap[0]);
    expect(r.stderr).toMatch(/GAP/);
    const i = await inspect(['--json']);
    expect(i.code).toBe(1);
    expect(i.json.ok).toBe(false);
    expect(i.json.chains).toHaveLength(2);
    expect(i.json.problems).toEqual([
      expect.objectContaining({ code: 'gap', revision: (head + 1n).toString() }),
    ]);
    // a range after the gap is continuous
    expect((await inspect(['--from-rev', (compactAt + 1n).toString()])).code).toBe(0);
    expect(i.json.error.code).toBe('REVLOG_DISCONTINUOUS');
    const text = await inspect([]);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/PROBLEM gap at revision/);
    expect(text.stderr).toMatch(/REVLOG_DISCONTINUOUS/);
  });

  it('encrypted segments need the identity', async () => {
    const key = (n: string) => path.join(dir, `${n}.key`);
    const recipient: Record<string, string> = {};
    for (const n of ['a', 'wrong']) {
      execFileSync('age-keygen', ['-o', key(n)], { stdio: 'ignore' });
      await chmod(key(n), 0o600);
      recipient[n] = execFileSync('age-keygen', ['-y', key(n)])
        .toString()
        .trim();
    }
    const start = (await etcd.put('/enc/start', 's')) + 1n;
    const f = startFollow('enc', ['--from-rev', start.toString(), '--encrypt-to', recipient.a!]);
    const last = await etcd.put('/enc/secret', 'hunter2');
    await until('committed', () => committedUpTo('enc') >= last, 30_000);
    f.child.kill('SIGTERM');
    expect((await f.stopped).code).toBe(0);
    const data = filesBelow(store).filter(
      (k) => k.startsWith('enc/log/') && parseLogKey(k)?.kind === 'segment-data',
    );
    expect(data.length).toBeGreaterThan(0);
    for (const k of data) {
      expect(k).toMatch(/\.log\.zst\.age$/);
      expect((await readFile(path.join(store, k))).includes(Buffer.from('hunter2'))).toBe(false);
    }
    const args = ['inspect', 'log', '--cluster', 'enc', '--json', '--values'];
    const none = await runDr(args, env);
    expect(none.code).toBe(2);
    expect(none.json.error.code).toBe('ENCRYPTION_KEY_MISSING');
    const wrong = await runDr([...args, '--identity', key('wrong')], env);
    expect(wrong.code).toBe(2);
    expect(wrong.json.error.message).toContain(key('wrong'));
    const ok = await runDr([...args, '--identity', key('a')], env);
    expect(ok.code, ok.stderr).toBe(0);
    expect((ok.json.changes as Change[]).map((x) => [x.key, x.value])).toEqual([['/enc/secret', 'hunter2']]);
  });

  it('a tampered segment or manifest fails the check (exit 1)', async () => {
    const data = filesBelow(store).filter(
      (k) => k.startsWith('prod/log/') && parseLogKey(k)?.kind === 'segment-data',
    );
    const file = path.join(store, data[0]!);
    const original = await readFile(file);
    const bad = Buffer.from(original);
    bad[bad.length - 5]! ^= 0xff;
    await writeFile(file, bad);
    const i = await inspect(['--json']);
    expect(i.code).toBe(1);
    expect(i.json.ok).toBe(false);
    expect(i.json.error).toMatchObject({ code: 'VERIFY_FAILED', check: 'segment-stored-sha256' });
    await writeFile(file, original);

    const manifests = filesBelow(store).filter(
      (k) => k.startsWith('prod/log/') && parseLogKey(k)?.kind === 'segment-manifest',
    );
    const mfile = path.join(store, manifests[0]!);
    const text = await readFile(mfile, 'utf8');
    await writeFile(mfile, text.replace('"revisionCount": ', '"revisionCount":  '));
    const j = await inspect(['--json', '--to-rev', (backupRev + 10n).toString()]);
    expect(j.code).toBe(1);
    expect(j.json.problems).toContainEqual(
      expect.objectContaining({ code: 'chain-broken', key: manifests[1] }),
    );
    await writeFile(mfile, text);
  });
});
