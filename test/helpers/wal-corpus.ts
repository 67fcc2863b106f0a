/**
 * A corpus of REAL etcd 3.4 data dirs for the WAL / snap parser and audit tests, built once per vitest
 * run and shared by every test file that asks for it (a lock directory keyed by the vitest parent pid;
 * the first caller builds, the others wait for `ready.json`).
 *
 * What is in it (all copies of stopped members: tests must not modify them; corrupt a copy, see
 * `linkWalCopy`):
 * - main: one member with --snapshot-count 100 after ~150 MB of 512 KiB puts (3 WAL segments), small puts,
 *   a delete, a txn, a lease grant / put with lease / revoke, and a compaction; then stopped.
 * - restarted: the same member started again, a few more puts, stopped again.
 * - fresh: a brand-new member with 5 small puts.
 * - restored: `etcdctl snapshot restore` of a snapshot of main (a restore's WAL: ConfChange entries).
 *
 * Set DR_WAL_CORPUS_DIR=/abs/dir to build into (or reuse) a fixed directory across runs.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, link, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { startMember, stopMember, waitHealthy } from '../../src/etcd/member-process.js';
import { startTestCluster } from './etcd-cluster.js';
import { TestEtcdClient } from './etcd-test-client.js';

const run = promisify(execFile);

export const BIG_VALUE_BYTES = 512 * 1024;
export const BIG_PUTS = 300;

export interface CorpusOp {
  kind: 'put' | 'delete';
  key: string;
  /** sha256 of the value (hex) for puts; value text for small puts */
  valueSha256?: string;
  valueLength?: number;
  lease?: string;
}

export interface WalCorpus {
  root: string;
  main: string;
  restarted: string;
  fresh: string;
  restored: string;
  /** client-visible writes made on `main`, in order (puts and deletes outside txns) */
  ops: CorpusOp[];
  /** a txn made on main: compare key, then put and delete in the success branch */
  txn: { putKey: string; deleteKey: string };
  lease: { id: string; key: string };
  compactRevision: number;
  /** writes added on the restarted member */
  restartOps: CorpusOp[];
  freshKeys: string[];
  /** member id (hex) of main */
  mainMemberId: string;
}

/** The value of big put i: deterministic, so tests can recompute it. */
export function bigValue(i: number): Buffer {
  const b = Buffer.alloc(BIG_VALUE_BYTES);
  const seed = createHash('sha256').update(`value-${i}`).digest();
  for (let p = 0; p < b.length; p += seed.length) seed.copy(b, p);
  b.write(`value-${i}:`, 0);
  return b;
}

export const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

export async function getWalCorpus(): Promise<WalCorpus> {
  const fixed = process.env.DR_WAL_CORPUS_DIR;
  const root = fixed ?? path.join(os.tmpdir(), `dr-wal-corpus-${process.ppid}`);
  if (!fixed) await removeStaleCorpora();
  const readyFile = path.join(root, 'ready.json');
  const failedFile = path.join(root, 'failed.txt');
  try {
    return JSON.parse(await readFile(readyFile, 'utf8')) as WalCorpus;
  } catch {
    /* not built yet */
  }
  let builder = false;
  try {
    await mkdir(`${root}.lock`, { recursive: false });
    builder = true;
  } catch {
    /* someone else builds it */
  }
  if (builder) {
    try {
      await rm(root, { recursive: true, force: true });
      await mkdir(root, { recursive: true });
      const corpus = await buildCorpus(root);
      await writeFile(readyFile, JSON.stringify(corpus));
      return corpus;
    } catch (err) {
      await writeFile(failedFile, String((err as Error).stack ?? err)).catch(() => {});
      throw err;
    } finally {
      await rm(`${root}.lock`, { recursive: true, force: true });
    }
  }
  const deadline = Date.now() + 240_000;
  while (Date.now() < deadline) {
    try {
      return JSON.parse(await readFile(readyFile, 'utf8')) as WalCorpus;
    } catch {
      /* wait */
    }
    const failed = await readFile(failedFile, 'utf8').catch(() => undefined);
    if (failed) throw new Error(`wal corpus build failed in another worker: ${failed}`);
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`wal corpus not ready after 240 s in ${root}`);
}

async function removeStaleCorpora(): Promise<void> {
  const tmp = os.tmpdir();
  for (const name of await readdir(tmp).catch(() => [] as string[])) {
    const m = /^dr-wal-corpus-(\d+)(\.lock)?$/.exec(name);
    if (!m || Number(m[1]) === process.ppid) continue;
    try {
      process.kill(Number(m[1]), 0);
    } catch {
      await rm(path.join(tmp, name), { recursive: true, force: true }).catch(() => {});
    }
  }
}

async function etcdctl(endpoint: string, args: string[], input?: string): Promise<string> {
  const p = run('etcdctl', ['--endpoints', endpoint, ...args], { env: { ...process.env, ETCDCTL_API: '3' } });
  if (input !== undefined) {
    p.child.stdin?.end(input);
  }
  return (await p).stdout;
}

