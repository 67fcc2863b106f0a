/**
 * auditDataDir / auditSnapshotFile on real etcd 3.4 data dirs (test/helpers/wal-corpus.ts): healthy ones give
 * no errors and no warnings, the audit never changes a byte or an mtime, and the db <-> WAL <-> snap
 * cross-checks fire on real mismatched files (a db from another point in time, a missing db, a pending
 * .snap.db).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, link, open, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Finding } from '../../src/audit/finding.js';
import { auditDataDir, auditSnapshotFile } from '../../src/audit/offline.js';
import { stopMember } from '../../src/etcd/member-process.js';
import { snapshotStatus } from '../../src/formats/bbolt/snapshot-status.js';
import { openFileSource } from '../../src/formats/file-byte-source.js';
import { filesBelow } from '../helpers/dr.js';
import { startTestCluster } from '../helpers/etcd-cluster.js';
import { tempDir } from '../helpers/tmp.js';
import { getWalCorpus, linkWalCopy, type WalCorpus } from '../helpers/wal-corpus.js';

const run = promisify(execFile);
let corpus: WalCorpus;
let work: { dir: string; cleanup: () => Promise<void> };
let caseNo = 0;

beforeAll(async () => {
  corpus = await getWalCorpus();
  work = await tempDir('dr-offline-audit-');
}, 300_000);
afterAll(async () => {
  await work?.cleanup();
});

const notInfo = (fs: Finding[]) => fs.filter((f) => f.severity !== 'info');
const codes = (fs: Finding[]) => fs.map((f) => f.code);

/** sha256 and mtime of every file below dir. */
async function fingerprint(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const rel of filesBelow(dir)) {
    const p = path.join(dir, rel);
    const st = await stat(p);
    out[rel] = `${createHash('sha256')
      .update(await readFile(p))
      .digest('hex')} ${st.mtimeMs} ${st.size}`;
  }
  return out;
}

/** wal + snap of `walFrom` (hard links), with the db of `dbFrom`. */
async function mixed(walFrom: string, dbFrom: string | null): Promise<string> {
  const dest = path.join(work.dir, `case-${caseNo++}`);
  await linkWalCopy(walFrom, dest);
  if (dbFrom) await link(path.join(dbFrom, 'member', 'snap', 'db'), path.join(dest, 'member', 'snap', 'db'));
  return dest;
}

describe('healthy data dirs: no errors, no warnings', () => {
  for (const which of ['main', 'restarted', 'fresh', 'restored'] as const) {
    test(which, async () => {
      const r = await auditDataDir(corpus[which]);
      expect(notInfo(r.findings)).toEqual([]);
      expect(r.ok).toBe(true);
      expect(r.summary.errors + r.summary.warnings).toBe(0);
      const db = r.facts.db as { consistentIndex: bigint; revision: bigint };
      const wal = r.facts.wal as { hardState: { commit: bigint }; nodeId: string };
      expect(db.consistentIndex).toBeLessThanOrEqual(wal.hardState.commit);
      expect((r.facts.membership as { voters: string[] }).voters).toContain(wal.nodeId);
    });
  }

  test('main (compacted): the facts name the compaction and the loaded snapshot', async () => {
    const r = await auditDataDir(corpus.main);
    const db = r.facts.db as { compactRevision: bigint; schema: string };
    expect(db.compactRevision).toBe(BigInt(corpus.compactRevision));
    expect(db.schema).toMatch(/^3\.[45]$/); // the corpus is made by the etcd under test
    expect((r.facts.snap as { loadable: string }).loadable).toMatch(/\.snap$/);
  });

  test('restored by etcdctl snapshot restore: the stale members bucket is only an info (3.4)', async () => {
    const r = await auditDataDir(corpus.restored);
    expect(notInfo(r.findings)).toEqual([]);
    // etcdutl 3.5 rewrites the members bucket on restore; etcdctl 3.4 leaves the old cluster's members in it
    if ((r.facts.db as { schema: string }).schema !== '3.4') {
      expect(codes(r.findings)).toEqual([]);
      return;
    }
    expect(codes(r.findings)).toEqual(['CROSS_MEMBERS_STALE']);
    expect(r.findings[0]!.severity).toBe('info');
    expect(r.findings[0]!.message).toContain(corpus.mainMemberId);
    expect(r.findings[0]!.runbook).toBe('runbooks/corrupt-db.md#members');
  });

  test('defragmented (compact + defrag, then stopped)', async () => {
    const cluster = await startTestCluster({ size: 1 });
    try {
      for (let i = 0; i < 50; i++) await cluster.etcdctl(['put', `k/${i}`, 'x'.repeat(2000)]);
      await cluster.etcdctl(['del', 'k/', '--prefix']);
      const rev = JSON.parse(await cluster.etcdctl(['endpoint', 'status', '-w', 'json']))[0].Status.header
        .revision as number;
      await cluster.etcdctl(['compact', String(rev), '--physical']);
      await cluster.etcdctl(['defrag']);
      await cluster.etcdctl(['put', 'after-defrag', 'y']);
      const m = cluster.members[0]!;
      await stopMember(m, 10_000);
      const r = await auditDataDir(m.spec.dataDir);
      expect(notInfo(r.findings)).toEqual([]);
      expect((r.facts.db as { compactRevision: bigint }).compactRevision).toBe(BigInt(rev));
    } finally {
      await cluster.stop();
    }
  }, 60_000);
});

