/**
 * Each audit severity against what real etcd does with the same bytes. A real single-member cluster writes
 * the data and stops; each case copies its data dir, changes it the way a crash, a power loss, an old etcd or
 * damage would, runs the audit on the copy, then starts real etcd on the copy (the same member: same name,
 * data dir and cluster token, no --force-new-cluster; fresh loopback ports) and checks that etcd's outcome
 * matches the severity: ERROR only where etcd refuses to start or loses committed entries, WARNING where it
 * repairs or falls back and still serves every key, INFO for normal states.
 *
 * src/audit/codes.ts names these tests as the evidence of each code's rule (`test: <words>`); the last test
 * checks that every rule is consistent with its severity and that every named test exists in this file, in
 * etcd-behaviour-states.test.ts (crash and operator states: .snap.db files, alarms, compactions, removed
 * members) or in the live-member tests.
 */
import { cp, open, readdir, readFile, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  AUDIT_CODES,
  CROSS_CODES,
  SEVERITY_OF_BEHAVIOUR,
  SNAP_CODES,
  WAL_CODES,
  severitiesOf,
} from '../../src/audit/codes.js';
import { DB_CODES } from '../../src/audit/db/codes.js';
import type { Finding } from '../../src/audit/finding.js';
import { auditDataDir } from '../../src/audit/offline.js';
import { stopMember } from '../../src/etcd/member-process.js';
import { WalRecordType } from '../../src/formats/wal/record-type.js';
import { decodeWalSegment, type WalRecord } from '../../src/formats/wal/segment-decoder.js';
import { reframeLegacy } from '../../src/formats/wal/segment-encoder.js';
import { startTestCluster } from '../helpers/etcd-cluster.js';
import { startEtcd } from '../helpers/etcd-on-copy.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/until.js';
import { TestEtcdClient } from '../helpers/etcd-test-client.js';

const KEYS = 400;

let work: { dir: string; cleanup: () => Promise<void> };
/** a stopped member with KEYS small puts and no snapshot (one WAL segment from index 0) */
let plain: string;
/** a stopped member with --snapshot-count 50: several .snap files and WAL snapshot records */
let snapped: string;
let caseNo = 0;

async function makeMember(name: string, extraArgs: string[]): Promise<string> {
  const cluster = await startTestCluster({ size: 1, extraArgs });
  try {
    const client = new TestEtcdClient({ hosts: cluster.endpoints });
    try {
      for (let i = 0; i < KEYS; i += 20)
        await Promise.all(
          Array.from({ length: 20 }, (_, j) =>
            client.put(`/k/${String(i + j).padStart(4, '0')}`).value(`v${i + j}`),
          ),
        );
    } finally {
      client.close();
    }
    const m = cluster.members[0]!;
    await stopMember(m, 10_000);
    const dest = path.join(work.dir, name);
    await cp(m.spec.dataDir, dest, { recursive: true });
    return dest;
  } finally {
    await cluster.stop();
  }
}

beforeAll(async () => {
  work = await tempDir('dr-etcd-behaviour-');
  plain = await makeMember('plain', []);
  snapped = await makeMember('snapped', ['--snapshot-count', '50']);
}, 240_000);

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
const lastSegment = async (d: string) =>
  path.join(
    walDir(d),
    (await readdir(walDir(d)))
      .filter((n) => n.endsWith('.wal'))
      .sort()
      .at(-1)!,
  );

function records(buf: Buffer): WalRecord[] {
  const out: WalRecord[] = [];
  decodeWalSegment(buf, { isLast: true }, (r) => out.push(r));
  return out;
}

async function patchFile(file: string, at: number, bytes: Buffer): Promise<void> {
  const fh = await open(file, 'r+');
  try {
    await fh.write(bytes, 0, bytes.length, at);
  } finally {
    await fh.close();
  }
}

const bySeverity = (fs: Finding[], s: Finding['severity']) => fs.filter((f) => f.severity === s);
const codesOf = (fs: Finding[]) => [...new Set(fs.map((f) => f.code))].sort();