async function buildCorpus(root: string): Promise<WalCorpus> {
  const ops: CorpusOp[] = [];
  const restartOps: CorpusOp[] = [];
  const freshKeys = ['fresh/a', 'fresh/b', 'fresh/c', 'fresh/d', 'fresh/e'];
  const mainCluster = await startTestCluster({ size: 1, extraArgs: ['--snapshot-count', '100'] });
  const freshCluster = await startTestCluster({ size: 1 }).catch(async (err) => {
    await mainCluster.stop();
    throw err;
  });
  try {
    const endpoint = mainCluster.endpoints[0]!;
    const client = new TestEtcdClient({ hosts: endpoint });
    const fresh = new TestEtcdClient({ hosts: freshCluster.endpoints[0]! });
    try {
      for (const k of freshKeys) await fresh.kv.put({ key: Buffer.from(k), value: Buffer.from(`v-${k}`) });
      for (let i = 0; i < 20; i++) {
        const key = `small/${String(i).padStart(3, '0')}`;
        await client.kv.put({ key: Buffer.from(key), value: Buffer.from(`small-value-${i}`) });
        ops.push({
          kind: 'put',
          key,
          valueSha256: sha256(Buffer.from(`small-value-${i}`)),
          valueLength: `small-value-${i}`.length,
        });
      }
      await client.kv.deleteRange({ key: Buffer.from('small/003') });
      ops.push({ kind: 'delete', key: 'small/003' });
      await client.kv.txn({
        compare: [{ key: Buffer.from('small/000'), target: 'Version', result: 'Greater', version: 0 }],
        success: [
          { request_put: { key: Buffer.from('txn/put'), value: Buffer.from('from-txn') } },
          { request_delete_range: { key: Buffer.from('small/004') } },
        ],
        failure: [],
      });
      const grant = await client.leaseClient.leaseGrant({ TTL: 600 });
      await client.kv.put({ key: Buffer.from('leased/key'), value: Buffer.from('leased'), lease: grant.ID });
      // sequential, so the WAL order is the order recorded here
      for (let n = 0; n < BIG_PUTS; n++) {
        const key = `big/${String(n).padStart(4, '0')}`;
        const v = bigValue(n);
        await client.kv.put({ key: Buffer.from(key), value: v });
        ops.push({ kind: 'put', key, valueSha256: sha256(v), valueLength: v.length });
      }
      await client.leaseClient.leaseRevoke({ ID: grant.ID });
      const last = await client.kv.put({ key: Buffer.from('small/final'), value: Buffer.from('final') });
      ops.push({
        kind: 'put',
        key: 'small/final',
        valueSha256: sha256(Buffer.from('final')),
        valueLength: 5,
      });
      const compactRevision = Number(last.header.revision) - 5;
      await client.kv.compact({ revision: compactRevision, physical: true });
      const status = await client.maintenance.status({});
      const mainMemberId = BigInt(status.header.member_id).toString(16).padStart(16, '0');
      client.close();
      fresh.close();

      await stopMember(freshCluster.members[0]!, 10_000);
      await cp(freshCluster.members[0]!.spec.dataDir, path.join(root, 'fresh'), { recursive: true });

      // a snapshot for the restore case, taken while main runs
      const snapFile = path.join(root, 'main.snapshot.db');
      await etcdctl(endpoint, ['snapshot', 'save', snapFile]);

      const member = mainCluster.members[0]!;
      await stopMember(member, 10_000);
      await cp(member.spec.dataDir, path.join(root, 'main'), { recursive: true });

      // restart on the same dir, a few more writes, stop again
      const again = startMember({ ...member.spec, logFile: path.join(mainCluster.dir, 'restart.log') });
      mainCluster.members[0] = again;
      await waitHealthy(endpoint, { timeoutMs: 60_000 });
      const client2 = new TestEtcdClient({ hosts: endpoint });
      try {
        for (let i = 0; i < 5; i++) {
          const key = `after-restart/${i}`;
          await client2.kv.put({ key: Buffer.from(key), value: Buffer.from(`r${i}`) });
          restartOps.push({ kind: 'put', key, valueSha256: sha256(Buffer.from(`r${i}`)), valueLength: 2 });
        }
      } finally {
        client2.close();
      }
      await stopMember(again, 10_000);
      await cp(member.spec.dataDir, path.join(root, 'restarted'), { recursive: true });

      const restored = path.join(root, 'restored');
      await run(
        'etcdctl',
        [
          'snapshot',
          'restore',
          snapFile,
          '--name',
          'r0',
          '--data-dir',
          restored,
          '--initial-cluster',
          'r0=http://127.0.0.1:2380',
          '--initial-advertise-peer-urls',
          'http://127.0.0.1:2380',
          '--initial-cluster-token',
          'tok-restored',
        ],
        { env: { ...process.env, ETCDCTL_API: '3' } },
      );
      await rm(snapFile, { force: true });

      const lease = { id: BigInt(grant.ID).toString(), key: 'leased/key' };
      return {
        root,
        main: path.join(root, 'main'),
        restarted: path.join(root, 'restarted'),
        fresh: path.join(root, 'fresh'),
        restored,
        ops,
        txn: { putKey: 'txn/put', deleteKey: 'small/004' },
        lease,
        compactRevision,
        restartOps,
        freshKeys,
        mainMemberId,
      };
    } finally {
      client.close();
      fresh.close();
    }
  } finally {
    await Promise.all([mainCluster.stop(), freshCluster.stop()]);
  }
}

/**
 * A corruptible copy of a data dir's member/wal and member/snap: unchanged files are hard links (cheap;
 * do NOT write to them), `mutate` names the files that get a private copy instead.
 */
export async function linkWalCopy(
  dataDir: string,
  dest: string,
  privateFiles: readonly string[] = [],
): Promise<{ walDir: string; snapDir: string }> {
  const out = { walDir: path.join(dest, 'member', 'wal'), snapDir: path.join(dest, 'member', 'snap') };
  for (const sub of ['wal', 'snap'] as const) {
    const from = path.join(dataDir, 'member', sub);
    const to = path.join(dest, 'member', sub);
    await mkdir(to, { recursive: true });
    for (const name of await readdir(from)) {
      if (name === 'db') continue;
      const st = await stat(path.join(from, name));
      if (!st.isFile()) continue;
      if (privateFiles.includes(name)) await cp(path.join(from, name), path.join(to, name));
      else await link(path.join(from, name), path.join(to, name));
    }
  }
  return out;
}