test('strictly read-only: every file keeps its bytes and mtime, nothing is added', async () => {
  for (const which of ['main', 'restored'] as const) {
    const before = await fingerprint(corpus[which]);
    await auditDataDir(corpus[which]);
    expect(await fingerprint(corpus[which])).toEqual(before);
  }
}, 180_000); // two full audits of a 150 MB WAL, inline (no worker thread from source)

describe('cross-checks on real mismatched files', () => {
  test('no db: DB_MISSING', async () => {
    const r = await auditDataDir(await mixed(corpus.main, null));
    expect(codes(notInfo(r.findings))).toEqual(['DB_MISSING']);
    expect(r.findings[0]!.file).toBe('member/snap/db');
  });

  test('a db older than the snapshot etcd loads: CROSS_INDEX_BEHIND_SNAPSHOT', async () => {
    const r = await auditDataDir(await mixed(corpus.main, corpus.fresh));
    const errs = r.findings.filter((f) => f.severity === 'error');
    expect(codes(errs)).toEqual(['CROSS_INDEX_BEHIND_SNAPSHOT']);
    expect(errs[0]!.file).toBe('member/snap/db');
    expect(errs[0]!.location?.index).toBe(
      String((r.facts.db as { consistentIndex: bigint }).consistentIndex),
    );
    expect(errs[0]!.runbook).toBe('runbooks/corrupt-db.md#consistent-index');
  });

  test('... unless the leader sent a .snap.db for that snapshot: CROSS_SNAP_DB_PENDING (info)', async () => {
    const dir = await mixed(corpus.main, corpus.fresh);
    const before = await auditDataDir(dir);
    const snapIndex = BigInt(
      before.findings
        .find((f) => f.code === 'CROSS_INDEX_BEHIND_SNAPSHOT')!
        .message.match(/index (\d+)\)/)![1]!,
    );
    const name = `${snapIndex.toString(16).padStart(16, '0')}.snap.db`;
    await copyFile(path.join(corpus.main, 'member', 'snap', 'db'), path.join(dir, 'member', 'snap', name));
    const r = await auditDataDir(dir);
    expect(codes(r.findings.filter((f) => f.severity === 'error'))).toEqual([]);
    const pending = r.findings.find((f) => f.code === 'CROSS_SNAP_DB_PENDING')!;
    expect(pending.severity).toBe('info');
    expect(pending.file).toBe(`member/snap/${name}`);
  });

  test('a db a few entries ahead of the last HardState commit: CROSS_INDEX_BEYOND_COMMIT, info (normal)', async () => {
    // the db of the restarted member (a few more puts) over the WAL of main: what a killed member looks like
    const r = await auditDataDir(await mixed(corpus.main, corpus.restarted));
    // (a 3.5 db also records the newer term of the restarted member: CROSS_TERM_AHEAD, true of this mix)
    expect(codes(notInfo(r.findings)).filter((c) => c !== 'CROSS_TERM_AHEAD')).toEqual([]);
    const f = r.findings.find((x) => x.code === 'CROSS_INDEX_BEYOND_COMMIT')!;
    expect(f.severity).toBe('info');
    expect(f.message).toMatch(/applied up to index \d+, the last HardState on disk .* says \d+: normal/);
  });

  test('a db far ahead of everything the WAL holds: CROSS_INDEX_BEYOND_WAL, error', async () => {
    // main's db (hundreds of entries applied) over the WAL of a member with 5 puts
    const r = await auditDataDir(await mixed(corpus.fresh, corpus.main));
    const f = r.findings.find((x) => x.code === 'CROSS_INDEX_BEYOND_WAL')!;
    expect(f.severity).toBe('error');
    expect(f.message).toMatch(
      /has applied up to index (\d+), but the last entry etcd can read from the WAL is (\d+)/,
    );
    expect(r.findings.some((x) => x.code === 'CROSS_INDEX_BEYOND_COMMIT')).toBe(false);
  });

  test('a WAL gutted down to its first record (no entry left) under a db that applied hundreds: CROSS_INDEX_BEYOND_WAL', async () => {
    const segs = (await readdir(path.join(corpus.main, 'member', 'wal')))
      .filter((n) => n.endsWith('.wal'))
      .sort();
    const dest = path.join(work.dir, `case-${caseNo++}`);
    const { walDir } = await linkWalCopy(corpus.main, dest, segs);
    for (const n of segs.slice(1)) await rm(path.join(walDir, n));
    await truncate(path.join(walDir, segs[0]!), 16);
    await link(path.join(corpus.main, 'member', 'snap', 'db'), path.join(dest, 'member', 'snap', 'db'));
    const r = await auditDataDir(dest);
    const f = r.findings.find((x) => x.code === 'CROSS_INDEX_BEYOND_WAL')!;
    expect(f.severity).toBe('error');
    expect(f.message).toMatch(/the last entry etcd can read from the WAL is 0\b/);
  });

  test('not a data dir: USAGE error', async () => {
    await expect(auditDataDir(work.dir)).rejects.toMatchObject({ code: 'USAGE' });
  });
});