describe('healthy copies: no finding above info, and etcd starts and serves every key', () => {
  test('plain and snapped members as they were stopped', async () => {
    for (const d of [plain, snapped]) {
      const r = await auditDataDir(await copyOf(d));
      expect(r.findings.filter((f) => f.severity !== 'info')).toEqual([]);
      const o = await startEtcd(await copyOf(d));
      expect(o).toMatchObject({ started: true, keys: KEYS, acceptsWrites: true });
    }
  }, 120_000);
});

describe('ERROR: etcd refuses to start or loses committed entries', () => {
  test('WAL_CRC_MISMATCH: a flipped bit in a record in the middle of the WAL; etcd refuses to start', async () => {
    const d = await copyOf(plain);
    const seg = await lastSegment(d);
    const recs = records(await readFile(seg)).filter((r) => r.type === WalRecordType.Entry);
    const victim = recs[Math.floor(recs.length / 2)]!;
    const at = victim.dataOffset + victim.dataLength - 3;
    const b = (await readFile(seg)).subarray(at, at + 1);
    await patchFile(seg, at, Buffer.from([b[0]! ^ 0x04]));
    const r = await auditDataDir(d);
    expect(codesOf(bySeverity(r.findings, 'error'))).toContain('WAL_CRC_MISMATCH');
    const o = await startEtcd(d);
    expect(o.started, o.log.slice(-2000)).toBe(false);
    expect(o.log).toMatch(/crc mismatch/i);
  }, 60_000);

  test('WAL_ZEROED_SECTOR: a zeroed sector inside a record with records after it; etcd cuts them off and then takes no write', async () => {
    const d = await copyOf(plain);
    const seg = await lastSegment(d);
    const buf = await readFile(seg);
    const recs = records(buf).filter((r) => r.type === WalRecordType.Entry);
    // an entry early enough that well over one Ready's worth of entries follow, whose body crosses a sector
    const victim = recs.find(
      (r, i) =>
        i > 20 &&
        i < recs.length - 150 &&
        Math.floor((r.offset + 8) / 512) !== Math.floor((r.offset + 8 + r.recBytes - 1) / 512),
    )!;
    expect(victim).toBeDefined();
    const boundary = Math.floor((victim.offset + 8 + victim.recBytes - 1) / 512) * 512;
    await patchFile(seg, boundary, Buffer.alloc(victim.offset + 8 + victim.recBytes - boundary));
    const r = await auditDataDir(d);
    const errs = codesOf(bySeverity(r.findings, 'error'));
    expect(errs).toContain('WAL_ZEROED_SECTOR');
    expect(errs).toContain('CROSS_INDEX_BEYOND_WAL');
    const o = await startEtcd(d);
    // etcd treats it as a torn write, truncates there (dropping the committed entries after it), starts ...
    expect(o.started, o.log.slice(-2000)).toBe(true);
    expect((await readdir(walDir(d))).some((n) => n.endsWith('.wal.broken'))).toBe(true);
    // ... and gives its next write an index the db counts as applied: the write never completes
    expect(o.acceptsWrites).toBe(false);
  }, 60_000);

  test('CROSS_INDEX_BEYOND_WAL: a gutted WAL (records cut from the end, the db far ahead); etcd starts and takes no write', async () => {
    const d = await copyOf(plain);
    const seg = await lastSegment(d);
    await truncate(seg, 3072);
    const r = await auditDataDir(d);
    // the cut record at the end of the file is a torn tail; what matters is the db beyond the WAL
    expect(codesOf(bySeverity(r.findings, 'error'))).toEqual(['CROSS_INDEX_BEYOND_WAL']);
    const f = r.findings.find((x) => x.code === 'CROSS_INDEX_BEYOND_WAL')!;
    expect(f.message).toMatch(
      /has applied up to index \d+, but the last entry etcd can read from the WAL is \d+/,
    );
    const o = await startEtcd(d);
    expect(o.started, o.log.slice(-2000)).toBe(true);
    expect(o.acceptsWrites).toBe(false);
  }, 60_000);
});

