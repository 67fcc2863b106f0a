/**
 * `dr audit` end to end (the built CLI) against a real 3-member etcd 3.4 cluster: the online audit (healthy,
 * then with a member stopped), snapshot files (agreement with `etcdctl snapshot status`, a bad meta checksum),
 * a backup in file:// storage, and the stopped member's data dir (healthy copy, untouched original, a copy
 * with a flipped bit in a WAL record).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, mkdir, open, readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopMember } from '../../src/etcd/member-process.js';
import { decodeWalSegment, type WalRecord } from '../../src/formats/wal/segment-decoder.js';
import { WalRecordType } from '../../src/formats/wal/record-type.js';
import { filesBelow, runDr } from '../helpers/dr.js';
import { startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';
import { tempDir } from '../helpers/tmp.js';

const run = promisify(execFile);
const etcdctlEnv = { ...process.env, ETCDCTL_API: '3' };

async function fingerprint(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const rel of filesBelow(dir)) {
    const p = path.join(dir, rel);
    const st = await stat(p);
    out[rel] = `${createHash('sha256')
      .update(await readFile(p))
      .digest('hex')} ${st.mtimeMs}`;
  }
  return out;
}

async function writeByte(file: string, offset: number, xor: number): Promise<void> {
  const fh = await open(file, 'r+');
  try {
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, offset);
    b[0]! ^= xor;
    await fh.write(b, 0, 1, offset);
  } finally {
    await fh.close();
  }
}

describe('dr audit on a real 3-member cluster', () => {
  let c: TestCluster;
  let dir: string;
  let cleanup: () => Promise<void>;
  let env: Record<string, string>;
  let snapFile: string;

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('dr-cli-audit-'));
    c = await startTestCluster({ size: 3 });
    env = { DR_STORAGE: `file://${path.join(dir, 'store')}`, DR_CATALOG: path.join(dir, 'catalog.sqlite') };
    for (let i = 0; i < 30; i++)
      await c.etcdctl(['put', `/registry/pods/default/p-${i}`, JSON.stringify({ i, spec: 'y'.repeat(300) })]);
    await c.etcdctl(['del', '/registry/pods/default/p-7']);
  }, 90_000);
  afterAll(async () => {
    await c?.stop();
    await cleanup?.();
  });

  it('online, healthy: exit 0, every member hashed at one revision with equal hashes', async () => {
    const r = await runDr(['audit', '--endpoints', c.endpoints.join(','), '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.json.ok).toBe(true);
    expect(r.json.target).toEqual({ kind: 'cluster', endpoints: c.endpoints });
    expect(r.json.findings.filter((f: { severity: string }) => f.severity !== 'info')).toEqual([]);
    const members = r.json.facts.members as { reachable: boolean; hash: number; revision: string }[];
    expect(members).toHaveLength(3);
    expect(members.every((m) => m.reachable)).toBe(true);
    expect(new Set(members.map((m) => m.hash)).size).toBe(1);
    expect(r.json.facts.hashRevision).toBe(String(Math.min(...members.map((m) => Number(m.revision)))));
    // and etcd agrees with the hash at that revision
    const out = await run(
      'etcdctl',
      [
        '--endpoints',
        c.endpoints[0]!,
        'endpoint',
        'hashkv',
        '--rev',
        r.json.facts.hashRevision,
        '-w',
        'json',
      ],
      { env: etcdctlEnv },
    );
    expect(JSON.parse(out.stdout)[0].HashKV.hash).toBe(members[0]!.hash);
    // the human report
    const h = await runDr(['audit', '--endpoints', c.endpoints.join(',')]);
    expect(h.code).toBe(0);
    expect(h.stdout).toContain('(leader)');
    expect(h.stdout).toMatch(/OK: 0 errors/);
  });

  it('a snapshot file: facts agree with etcdctl snapshot status; exit 0', async () => {
    snapFile = path.join(dir, 'snap.db');
    await run('etcdctl', ['--endpoints', c.endpoints[1]!, 'snapshot', 'save', snapFile], { env: etcdctlEnv });
    const want = JSON.parse(
      (await run('etcdctl', ['snapshot', 'status', snapFile, '-w', 'json'], { env: etcdctlEnv })).stdout,
    );
    const r = await runDr(['audit', '--snapshot', snapFile, '--json']);
    expect(r.code).toBe(0);
    expect(r.json.findings).toEqual([]);
    const s = r.json.facts.status;
    expect({
      hash: s.hash,
      revision: Number(s.revision),
      totalKey: s.totalKey,
      totalSize: s.totalSize,
    }).toEqual(want);
    expect(r.json.facts.trailer.ok).toBe(true);
  });

  it('a snapshot with a bad meta checksum: exit 1 (the trailer no longer matches), DB_META_CHECKSUM on page 0 a warning', async () => {
    const bad = path.join(dir, 'bad-meta.db');
    await cp(snapFile, bad);
    await writeByte(bad, 16 + 40, 0x01); // inside meta page 0 (its txid), after the page header
    const r = await runDr(['audit', '--snapshot', bad, '--json']);
    expect(r.code).toBe(1);
    expect(r.json.ok).toBe(false);
    const meta = r.json.findings.find((f: { code: string }) => f.code === 'DB_META_CHECKSUM');
    // one bad meta page: bbolt opens the db from the other one (etcd falls back), so a warning; the
    // snapshot as a whole is still bad, since etcd's sha256 trailer no longer matches (an error)
    expect(meta).toMatchObject({ severity: 'warning', file: 'bad-meta.db', location: { page: 0 } });
    expect(meta.runbook).toBe('runbooks/corrupt-db.md#meta-page');
    expect(r.json.findings.map((f: { code: string }) => f.code)).toContain('SNAPSHOT_TRAILER_MISMATCH');
    const h = await runDr(['audit', '--snapshot', bad]);
    expect(h.code).toBe(1);
    expect(h.stdout).toMatch(/WARNING\s+DB_META_CHECKSUM\s+\(offset \d+, page 0\)/);
    expect(h.stdout).toMatch(/ERROR\s+SNAPSHOT_TRAILER_MISMATCH/);
    expect(h.stdout).toContain('runbook: runbooks/corrupt-db.md#meta-page');
  });

  it('a backup: fetched, audited, compared with its manifest; the temp file is gone', async () => {
    const b = await runDr(
      ['backup', '--endpoints', c.endpoints.join(','), '--cluster-name', 'prod', '--json'],
      env,
    );
    expect(b.code).toBe(0);
    const tmp = path.join(dir, 'audit-tmp');
    await mkdir(tmp);
    const r = await runDr(
      ['audit', '--backup', 'latest', '--cluster-name', 'prod', '--tmp-dir', tmp, '--json'],
      env,
    );
    expect(r.code).toBe(0);
    expect(r.json.target).toMatchObject({ kind: 'backup', id: b.json.id, cluster: 'prod' });
    expect(r.json.facts.manifest.hash).toBe(r.json.facts.status.hash);
    expect(r.json.facts.manifest.revision).toBe(r.json.facts.status.revision);
    expect(r.json.facts.manifest.totalKeys).toBe(r.json.facts.status.totalKey);
    expect(await readdir(tmp)).toEqual([]);
  });

  it('usage: no target, or two targets, is exit 2', async () => {
    expect((await runDr(['audit'])).code).toBe(2);
    const two = await runDr(['audit', '--snapshot', snapFile, '--data-dir', dir, '--json']);
    expect(two.code).toBe(2);
    expect(two.json.error.code).toBe('USAGE');
  });

  describe('with member m2 stopped', () => {
    let dataDir: string;
    beforeAll(async () => {
      await c.etcdctl(['put', 'last/key', 'v']);
      await new Promise((r) => setTimeout(r, 500)); // let m2 apply it
      const m = c.members[2]!;
      dataDir = m.spec.dataDir;
      await stopMember(m, 10_000);
    }, 30_000);

    it('online: exit 1, MEMBER_UNREACHABLE names the stopped endpoint; the others are still hashed', async () => {
      const r = await runDr([
        'audit',
        '--endpoints',
        c.endpoints.join(','),
        '--dial-timeout',
        '1500',
        '--json',
      ]);
      expect(r.code).toBe(1);
      const un = r.json.findings.filter((f: { code: string }) => f.code === 'MEMBER_UNREACHABLE');
      expect(un).toHaveLength(1);
      expect(un[0]).toMatchObject({ severity: 'error', file: c.endpoints[2] });
      expect(un[0].location.member).toMatch(/^[0-9a-f]{16}$/);
      const hashed = (r.json.facts.members as { hash?: number }[]).filter((m) => m.hash !== undefined);
      expect(hashed).toHaveLength(2);
    });

    it('its data dir: exit 0, and every file keeps its bytes and mtime', async () => {
      const before = await fingerprint(dataDir);
      const r = await runDr(['audit', '--data-dir', dataDir, '--json']);
      expect(r.code).toBe(0);
      expect(r.json.findings.filter((f: { severity: string }) => f.severity !== 'info')).toEqual([]);
      expect(BigInt(r.json.facts.db.consistentIndex)).toBeLessThanOrEqual(
        BigInt(r.json.facts.wal.hardState.commit),
      );
      expect(await fingerprint(dataDir)).toEqual(before);
      const h = await runDr(['audit', '--data-dir', dataDir]);
      expect(h.code).toBe(0);
      expect(h.stdout).toMatch(/^ {2}wal: \d+ segment\(s\), .* tail clean/m);
      expect(h.stdout).toMatch(/^no findings$/m);
    });

    it('a copy with a flipped bit inside a WAL record: exit 1, WAL_CRC_MISMATCH with file and offset', async () => {
      const copy = path.join(dir, 'm2-copy');
      await cp(dataDir, copy, { recursive: true });
      const walDir = path.join(copy, 'member', 'wal');
      const seg = (await readdir(walDir)).filter((n) => n.endsWith('.wal')).sort()[0]!;
      const recs: WalRecord[] = [];
      decodeWalSegment(await readFile(path.join(walDir, seg)), { isLast: true }, (rec) =>
        recs.push({ ...rec, data: undefined }),
      );
      // an entry whose whole frame sits in one 512-byte sector: the damage cannot pass for a torn write
      const victim = recs.find(
        (x) =>
          x.type === WalRecordType.Entry &&
          x.dataLength > 200 &&
          Math.floor(x.offset / 512) === Math.floor((x.offset + 8 + x.recBytes + x.padBytes - 1) / 512),
      )!;
      expect(victim).toBeDefined();
      await writeByte(path.join(walDir, seg), victim.dataOffset + 100, 0x20);
      const r = await runDr(['audit', '--data-dir', copy, '--json']);
      expect(r.code).toBe(1);
      const f = r.json.findings.find((x: { code: string }) => x.code === 'WAL_CRC_MISMATCH');
      expect(f).toMatchObject({
        severity: 'error',
        file: `member/wal/${seg}`,
        location: { offset: victim.offset, record: victim.ordinal },
        runbook: 'runbooks/corrupt-wal.md#corrupt-record',
      });
      const h = await runDr(['audit', '--data-dir', copy]);
      expect(h.code).toBe(1);
      expect(h.stdout).toContain(`member/wal/${seg}\n`);
      expect(h.stdout).toMatch(
        new RegExp(`ERROR\\s+WAL_CRC_MISMATCH\\s+\\(offset ${victim.offset}, record ${victim.ordinal}\\)`),
      );
      expect(h.stdout).toMatch(/FAILED: \d+ errors?/);
    });
  });
});