describe('snapshot files', () => {
  async function withTrailer(): Promise<{ file: string; db: string }> {
    const db = path.join(corpus.main, 'member', 'snap', 'db');
    const file = path.join(work.dir, `snap-${caseNo++}.db`);
    const bytes = await readFile(db);
    await writeFile(file, Buffer.concat([bytes, createHash('sha256').update(bytes).digest()]));
    return { file, db };
  }

  test('with a valid trailer: no findings, status facts equal snapshotStatus', async () => {
    const { file } = await withTrailer();
    const r = await auditSnapshotFile(file);
    expect(r.findings).toEqual([]);
    expect((r.facts.trailer as { ok: boolean }).ok).toBe(true);
    const src = openFileSource(file);
    const s = snapshotStatus(src);
    src.close();
    expect(r.facts.status).toEqual({
      hash: s.hash,
      revision: s.revision,
      totalKey: s.totalKey,
      totalSize: s.totalSize,
    });
  });

  test('a flipped trailer byte: SNAPSHOT_TRAILER_MISMATCH at the trailer offset', async () => {
    const { file } = await withTrailer();
    const size = (await stat(file)).size;
    const fh = await open(file, 'r+');
    // flip it (writing a fixed value would change nothing when the trailer already holds it)
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, size - 5);
    await fh.write(Buffer.from([b[0]! ^ 0xff]), 0, 1, size - 5);
    await fh.close();
    const r = await auditSnapshotFile(file);
    expect(codes(r.findings)).toEqual(['SNAPSHOT_TRAILER_MISMATCH']);
    expect(r.findings[0]!.location?.offset).toBe(size - 32);
    expect(r.ok).toBe(false);
  });

  test('a bare db (no trailer): SNAPSHOT_NO_TRAILER info only', async () => {
    const r = await auditSnapshotFile(path.join(corpus.fresh, 'member', 'snap', 'db'));
    expect(codes(r.findings)).toEqual(['SNAPSHOT_NO_TRAILER']);
    expect(r.ok).toBe(true);
  });

  test('agrees with etcdctl snapshot status on the same file', async () => {
    const { file } = await withTrailer();
    const { stdout } = await run('etcdctl', ['snapshot', 'status', file, '-w', 'json'], {
      env: { ...process.env, ETCDCTL_API: '3' },
    });
    const want = JSON.parse(stdout) as {
      hash: number;
      revision: number;
      totalKey: number;
      totalSize: number;
    };
    const r = await auditSnapshotFile(file);
    const got = r.facts.status as { hash: number; revision: bigint; totalKey: number; totalSize: number };
    expect({ ...got, revision: Number(got.revision) }).toEqual(want);
  });
});