describe('ERROR: no snap file to start from and the WAL purged past index 0', () => {
  test('WAL_SNAPSHOT_FILE_MISSING: every .snap broken after etcd purged the first WAL segments; etcd refuses to start', async () => {
    // big values fill a 64 MB segment quickly; --max-wals 1 lets etcd purge the older segments after a snapshot
    const cluster = await startTestCluster({
      size: 1,
      extraArgs: ['--snapshot-count', '20', '--max-wals', '1'],
    });
    let d: string;
    try {
      const client = new TestEtcdClient({ hosts: cluster.endpoints });
      const big = Buffer.alloc(1 << 20, 7);
      try {
        const wal = walDir(cluster.members[0]!.spec.dataDir);
        const segments = async () => (await readdir(wal)).filter((n) => n.endsWith('.wal')).sort();
        for (let i = 0; (await segments()).length < 3 && i < 300; i += 10)
          await Promise.all(Array.from({ length: 10 }, (_, j) => client.put(`/big/${j}`).value(big)));
        // snapshots past the newest cut release the older segments; etcd purges every 30 s
        await until(
          'the first WAL segment purged',
          async () => {
            await client.put('/small').value('x');
            return !(await segments()).includes('0000000000000000-0000000000000000.wal');
          },
          90_000,
          200,
        );
      } finally {
        client.close();
      }
      const m = cluster.members[0]!;
      await stopMember(m, 10_000);
      d = path.join(work.dir, `case-${caseNo++}`);
      await cp(m.spec.dataDir, d, { recursive: true });
    } finally {
      await cluster.stop();
    }
    expect((await readdir(walDir(d))).sort()[0]).not.toBe('0000000000000000-0000000000000000.wal');
    const healthy = await auditDataDir(d);
    expect(
      healthy.findings.filter((f) => f.severity !== 'info').map((f) => `${f.code}: ${f.message}`),
    ).toEqual([]);
    for (const n of (await readdir(snapDir(d))).filter((x) => x.endsWith('.snap'))) {
      const file = path.join(snapDir(d), n);
      const b = await readFile(file);
      b[b.length - 50]! ^= 0x10;
      await writeFile(file, b);
    }
    const r = await auditDataDir(d);
    const missing = r.findings.find((f) => f.code === 'WAL_SNAPSHOT_FILE_MISSING')!;
    expect(missing.severity).toBe('error');
    expect(missing.message).toMatch(/etcd cannot start/);
    const o = await startEtcd(d);
    expect(o.started, o.log.slice(-2000)).toBe(false);
  }, 240_000);
});

