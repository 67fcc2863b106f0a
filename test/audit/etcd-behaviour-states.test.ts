/**
 * More audit severities against what real etcd does with the same bytes (see etcd-behaviour.test.ts for the
 * method): states a crash, an operator or the cluster leaves in a member's data dir rather than damage.
 * Each case builds the state from a real member (or, where named "synthetic", from a real member's files
 * changed the way the state would have them), audits it, then starts real etcd on a copy and checks that
 * etcd's outcome is what the severity says.
 *
 * - .snap.db files: one a crash left before etcd swapped it in (pending), one it no longer needs (leftover)
 * - a .snap newer than every WAL snapshot record (synthetic: a crash between the two writes of a snapshot)
 * - a zeroed last WAL segment (synthetic damage: etcd never renames a segment into place before it holds
 *   its first records)
 * - a 3.4 `snapshot restore` (the members bucket is left stale; 3.5 rewrites it)
 * - a raised NOSPACE alarm, a compaction cut short by SIGKILL, the data dir of a removed member
 *
 * Run on etcd 3.4 and 3.5 (vitest projects etcd-3.4 and etcd-3.5); a fact that differs per version is
 * asserted per version.
 */
import { execFile } from 'node:child_process';
import { cp, readdir, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { crc32c } from '@node-rs/crc32';
import { TestEtcdClient } from '../helpers/etcd-test-client.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Finding } from '../../src/audit/finding.js';
import { auditDataDir } from '../../src/audit/offline.js';
import { startMember, stopMember, waitHealthy } from '../../src/etcd/member-process.js';
import { T } from '../../src/formats/raft/proto.js';
import { decodeEntry } from '../../src/formats/raft/raft-messages.js';
import { WalRecordType } from '../../src/formats/wal/record-type.js';
import { formatSnapName, parseSnapName } from '../../src/formats/snap/snap-name.js';
import { decodeWalSegment, type WalRecord } from '../../src/formats/wal/segment-decoder.js';
import { healthyDespiteNospace, startEtcd, withEtcdOn } from '../helpers/etcd-on-copy.js';
import { startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';
import { etcdAtLeast } from '../helpers/etcd-version.js';
import { freePorts } from '../helpers/ports.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/until.js';

const run = promisify(execFile);
const KEYS = 400;

let work: { dir: string; cleanup: () => Promise<void> };
let caseNo = 0;

beforeAll(async () => {
  work = await tempDir('dr-etcd-states-');
});

afterAll(async () => {
  await work?.cleanup();
});

async function copyOf(dir: string): Promise<string> {
  const dest = path.join(work.dir, `case-${caseNo++}`);
  await cp(dir, dest, { recursive: true });
  return dest;
}

const walDir = (d: string) => path.join(d, 'member', 'wal');
const snapDir = (d: string) => path.join(d, 'member', 'snap');
const snapFiles = async (d: string) => (await readdir(snapDir(d))).filter((n) => n.endsWith('.snap')).sort();
const notInfo = (fs: Finding[]) =>
  fs.filter((f) => f.severity !== 'info').map((f) => `${f.code}: ${f.message}`);
const hex16 = (n: bigint) => n.toString(16).padStart(16, '0');

async function putKeys(client: TestEtcdClient, from: number, to: number): Promise<void> {
  for (let i = from; i < to; i += 20)
    await Promise.all(
      Array.from({ length: Math.min(20, to - i) }, (_, j) =>
        client.put(`/k/${String(i + j).padStart(4, '0')}`).value(`v${i + j}`),
      ),
    );
}

/** a copy of member i's data dir, taken after stopping it cleanly */
async function stoppedCopy(cluster: TestCluster, i: number, name: string): Promise<string> {
  const m = cluster.members[i]!;
  await stopMember(m, 10_000);
  const dest = path.join(work.dir, name);
  await cp(m.spec.dataDir, dest, { recursive: true });
  return dest;
}

describe('snap and .snap.db files a crash leaves (one member, a snapshot every 50 entries)', () => {
  /** the member stopped after KEYS puts, with several .snap files */
  let member: string;
  /** its db as it was after the first KEYS/2 puts (consistent_index behind the newest snapshot) */
  let olderDb: string;

  beforeAll(async () => {
    const cluster = await startTestCluster({ size: 1, extraArgs: ['--snapshot-count', '50'] });
    try {
      let client = new TestEtcdClient({ hosts: cluster.endpoints });
      try {
        await putKeys(client, 0, KEYS / 2);
      } finally {
        client.close();
      }
      const m = cluster.members[0]!;
      await stopMember(m, 10_000);
      olderDb = path.join(work.dir, 'older.db');
      await cp(path.join(snapDir(m.spec.dataDir), 'db'), olderDb);
      cluster.members[0] = startMember(m.spec);
      await waitHealthy(m.spec.clientUrl, { timeoutMs: 30_000 });
      client = new TestEtcdClient({ hosts: cluster.endpoints });
      try {
        await putKeys(client, KEYS / 2, KEYS);
      } finally {
        client.close();
      }
      member = await stoppedCopy(cluster, 0, 'member');
    } finally {
      await cluster.stop();
    }
  }, 120_000);

  test('CROSS_SNAP_DB_PENDING: the db behind the newest snapshot and the leader-sent <index>.snap.db beside it; etcd swaps it in at start and serves every key', async () => {
    const d = await copyOf(member);
    const newest = parseSnapName((await snapFiles(d)).at(-1)!)!;
    const pending = `${hex16(newest.index)}.snap.db`;
    // the state of a follower that persisted a leader's snapshot (the .snap.db, the .snap file, the WAL
    // record) and was killed before it swapped the received db in
    await cp(path.join(snapDir(d), 'db'), path.join(snapDir(d), pending));
    await cp(olderDb, path.join(snapDir(d), 'db'));
    const r = await auditDataDir(d);
    expect(notInfo(r.findings)).toEqual([]);
    const f = r.findings.find((x) => x.code === 'CROSS_SNAP_DB_PENDING');
    expect(f?.severity).toBe('info');
    expect(f?.file).toBe(`member/snap/${pending}`);
    const o = await startEtcd(d);
    expect(o, o.log.slice(-2000)).toMatchObject({ started: true, keys: KEYS, acceptsWrites: true });
    // etcd renamed it into place
    expect(await readdir(snapDir(d))).not.toContain(pending);
    const after = await auditDataDir(d);
    expect(notInfo(after.findings)).toEqual([]);
    expect(after.findings.some((x) => x.code.startsWith('CROSS_SNAP_DB'))).toBe(false);
  }, 90_000);

  test('the same db without the .snap.db: CROSS_INDEX_BEHIND_SNAPSHOT (error) and etcd refuses to start', async () => {
    const d = await copyOf(member);
    await cp(olderDb, path.join(snapDir(d), 'db'));
    const r = await auditDataDir(d);
    expect(notInfo(r.findings).map((x) => x.split(':')[0])).toEqual(['CROSS_INDEX_BEHIND_SNAPSHOT']);
    const o = await startEtcd(d);
    expect(o.started, o.log.slice(-2000)).toBe(false);
    expect(o.log).toMatch(/failed to find database snapshot file/);
  }, 90_000);

  test('CROSS_SNAP_DB_LEFTOVER: a .snap.db at an index the db has passed; etcd ignores it at start and deletes it at its next snapshot', async () => {
    const d = await copyOf(member);
    const oldest = parseSnapName((await snapFiles(d))[0]!)!;
    const leftover = `${hex16(oldest.index)}.snap.db`;
    // a received backend whose snapshot the member never applied (it caught up from the log instead)
    await cp(olderDb, path.join(snapDir(d), leftover));
    const r = await auditDataDir(d);
    expect(notInfo(r.findings)).toEqual([]);
    expect(r.findings.find((x) => x.code === 'CROSS_SNAP_DB_LEFTOVER')?.severity).toBe('info');
    const o = await startEtcd(d);
    expect(o, o.log.slice(-2000)).toMatchObject({ started: true, keys: KEYS, acceptsWrites: true });
    expect(await readdir(snapDir(d))).toContain(leftover);
    // etcd's next snapshot releases every .snap.db older than it
    const next = await withEtcdOn(d, { extraArgs: ['--snapshot-count', '10'] }, async (e) => {
      for (let i = 0; i < 15; i++) await e.ctl(['put', `/more/${i}`, 'x']);
      await until(
        'the leftover removed',
        async () => !(await readdir(snapDir(d))).includes(leftover),
        20_000,
      );
      return true;
    });
    expect(next.started, next.log.slice(-2000)).toBe(true);
  }, 90_000);

  test('SNAP_ORPHAN (synthetic): a valid .snap newer than every WAL snapshot record; info, etcd starts from the one the WAL names and serves every key', async () => {
    const d = await copyOf(member);
    const name = (await snapFiles(d)).at(-1)!;
    const { term, index } = parseSnapName(name)!;
    // etcd saves the .snap file first and the WAL snapshot record second: a crash in between leaves this
    // file, written whole (the timing cannot be hit from outside, so the file is made from the real one)
    const outer = T.snapSnapshot.decode(await readFile(path.join(snapDir(d), name))) as unknown as {
      data: Uint8Array;
    };
    const raft = T.raftSnapshot.decode(outer.data) as unknown as { metadata: { index: unknown } };
    raft.metadata.index = Number(index + 25n);
    const data = T.raftSnapshot.encode(raft).finish();
    const orphan = formatSnapName(term, index + 25n);
    await writeFile(
      path.join(snapDir(d), orphan),
      T.snapSnapshot.encode({ crc: crc32c(Buffer.from(data)) >>> 0, data }).finish(),
    );
    const r = await auditDataDir(d);
    expect(notInfo(r.findings)).toEqual([]);
    const f = r.findings.find((x) => x.code === 'SNAP_ORPHAN');
    expect(f?.severity).toBe('info');
    expect(f?.file).toBe(`member/snap/${orphan}`);
    const o = await startEtcd(d);
    expect(o, o.log.slice(-2000)).toMatchObject({ started: true, keys: KEYS, acceptsWrites: true });
    // loaded: the one the WAL names; the orphan is left as it is
    expect(await readdir(snapDir(d))).toContain(orphan);
    expect(o.log).not.toMatch(new RegExp(`${orphan}.*broken|failed to load`));
  }, 90_000);

  test('WAL_SEGMENT_EMPTY (synthetic damage): the last segment all zeros; warning, etcd reads the WAL up to the segment before and writes on into it', async () => {
    const d = await copyOf(member);
    const segs = (await readdir(walDir(d))).filter((n) => n.endsWith('.wal')).sort();
    const last = path.join(walDir(d), segs.at(-1)!);
    const buf = await readFile(last);
    const recs: WalRecord[] = [];
    const res = decodeWalSegment(buf, { isLast: true }, (x) => recs.push(x));
    const lastIndex = recs
      .filter((x) => x.type === WalRecordType.Entry && x.data)
      .reduce((top, x) => {
        const e = decodeEntry(x.data!);
        return e.index > top ? e.index : top;
      }, 0n);
    // etcd's cut: the old segment truncated at its end, the next one (seq+1, named after the next index)
    // written with its crc, metadata and state records, fsynced, then renamed into place. A segment renamed
    // into place but all zeros is what a lost write or a zeroing tool leaves, not etcd
    await truncate(last, res.validEnd);
    const seq = BigInt(`0x${segs.at(-1)!.split('-')[0]}`);
    const empty = `${hex16(seq + 1n)}-${hex16(lastIndex + 1n)}.wal`;
    await writeFile(path.join(walDir(d), empty), Buffer.alloc(64 * 1024));
    const r = await auditDataDir(d);
    expect(notInfo(r.findings).map((x) => x.split(':')[0])).toEqual(['WAL_SEGMENT_EMPTY']);
    expect(r.findings.find((x) => x.code === 'WAL_SEGMENT_EMPTY')?.severity).toBe('warning');
    const o = await startEtcd(d);
    expect(o, o.log.slice(-2000)).toMatchObject({ started: true, keys: KEYS, acceptsWrites: true });
    // it appended to the zeroed file (without a crc or metadata record at its start) and reads it back
    expect((await stat(path.join(walDir(d), empty))).size).toBeGreaterThan(0);
    const again = await startEtcd(d, { prefix: '/probe' });
    expect(again, again.log.slice(-2000)).toMatchObject({ started: true, keys: 1, acceptsWrites: true });
    // what etcd left (records continuing the CRC chain, no header records): a warning, not a refusal
    const after = await auditDataDir(d);
    expect(after.findings.filter((x) => x.severity === 'error')).toEqual([]);
    expect(notInfo(after.findings).map((x) => x.split(':')[0])).toEqual(['WAL_SEGMENT_NO_CRC_RECORD']);
  }, 90_000);

  test('CROSS_MEMBERS_STALE: a `snapshot restore` of the db as a new one-member cluster; 3.4 leaves the members bucket stale (info) and starts, 3.5 rewrites it', async () => {
    const d = path.join(work.dir, `case-${caseNo++}`);
    const [client, peer] = (await freePorts(2)) as [number, number];
    const peerUrl = `http://127.0.0.1:${peer}`;
    await run(
      'etcdctl',
      [
        'snapshot',
        'restore',
        path.join(snapDir(member), 'db'),
        '--skip-hash-check',
        '--name',
        'm0',
        '--initial-cluster',
        `m0=${peerUrl}`,
        '--initial-advertise-peer-urls',
        peerUrl,
        '--initial-cluster-token',
        'restored',
        '--data-dir',
        d,
      ],
      { env: { ...process.env, ETCDCTL_API: '3' } },
    );
    const r = await auditDataDir(d);
    expect(notInfo(r.findings)).toEqual([]);
    const stale = r.findings.find((x) => x.code === 'CROSS_MEMBERS_STALE');
    if (etcdAtLeast(3, 5)) {
      expect(stale).toBeUndefined();
      expect(r.findings.some((x) => x.code === 'CROSS_MEMBERS_MISMATCH')).toBe(false);
    } else {
      expect(stale?.severity).toBe('info');
      // the bucket still lists the member the db came from (3.4's restore does not rewrite it)
      const source = (await auditDataDir(member)).facts as { wal: { nodeId: string } };
      expect(stale?.message).toContain(`members bucket lists [${source.wal.nodeId}]`);
    }
    const o = await startEtcd(d, { ports: [client, peer] });
    expect(o, o.log.slice(-2000)).toMatchObject({ started: true, keys: KEYS, acceptsWrites: true });
    const after = await auditDataDir(d);
    expect(notInfo(after.findings)).toEqual([]);
    // 3.4 never writes the bucket again: it reads membership from the v2 store
    expect(after.findings.some((x) => x.code === 'CROSS_MEMBERS_STALE')).toBe(!etcdAtLeast(3, 5));
  }, 90_000);
});

describe('DB_ALARM_ACTIVE: a member that raised NOSPACE and was stopped', () => {
  test('DB_ALARM_ACTIVE: warning; etcd starts, serves every key, raises the alarm again and refuses writes until it is disarmed', async () => {
    const cluster = await startTestCluster({
      size: 1,
      extraArgs: ['--quota-backend-bytes', String(1024 * 1024)],
    });
    let d: string;
    let written = 0;
    try {
      const client = new TestEtcdClient({ hosts: cluster.endpoints });
      const value = Buffer.alloc(16 * 1024, 1);
      try {
        // the quota check refuses the put that would pass the quota and raises the alarm
        for (;;) {
          const err = await client
            .put(`/k/${String(written).padStart(4, '0')}`)
            .value(value)
            .then(
              () => undefined,
              (e: Error) => e,
            );
          if (err) {
            expect(err.message).toMatch(/database space exceeded/);
            break;
          }
          written++;
          expect(written).toBeLessThan(1000);
        }
      } finally {
        client.close();
      }
      expect(await cluster.etcdctl(['alarm', 'list'])).toMatch(/alarm:NOSPACE/);
      d = await stoppedCopy(cluster, 0, 'nospace');
    } finally {
      await cluster.stop();
    }
    expect(written).toBeGreaterThan(10);
    const r = await auditDataDir(d);
    expect(notInfo(r.findings).map((x) => x.split(':')[0])).toEqual(['DB_ALARM_ACTIVE']);
    expect(r.findings.find((x) => x.code === 'DB_ALARM_ACTIVE')?.message).toMatch(/NOSPACE/);
    // no quota flag now: the default quota has room, so what refuses the write is the saved alarm
    const o = await withEtcdOn(d, { probe: healthyDespiteNospace }, async (e) => {
      const alarms = await e.ctl(['alarm', 'list']);
      const keys = (await e.ctl(['get', '/k/', '--prefix', '--keys-only']))
        .split('\n')
        .filter((l) => l.startsWith('/k/')).length;
      const refused = await e.ctl(['put', '/probe', 'x'], '4s').then(
        () => '',
        (err: Error) => err.message,
      );
      await e.ctl(['alarm', 'disarm']);
      await e.ctl(['put', '/probe', 'x']);
      return { alarms, keys, refused };
    });
    expect(o.started, o.log.slice(-2000)).toBe(true);
    if (!o.started) return;
    expect(o.value.alarms).toMatch(/alarm:NOSPACE/);
    // the put that raises the alarm can be stored although etcd answers NOSPACE for it (a CI run on 3.5
    // served 58 keys for 57 acknowledged puts); a put refused once the alarm is up is not: one more at most
    expect([written, written + 1]).toContain(o.value.keys);
    expect(o.value.refused).toMatch(/database space exceeded/);
    const after = await auditDataDir(d);
    expect(notInfo(after.findings)).toEqual([]);
  }, 120_000);
});

describe('DB_COMPACTION_INTERRUPTED: a member killed during a compaction', () => {
  test('DB_COMPACTION_INTERRUPTED: info while the member compacts, warning once SIGKILL stopped it; etcd finishes the compaction at start', async () => {
    // one revision deleted per batch, with etcd's pause between batches: the compaction takes seconds
    const cluster = await startTestCluster({
      size: 1,
      extraArgs: ['--experimental-compaction-batch-limit', '1'],
    });
    let d: string;
    let compactRev: number;
    try {
      const m = cluster.members[0]!;
      const client = new TestEtcdClient({ hosts: cluster.endpoints });
      try {
        for (let i = 0; i < 1000; i += 25)
          await Promise.all(
            Array.from({ length: 25 }, (_, j) => client.put(`/k/${j % 10}`).value(`v${i + j}`)),
          );
        compactRev = Number((await client.get('/k/0').exec()).header.revision) - 5;
      } finally {
        client.close();
      }
      await cluster.etcdctl(['compact', String(compactRev)]);
      const live = await auditDataDir(m.spec.dataDir);
      const during = live.findings.find((x) => x.code === 'DB_COMPACTION_INTERRUPTED');
      expect(live.facts.wal).toMatchObject({ live: true });
      expect(notInfo(live.findings)).toEqual([]);
      expect(during?.severity).toBe('info');
      await cluster.kill(0);
      expect(await readFile(m.spec.logFile, 'utf8')).not.toMatch(/finished scheduled compaction/);
      d = path.join(work.dir, 'compacting');
      await cp(m.spec.dataDir, d, { recursive: true });
    } finally {
      await cluster.stop();
    }
    const r = await auditDataDir(d);
    expect(notInfo(r.findings).map((x) => x.split(':')[0])).toEqual(['DB_COMPACTION_INTERRUPTED']);
    expect(r.findings.find((x) => x.code === 'DB_COMPACTION_INTERRUPTED')?.severity).toBe('warning');
    const o = await withEtcdOn(d, {}, async (e) => {
      await until(
        'the compaction finished',
        async () => /finished scheduled compaction/.test(await e.log()),
        60_000,
        200,
      );
      return e.ctl(['get', '/k/0', '--rev', '2']).then(
        () => '',
        (err: Error) => err.message,
      );
    });
    expect(o.started, o.log.slice(-2000)).toBe(true);
    if (!o.started) return;
    expect(o.log).toMatch(/resume scheduled compaction/);
    expect(o.value).toMatch(/required revision has been compacted/);
    const after = await auditDataDir(d);
    expect(notInfo(after.findings)).toEqual([]);
    expect(after.findings.some((x) => x.code.startsWith('DB_COMPACTION'))).toBe(false);
  }, 150_000);
});

describe('WAL_NODE_NOT_MEMBER: the data dir of a removed member', () => {
  // One removal of a follower from a 2-member cluster leaves the follower's WAL in one of two states,
  // depending on a race inside etcd: either the follower learned the removal's commit and applied it
  // (its log says "removed member <its own id>"), or the leader dropped it first and the follower only
  // heard "permanently removed" from the leader's peer handler, its WAL holding the removal uncommitted.
  // The audit counts committed entries only, so the first state is WAL_NODE_NOT_MEMBER and the second is
  // not a finding; the test checks whichever state it got and tries again until it has seen the first.
  async function removeFollower(): Promise<{ dir: string; name: string; appliedOwnRemoval: boolean }> {
    const cluster = await startTestCluster({ size: 2 });
    try {
      const client = new TestEtcdClient({ hosts: cluster.endpoints });
      try {
        await putKeys(client, 0, 50);
      } finally {
        client.close();
      }
      const status = await cluster.etcdctl(['endpoint', 'status', '-w', 'json']);
      const ids = [...status.matchAll(/"member_id":(\d+)/g)].map((x) => BigInt(x[1]!));
      const leader = BigInt(/"leader":(\d+)/.exec(status)![1]!);
      const victim = ids.findIndex((id) => id !== leader);
      expect(victim).toBeGreaterThanOrEqual(0);
      const hex = ids[victim]!.toString(16);
      // etcd refuses a membership change until every member has been connected for a few seconds
      await until(
        'member removed',
        () =>
          cluster.etcdctl(['member', 'remove', hex], {
            endpoints: [cluster.endpoints[1 - victim]!],
          }),
        60_000,
        1000,
      );
      // the removed member learns it and stops by itself
      const m = cluster.members[victim]!;
      const exit = await Promise.race([
        m.exited,
        new Promise((r) => setTimeout(() => r('still running'), 30_000)),
      ]);
      expect(exit).not.toBe('still running');
      const log = await readFile(m.spec.logFile, 'utf8');
      expect(log).toMatch(/permanently removed/);
      const dir = path.join(work.dir, `removed-${hex}`);
      await cp(m.spec.dataDir, dir, { recursive: true });
      // 3.4: "removed member <id> from cluster"; 3.5: "removed member" with removed-remote-peer-id <id>
      const appliedOwnRemoval =
        new RegExp(`removed member ${hex} from cluster`).test(log) ||
        new RegExp(`"msg":"removed member"[^\\n]*"removed-remote-peer-id":"${hex}"`).test(log);
      return { dir, name: m.spec.name, appliedOwnRemoval };
    } finally {
      await cluster.stop();
    }
  }

  test('WAL_NODE_NOT_MEMBER: warning; etcd started on it finds itself removed and stops', async () => {
    let seen = false;
    for (let attempt = 0; attempt < 4 && !seen; attempt++) {
      const { dir, name, appliedOwnRemoval } = await removeFollower();
      const r = await auditDataDir(dir);
      if (!appliedOwnRemoval) {
        // the removal is in the WAL but was never committed there: etcd would not apply it on its own
        expect(notInfo(r.findings)).toEqual([]);
        continue;
      }
      seen = true;
      expect(notInfo(r.findings).map((x) => x.split(':')[0])).toEqual(['WAL_NODE_NOT_MEMBER']);
      const o = await startEtcd(dir, { name });
      expect(o.started, o.log.slice(-2000)).toBe(false);
      expect(o.log).toMatch(/permanently removed/);
    }
    expect(seen, 'no attempt left a follower that applied its own removal').toBe(true);
  }, 300_000);
});
