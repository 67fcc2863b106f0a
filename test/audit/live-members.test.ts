/**
 * `dr audit --data-dir` on the data dirs of a healthy 3-member cluster WHILE the members run and a writer
 * keeps writing, after one member is killed with SIGKILL (and restarts fine), after a compaction and a
 * defragmentation, and after a learner is added, promoted and removed: exit 0, no error, no warning.
 * Only info findings are allowed: the preallocated `*.tmp` segment, a db ahead of the last HardState on disk,
 * the record in flight at the end of the WAL.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startMember, stopMember, waitHealthy } from '../../src/etcd/member-process.js';
import { runDr } from '../helpers/dr.js';
import { startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';
import { freePorts } from '../helpers/ports.js';
import { until } from '../helpers/until.js';
import { TestEtcdClient } from '../helpers/etcd-test-client.js';

let cluster: TestCluster;
let client: TestEtcdClient;
let writing = true;
let written = 0;
let writers: Promise<void>[] = [];

interface Finding {
  severity: string;
  code: string;
  message: string;
}

async function audit(
  dataDir: string,
): Promise<{ code: number | null; findings: Finding[]; facts: { wal: { live: boolean } } }> {
  const r = await runDr(['audit', '--data-dir', dataDir, '--json']);
  expect(r.stderr).not.toMatch(/\n\s+at /); // never a stack trace
  expect(r.json, r.stdout + r.stderr).toBeDefined();
  return { code: r.code, findings: r.json.findings as Finding[], facts: r.json.facts };
}

/** every member's data dir audited: exit 0, only info findings */
let liveSeen = 0;

async function expectClean(dirs: string[], label: string): Promise<Finding[]> {
  const all: Finding[] = [];
  for (const dir of dirs) {
    const r = await audit(dir);
    if (r.facts.wal.live === true) liveSeen++;
    const notInfo = r.findings.filter((f) => f.severity !== 'info');
    expect(
      notInfo.map((f) => `${f.code}: ${f.message}`),
      `${label}: ${dir}`,
    ).toEqual([]);
    expect(r.code, `${label}: ${dir}`).toBe(0);
    all.push(...r.findings);
  }
  return all;
}

function startWriters(n: number): void {
  writing = true;
  writers = Array.from({ length: n }, async (_, w) => {
    let i = 0;
    while (writing) {
      try {
        await client.put(`/live/w${w}/k${i % 50}`).value(`v${i}-${'x'.repeat(i % 300)}`);
        written++;
        // a steady stream (up to ~100 writes/s from 2 writers), not a flood: writes are in flight during
        // every audit either way (an audit takes about a second), and a flood only burns the CPU the other
        // test files need
        await new Promise((r) => setTimeout(r, 20));
      } catch {
        // a killed member's connection: the client moves on to another endpoint
        await new Promise((r) => setTimeout(r, 50));
      }
      i++;
    }
  });
}

async function stopWriters(): Promise<void> {
  writing = false;
  await Promise.all(writers);
}

const dataDirs = () => cluster.members.slice(0, 3).map((m) => m.spec.dataDir);

beforeAll(async () => {
  cluster = await startTestCluster({ size: 3 });
  client = new TestEtcdClient({ hosts: cluster.endpoints, dialTimeout: 5000 });
  startWriters(2);
  await until('writes flowing', () => written > 200, 60_000);
}, 180_000);

afterAll(async () => {
  writing = false;
  await Promise.allSettled(writers);
  client?.close();
  await cluster?.stop();
});