describe('WARNING: etcd repairs or falls back, and serves every key', () => {
  test('WAL_TORN_TAIL: the last record of the WAL half written; etcd repairs it (WAL_BROKEN_COPY after)', async () => {
    const d = await copyOf(plain);
    const seg = await lastSegment(d);
    const last = records(await readFile(seg)).at(-1)!;
    await patchFile(seg, last.offset + 8, Buffer.alloc(last.recBytes + last.padBytes));
    const r = await auditDataDir(d);
    expect(bySeverity(r.findings, 'error')).toEqual([]);
    expect(codesOf(bySeverity(r.findings, 'warning'))).toEqual(['WAL_TORN_TAIL']);
    const o = await startEtcd(d);
    expect(o).toMatchObject({ started: true, keys: KEYS, acceptsWrites: true });
    const after = await auditDataDir(d);
    expect(after.findings.filter((x) => x.severity !== 'info')).toEqual([]);
    expect(after.findings.find((x) => x.code === 'WAL_BROKEN_COPY')?.severity).toBe('info');
  }, 60_000);

  test('WAL_TAIL_NOT_ZERO: non-zero bytes after the last record; etcd zero-fills them and starts', async () => {
    const d = await copyOf(plain);
    const seg = await lastSegment(d);
    const last = records(await readFile(seg)).at(-1)!;
    const end = last.offset + 8 + last.recBytes + last.padBytes;
    await patchFile(seg, end + 8, Buffer.alloc(100, 0xab));
    const r = await auditDataDir(d);
    expect(bySeverity(r.findings, 'error')).toEqual([]);
    expect(codesOf(bySeverity(r.findings, 'warning'))).toEqual(['WAL_TAIL_NOT_ZERO']);
    const o = await startEtcd(d);
    expect(o).toMatchObject({ started: true, keys: KEYS, acceptsWrites: true });
  }, 60_000);

  test('damaged snap files: the newest .snap torn; etcd falls back to the one before (WAL_SNAPSHOT_FILE_MISSING warning)', async () => {
    const d = await copyOf(snapped);
    const snaps = (await readdir(snapDir(d))).filter((n) => n.endsWith('.snap')).sort();
    expect(snaps.length).toBeGreaterThanOrEqual(2);
    const newest = path.join(snapDir(d), snaps.at(-1)!);
    const bytes = await readFile(newest);
    await writeFile(newest, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const r = await auditDataDir(d);
    expect(bySeverity(r.findings, 'error')).toEqual([]);
    const warned = codesOf(bySeverity(r.findings, 'warning'));
    expect(warned).toContain('WAL_SNAPSHOT_FILE_MISSING');
    expect(warned.some((c) => c.startsWith('SNAP_'))).toBe(true);
    const o = await startEtcd(d);
    expect(o).toMatchObject({ started: true, keys: KEYS, acceptsWrites: true });
    // a file etcd set aside is reported as such
    if ((await readdir(snapDir(d))).some((n) => n.endsWith('.snap.broken'))) {
      const after = await auditDataDir(d);
      expect(after.findings.find((x) => x.code === 'SNAP_BROKEN_FILE')?.severity).toBe('info');
    }
  }, 60_000);

  test('WAL_SNAPSHOT_FILE_MISSING: every .snap broken while the WAL starts at index 0; etcd replays the WAL from 0', async () => {
    const d = await copyOf(snapped);
    expect((await readdir(walDir(d))).sort()[0]).toBe('0000000000000000-0000000000000000.wal');
    for (const n of (await readdir(snapDir(d))).filter((x) => x.endsWith('.snap'))) {
      const file = path.join(snapDir(d), n);
      const b = await readFile(file);
      b[b.length - 50]! ^= 0x10;
      await writeFile(file, b);
    }
    const r = await auditDataDir(d);
    expect(bySeverity(r.findings, 'error')).toEqual([]);
    expect(r.findings.find((f) => f.code === 'WAL_SNAPSHOT_FILE_MISSING')?.severity).toBe('warning');
    const o = await startEtcd(d);
    expect(o).toMatchObject({ started: true, keys: KEYS, acceptsWrites: true });
  }, 60_000);

  test('a torn .snap newer than every WAL snapshot record (a crash while saving it): info, etcd ignores it', async () => {
    const d = await copyOf(snapped);
    const snaps = (await readdir(snapDir(d))).filter((n) => n.endsWith('.snap')).sort();
    const newest = snaps.at(-1)!;
    const [term, index] = newest
      .replace('.snap', '')
      .split('-')
      .map((h) => BigInt(`0x${h}`)) as [bigint, bigint];
    const name = `${term.toString(16).padStart(16, '0')}-${(index + 50n).toString(16).padStart(16, '0')}.snap`;
    const bytes = await readFile(path.join(snapDir(d), newest));
    await writeFile(path.join(snapDir(d), name), bytes.subarray(0, Math.floor(bytes.length / 3)));
    const r = await auditDataDir(d);
    expect(bySeverity(r.findings, 'error')).toEqual([]);
    const torn = r.findings.filter((f) => f.file === `member/snap/${name}`);
    expect(torn.length).toBeGreaterThan(0);
    for (const f of torn) {
      expect(f.severity).toBe('info');
      expect(f.message).toMatch(/newer than every WAL snapshot record/);
    }
    const o = await startEtcd(d);
    expect(o).toMatchObject({ started: true, keys: KEYS, acceptsWrites: true });
    // after etcd's start (3.4 sets the file aside as .snap.broken): still nothing above info
    const after = await auditDataDir(d);
    expect(after.findings.filter((f) => f.severity !== 'info')).toEqual([]);
  }, 60_000);

  test('DB_META_CHECKSUM: the newer bbolt meta page torn; bbolt opens the other one and etcd serves every key', async () => {
    const d = await copyOf(plain);
    const db = path.join(snapDir(d), 'db');
    const head = (await readFile(db)).subarray(0, 65536);
    const pageSize = head.readUInt32LE(16 + 8);
    const txid = (slot: number) => head.readBigUInt64LE(slot * pageSize + 16 + 48);
    const newer = txid(1) > txid(0) ? 1 : 0;
    const at = newer * pageSize + 16 + 56; // the checksum field
    await patchFile(db, at, Buffer.from([head[at]! ^ 0xff]));
    const r = await auditDataDir(d);
    expect(bySeverity(r.findings, 'error')).toEqual([]);
    expect(r.findings.find((f) => f.code === 'DB_META_CHECKSUM')?.severity).toBe('warning');
    const o = await startEtcd(d);
    expect(o).toMatchObject({ started: true, keys: KEYS, acceptsWrites: true });
  }, 60_000);
});

describe('INFO (or nothing): normal data etcd reads as it is', () => {
  test('pre-3.0 WAL framing (plain lengths, no padding): no finding above info, etcd reads it and serves every key', async () => {
    const d = await copyOf(plain);
    for (const n of (await readdir(walDir(d))).filter((x) => x.endsWith('.wal'))) {
      const file = path.join(walDir(d), n);
      const buf = await readFile(file);
      await writeFile(file, reframeLegacy(buf, records(buf)));
    }
    const r = await auditDataDir(d);
    expect(r.findings.filter((f) => f.severity !== 'info')).toEqual([]);
    expect(r.findings.some((f) => f.code === 'WAL_LENGTH_INVALID')).toBe(false);
    const o = await startEtcd(d);
    expect(o).toMatchObject({ started: true, keys: KEYS, acceptsWrites: true });
  }, 60_000);

  test('DB_CONSISTENT_INDEX_MISSING: a member that never applied a v3 write; info at most, and etcd starts', async () => {
    const cluster = await startTestCluster({ size: 1 });
    let dest: string;
    try {
      const m = cluster.members[0]!;
      await stopMember(m, 10_000);
      dest = path.join(work.dir, `case-${caseNo++}`);
      await cp(m.spec.dataDir, dest, { recursive: true });
    } finally {
      await cluster.stop();
    }
    const r = await auditDataDir(dest);
    expect(r.findings.filter((f) => f.severity !== 'info')).toEqual([]);
    const missing = r.findings.find((f) => f.code === 'DB_CONSISTENT_INDEX_MISSING');
    if (missing) expect(missing.message).toMatch(/holds no key/);
    const o = await startEtcd(dest, { write: true });
    expect(o).toMatchObject({ started: true, keys: 0, acceptsWrites: true });
  }, 60_000);
});

test('every data code has a rule that fits its severity, and every test it names exists', async () => {
  const here = await readFile(new URL(import.meta.url), 'utf8');
  const live = await readFile(new URL('./live-members.test.ts', import.meta.url), 'utf8');
  const states = await readFile(new URL('./etcd-behaviour-states.test.ts', import.meta.url), 'utf8');
  const wrong: string[] = [];
  // the codes about a member's data: the WAL, snap and db audits and their cross-checks
  const dataCodes = [
    ...Object.keys(WAL_CODES),
    ...Object.keys(SNAP_CODES),
    ...Object.keys(DB_CODES),
    ...Object.keys(CROSS_CODES),
  ];
  for (const code of dataCodes) {
    const info = AUDIT_CODES[code]!;
    // not about data: a bug in dr, and the cap on how many findings one db gives
    if (code === 'DB_AUDIT_INTERNAL' || code === 'DB_TOO_MANY_FINDINGS') continue;
    if (!info.etcd) {
      wrong.push(`${code}: no rule`);
      continue;
    }
    const sevs = severitiesOf(code);
    for (const s of sevs) {
      const b = info.etcd.does[s];
      if (!b) wrong.push(`${code}: no behaviour for ${s}`);
      else if (!SEVERITY_OF_BEHAVIOUR[b].includes(s)) wrong.push(`${code}: ${s} but etcd ${b}`);
    }
    const ev = info.etcd.evidence;
    const named = /^test: (.+?)( \(|;|$)/.exec(ev)?.[1];
    if (named) {
      const title = named === 'live members' ? 'SIGKILL' : named;
      if (![here, live, states].some((t) => t.includes(title))) wrong.push(`${code}: no test "${named}"`);
      // every code real members can produce is tested: the other rules say why etcd never writes such data
    } else if (!/^not (from etcd|from a clean run)/.test(ev)) wrong.push(`${code}: evidence "${ev}"`);
  }
  expect(wrong, wrong.join('\n')).toEqual([]);
});