describe('live members, writes in flight', () => {
  test('every member audited while it runs and writes: exit 0, no error or warning (2 rounds)', async () => {
    const before = written;
    const seen: Finding[] = [];
    for (let round = 0; round < 2; round++) seen.push(...(await expectClean(dataDirs(), `round ${round}`)));
    expect(written).toBeGreaterThan(before); // the writes really went on during the audits
    // the audit saw that etcd held the WAL (its lock on the last segment, from /proc/locks)
    expect(liveSeen).toBe(6);
    // the running members' states are told as info, with what they mean
    const tmp = seen.find((f) => f.code === 'WAL_TMP_SEGMENT');
    expect(tmp?.message).toMatch(/preallocates and keeps ready while it runs/);
    expect(seen.some((f) => /did not shut down cleanly/.test(f.message))).toBe(false);
    for (const f of seen.filter((x) => x.code === 'CROSS_INDEX_BEYOND_COMMIT'))
      expect(f.message).toMatch(/normal for a running or killed member/);
  }, 180_000);

  test('a member killed with SIGKILL mid-writes: audit exit 0 without warnings, and it restarts fine', async () => {
    const victim = 1;
    const spec = cluster.members[victim]!.spec;
    await cluster.kill(victim);
    const r = await audit(spec.dataDir);
    const notInfo = r.findings.filter((f) => f.severity !== 'info');
    expect(notInfo.map((f) => `${f.code}: ${f.message}`)).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.facts.wal.live).toBe(false);
    // the verdict matches etcd: the member starts from these files and rejoins
    cluster.members[victim] = startMember(spec);
    await waitHealthy(spec.clientUrl, { timeoutMs: 60_000 });
    const n = written;
    await until('writes after the restart', () => written > n + 50, 60_000);
    await expectClean(dataDirs(), 'after the restart');
  }, 180_000);

  test('after a compaction and a defragmentation of every member: exit 0, no error or warning', async () => {
    const rev = Number((await client.get('/live/w0/k1').exec()).header.revision);
    await cluster.etcdctl(['compact', String(rev - 10), '--physical']);
    await cluster.etcdctl(['defrag']);
    const n = written;
    await until('writes after the defrag', () => written > n + 50, 60_000);
    await expectClean(dataDirs(), 'after compact + defrag');
  }, 180_000);

  test('after a learner is added, promoted and removed: exit 0, no error or warning', async () => {
    const [clientPort, peerPort] = await freePorts(2);
    const peerUrl = `http://127.0.0.1:${peerPort}`;
    // etcd refuses a member add until every member has been connected for a few seconds ("unhealthy cluster")
    const out = await until(
      'learner added',
      () => cluster.etcdctl(['member', 'add', 'm3', '--learner', `--peer-urls=${peerUrl}`, '-w', 'json']),
      60_000,
      1000,
    );
    // the id as printed: JSON.parse would round a 64-bit number
    const id = BigInt(/"member":\{"ID":(\d+)/.exec(out)![1]!);
    const idHex = id.toString(16);
    const initialCluster = [
      ...cluster.members.map((m) => `${m.spec.name}=${m.spec.peerUrl}`),
      `m3=${peerUrl}`,
    ].join(',');
    const dir = path.join(cluster.dir, 'm3');
    await mkdir(cluster.dir, { recursive: true });
    const learner = startMember({
      name: 'm3',
      dataDir: dir,
      clientUrl: `http://127.0.0.1:${clientPort}`,
      peerUrl,
      initialCluster,
      initialClusterToken: cluster.members[0]!.spec.initialClusterToken,
      initialClusterState: 'existing',
      logFile: path.join(cluster.dir, 'm3.log'),
    });
    cluster.members.push(learner);
    await waitHealthy(learner.spec.clientUrl, { timeoutMs: 60_000 });
    // promotion waits until the learner has caught up with the leader
    await until(
      'learner promoted',
      async () => cluster.etcdctl(['member', 'promote', idHex]).then(() => true),
      60_000,
      500,
    );
    const n = written;
    await until('writes after the promotion', () => written > n + 50, 60_000);
    await expectClean([...dataDirs(), dir], 'after the promotion');
    await cluster.etcdctl(['member', 'remove', idHex]);
    await stopMember(learner, 5000);
    const m = written;
    await until('writes after the removal', () => written > m + 50, 60_000);
    await expectClean(dataDirs(), 'after the removal');
    await stopWriters();
    expect(written).toBeGreaterThan(500);
  }, 240_000);
});
