/**
 * The WAL + snap audit on real etcd 3.4 data dirs (test/helpers/wal-corpus.ts), healthy and corrupted on
 * purpose: each case asserts the finding code, file and offset.
 */
import { open, readdir, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Finding } from '../../../src/audit/finding.js';
import { auditWalAndSnapDirs } from '../../../src/audit/snap/audit-wal-and-snap.js';
import { crossCheckWalSnap } from '../../../src/audit/snap/cross-check-wal-snap.js';
import { decodeWalSegment, type WalRecord } from '../../../src/formats/wal/segment-decoder.js';
import { WalRecordType } from '../../../src/formats/wal/record-type.js';
import { getWalCorpus, linkWalCopy, type WalCorpus } from '../../helpers/wal-corpus.js';
import { tempDir } from '../../helpers/tmp.js';

let corpus: WalCorpus;
let work: { dir: string; cleanup: () => Promise<void> };
let caseNo = 0;

beforeAll(async () => {
  corpus = await getWalCorpus();
  work = await tempDir('dr-wal-audit-');
}, 300_000);
afterAll(async () => {
  await work?.cleanup();
});

const errors = (fs: Finding[]) => fs.filter((f) => f.severity === 'error');
const codes = (fs: Finding[]) => fs.map((f) => f.code);

async function walNames(dataDir: string): Promise<string[]> {
  return (await readdir(path.join(dataDir, 'member', 'wal'))).filter((n) => n.endsWith('.wal')).sort();
}

async function recordsOf(file: string, isLast: boolean): Promise<WalRecord[]> {
  const out: WalRecord[] = [];
  decodeWalSegment(await readFile(file), { isLast }, (r) => out.push({ ...r, data: undefined }));
  return out;
}

/** A linked copy of main's wal+snap where `privateFiles` may be written. */
async function copyOfMain(privateFiles: string[] = []) {
  const dest = path.join(work.dir, `case-${caseNo++}`);
  const dirs = await linkWalCopy(corpus.main, dest, privateFiles);
  return { dest, ...dirs };
}

async function patch(file: string, offset: number, bytes: Buffer): Promise<void> {
  const fh = await open(file, 'r+');
  try {
    await fh.write(bytes, 0, bytes.length, offset);
  } finally {
    await fh.close();
  }
}

async function flipBit(file: string, offset: number, mask = 0x01): Promise<void> {
  const fh = await open(file, 'r+');
  try {
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, offset);
    b[0]! ^= mask;
    await fh.write(b, 0, 1, offset);
  } finally {
    await fh.close();
  }
}

describe('healthy data dirs', () => {
  for (const which of ['main', 'restarted', 'fresh', 'restored'] as const) {
    test(`${which}: no errors or warnings, clean tail`, async () => {
      const r = await auditWalAndSnapDirs(corpus[which]);
      expect(r.findings.filter((f) => f.severity !== 'info')).toEqual([]);
      expect(r.wal.tail).toBe('clean');
      expect(r.wal.metadata?.nodeId).toBeTypeOf('bigint');
      expect(r.wal.lastHardState!.commit).toBe(r.wal.lastIndex);
      expect(r.cross.membership.voters).toContain(r.wal.metadata!.nodeId);
    });
  }

  test('main: several segments, snapshots every 100 entries, matched by snap files', async () => {
    const r = await auditWalAndSnapDirs(corpus.main);
    expect(r.wal.segments.length).toBeGreaterThanOrEqual(3);
    expect(r.wal.metadata!.nodeId.toString(16).padStart(16, '0')).toBe(corpus.mainMemberId);
    const snapIdx = r.wal.snapshotRecords.map((s) => s.index).filter((i) => i > 0n);
    expect(snapIdx.length).toBeGreaterThanOrEqual(3);
    expect(r.cross.loadable?.index).toBe(snapIdx.at(-1));
    // a cut names the next segment after the last entry of the previous one
    for (let i = 1; i < r.wal.segments.length; i++)
      expect(r.wal.segments[i]!.index).toBe(r.wal.segments[i - 1]!.lastEntryIndex! + 1n);
  });

  test('restored: the restore WAL has one ConfChange per member and a snapshot at N', async () => {
    const r = await auditWalAndSnapDirs(corpus.restored);
    expect(r.wal.confChanges).toHaveLength(1);
    expect(r.wal.confChanges[0]!.member?.name).toBe('r0');
    expect(r.wal.snapshotRecords.map((s) => [s.index, s.term])).toEqual([
      [0n, 0n],
      [1n, 1n],
    ]);
    expect(r.cross.loadable?.name).toBe('0000000000000001-0000000000000001.snap');
  });
});

describe('corrupted on purpose', () => {
  test('bit flip in the data of a record in a middle segment: WAL_CRC_MISMATCH at that record only', async () => {
    const names = await walNames(corpus.main);
    const victim = names[1]!;
    const c = await copyOfMain([victim]);
    const recs = await recordsOf(path.join(c.walDir, victim), false);
    const big = recs.filter((r) => r.type === WalRecordType.Entry && r.recBytes > 100_000)[10]!;
    await flipBit(path.join(c.walDir, victim), big.offset + 8 + Math.floor(big.recBytes / 2), 0x10);
    const r = await auditWalAndSnapDirs(c.dest);
    expect(codes(errors(r.findings))).toEqual(['WAL_CRC_MISMATCH']);
    const f = errors(r.findings)[0]!;
    expect(f.file).toBe(`member/wal/${victim}`);
    expect(f.location).toMatchObject({ offset: big.offset, record: big.ordinal });
    expect(f.message).toContain(victim);
    expect(f.message).toContain(`offset ${big.offset}`);
    expect(f.runbook).toBe('runbooks/corrupt-wal.md#corrupt-record');
  });

  test('bit flip in a stored crc field: WAL_CRC_MISMATCH that says the data is intact', async () => {
    const names = await walNames(corpus.main);
    const victim = names[0]!;
    const c = await copyOfMain([victim]);
    const recs = await recordsOf(path.join(c.walDir, victim), false);
    const rec = recs.filter((r) => r.type === WalRecordType.Entry)[50]!;
    // body: 08 <type> 10 <crc varint...>: flip the lowest bit of the crc's first byte
    await flipBit(path.join(c.walDir, victim), rec.offset + 8 + 3, 0x01);
    const r = await auditWalAndSnapDirs(c.dest);
    expect(codes(errors(r.findings))).toEqual(['WAL_CRC_MISMATCH']);
    expect(errors(r.findings)[0]!.location).toMatchObject({ offset: rec.offset });
    expect(errors(r.findings)[0]!.message).toContain('data is intact');
  });

  test('bit flip in padding: WAL_PADDING_NONZERO warning, no error', async () => {
    const names = await walNames(corpus.main);
    const victim = names[0]!;
    const c = await copyOfMain([victim]);
    const recs = await recordsOf(path.join(c.walDir, victim), false);
    const rec = recs.find((r) => r.ordinal > 5 && r.padBytes > 0)!;
    const padAt = rec.offset + 8 + rec.recBytes;
    await flipBit(path.join(c.walDir, victim), padAt, 0x40);
    const r = await auditWalAndSnapDirs(c.dest);
    expect(errors(r.findings)).toEqual([]);
    const w = r.findings.filter((f) => f.code === 'WAL_PADDING_NONZERO');
    expect(w).toHaveLength(1);
    expect(w[0]).toMatchObject({
      severity: 'warning',
      file: `member/wal/${victim}`,
      location: { offset: padAt },
    });
  });

  test('torn last record (non-zero length field then zeros): WAL_TORN_TAIL warning, repairable', async () => {
    const names = await walNames(corpus.main);
    const last = names.at(-1)!;
    const c = await copyOfMain([last]);
    const file = path.join(c.walDir, last);
    const res = decodeWalSegment(await readFile(file), { isLast: true });
    expect(res.end).toBe('zero-tail');
    const len = Buffer.alloc(8);
    len.writeUInt32LE(3000, 0); // 3000 bytes of record, 0 padding needed
    await patch(file, res.validEnd, len);
    const r = await auditWalAndSnapDirs(c.dest);
    expect(errors(r.findings)).toEqual([]);
    const torn = r.findings.filter((f) => f.code === 'WAL_TORN_TAIL');
    expect(torn).toHaveLength(1);
    expect(torn[0]).toMatchObject({
      severity: 'warning',
      file: `member/wal/${last}`,
      location: { offset: res.validEnd },
    });
    expect(torn[0]!.runbook).toBe('runbooks/corrupt-wal.md#torn-tail');
    expect(r.wal.tail).toBe('torn');
    expect(r.wal.repairAt).toEqual({ file: `member/wal/${last}`, offset: res.validEnd });
  });

  test('zeroed 512-byte sector mid-way through the last segment: WAL_ZEROED_SECTOR error (etcd would truncate intact records)', async () => {
    const names = await walNames(corpus.main);
    const last = names.at(-1)!;
    const c = await copyOfMain([last]);
    const file = path.join(c.walDir, last);
    const recs = await recordsOf(file, true);
    const big = recs.filter((r) => r.type === WalRecordType.Entry && r.recBytes > 100_000)[5]!;
    const sector = Math.ceil((big.offset + 8 + 4096) / 512) * 512;
    await patch(file, sector, Buffer.alloc(512));
    const r = await auditWalAndSnapDirs(c.dest);
    const e = errors(r.findings).filter((f) => f.code === 'WAL_ZEROED_SECTOR');
    expect(e).toHaveLength(1);
    expect(e[0]).toMatchObject({
      file: `member/wal/${last}`,
      location: { offset: big.offset, record: big.ordinal },
    });
    expect(e[0]!.message).toContain(`offset ${sector}`);
    expect(r.wal.tail).toBe('corrupt');
  });

  test('zeroed sector in a segment that is not the last: a CRC error, never a torn write', async () => {
    const names = await walNames(corpus.main);
    const victim = names[0]!;
    const c = await copyOfMain([victim]);
    const file = path.join(c.walDir, victim);
    const recs = await recordsOf(file, false);
    const big = recs.filter((r) => r.type === WalRecordType.Entry && r.recBytes > 100_000)[3]!;
    const sector = Math.ceil((big.offset + 8 + 1000) / 512) * 512;
    await patch(file, sector, Buffer.alloc(512));
    const r = await auditWalAndSnapDirs(c.dest);
    expect(codes(errors(r.findings))).toEqual(['WAL_CRC_MISMATCH']);
    expect(errors(r.findings)[0]!.location).toMatchObject({ offset: big.offset });
    expect(r.findings.some((f) => f.code === 'WAL_TORN_TAIL')).toBe(false);
  });

  test('missing middle segment: WAL_SEQ_GAP, CRC chain broken and an index gap', async () => {
    const names = await walNames(corpus.main);
    const c = await copyOfMain();
    await rm(path.join(c.walDir, names[1]!));
    const r = await auditWalAndSnapDirs(c.dest);
    const gap = r.findings.find((f) => f.code === 'WAL_SEQ_GAP')!;
    expect(gap).toMatchObject({
      severity: 'error',
      file: `member/wal/${names[2]}`,
      location: { index: '1..1' },
    });
    expect(r.findings.find((f) => f.code === 'WAL_CRC_CHAIN_BROKEN')).toMatchObject({
      file: `member/wal/${names[2]}`,
      location: { offset: 0, record: 0 },
    });
    expect(r.findings.find((f) => f.code === 'WAL_INDEX_GAP')?.file).toBe(`member/wal/${names[2]}`);
    expect(r.findings.find((f) => f.code === 'WAL_SEQ_GAP')!.runbook).toBe(
      'runbooks/corrupt-wal.md#missing-segment',
    );
  });

  test('misnamed segment (not <seq>-<index>.wal): WAL_NAME_INVALID and the gap it leaves', async () => {
    const names = await walNames(corpus.main);
    const c = await copyOfMain();
    await rename(path.join(c.walDir, names[1]!), path.join(c.walDir, '1-99.wal'));
    const r = await auditWalAndSnapDirs(c.dest);
    expect(r.findings.find((f) => f.code === 'WAL_NAME_INVALID')).toMatchObject({
      severity: 'warning',
      file: 'member/wal/1-99.wal',
    });
    expect(codes(errors(r.findings))).toContain('WAL_SEQ_GAP');
  });

  test('segment named for the wrong raft index: WAL_NAME_INDEX_MISMATCH', async () => {
    const names = await walNames(corpus.main);
    const c = await copyOfMain();
    const seg = names[1]!;
    const wrong = `${seg.slice(0, 17)}${(BigInt(`0x${seg.slice(17, 33)}`) + 7n).toString(16).padStart(16, '0')}.wal`;
    await rename(path.join(c.walDir, seg), path.join(c.walDir, wrong));
    const r = await auditWalAndSnapDirs(c.dest);
    expect(codes(errors(r.findings))).toEqual(['WAL_NAME_INDEX_MISMATCH']);
    expect(errors(r.findings)[0]!.file).toBe(`member/wal/${wrong}`);
  });

  test('snap file with a bad CRC: SNAP_CRC_MISMATCH, and etcd falls back to the previous snapshot', async () => {
    const snaps = (await readdir(path.join(corpus.main, 'member', 'snap')))
      .filter((n) => n.endsWith('.snap'))
      .sort();
    const victim = snaps.at(-1)!;
    const c = await copyOfMain([victim]);
    const file = path.join(c.snapDir, victim);
    const size = (await readFile(file)).length;
    await flipBit(file, size - 200, 0x04);
    const r = await auditWalAndSnapDirs(c.dest);
    const bad = r.findings.find((f) => f.code === 'SNAP_CRC_MISMATCH')!;
    expect(bad).toMatchObject({
      severity: 'warning',
      file: `member/snap/${victim}`,
      runbook: 'runbooks/corrupt-snap.md#bad-crc',
    });
    expect(r.cross.loadable?.name).toBe(snaps.at(-2));
    expect(r.findings.find((f) => f.code === 'WAL_SNAPSHOT_FILE_MISSING')?.severity).toBe('warning');
  });

  test('every snap file deleted (etcd 3.8 writes none): WAL_SNAPSHOT_FILE_MISSING is a warning, not an error', async () => {
    const c = await copyOfMain();
    const snaps = (await readdir(c.snapDir)).filter((n) => n.endsWith('.snap'));
    for (const s of snaps) await rm(path.join(c.snapDir, s));
    const r = await auditWalAndSnapDirs(c.dest);
    expect(codes(errors(r.findings))).toEqual([]);
    expect(r.findings.find((f) => f.code === 'WAL_SNAPSHOT_FILE_MISSING')?.severity).toBe('warning');
  });

  test('every snap file broken while the WAL starts at index 0: etcd replays from 0, a warning', async () => {
    const snaps = (await readdir(path.join(corpus.main, 'member', 'snap'))).filter((n) =>
      n.endsWith('.snap'),
    );
    const c = await copyOfMain(snaps);
    for (const s of snaps) {
      const file = path.join(c.snapDir, s);
      await flipBit(file, (await readFile(file)).length - 100, 0x10);
    }
    const r = await auditWalAndSnapDirs(c.dest);
    expect(codes(errors(r.findings))).toEqual([]);
    const missing = r.findings.find((f) => f.code === 'WAL_SNAPSHOT_FILE_MISSING')!;
    expect(missing.severity).toBe('warning');
    expect(missing.message).toMatch(/falls back to the start of the WAL \(index 0\)/);
    expect(r.findings.filter((f) => f.code === 'SNAP_CRC_MISMATCH')).toHaveLength(snaps.length);
  });

  test('broken snap files and a WAL that no longer starts at index 0: WAL_SNAPSHOT_FILE_MISSING error', () => {
    const seg = (name: string, seq: bigint, index: bigint) => ({
      name,
      seq,
      index,
      size: 0,
      records: 0,
      end: 'eof' as const,
      validEnd: 0,
    });
    const wal = {
      segments: [seg('0000000000000003-0000000000000100.wal', 3n, 0x100n)],
      snapshotRecords: [{ index: 0x120n, term: 2n, file: 'member/wal/x.wal', offset: 8 }],
      firstIndex: 0x101n,
      lastIndex: 0x200n,
      lastHardState: { term: 2n, vote: 1n, commit: 0x200n, file: 'member/wal/x.wal', offset: 16 },
      entryCount: 0xff,
      confChanges: [],
      tail: 'clean' as const,
      bytesRead: 0,
      live: false,
    };
    const snap = {
      files: [{ name: '0000000000000002-0000000000000120.snap', term: 2n, index: 0x120n, valid: false }],
      snapDbs: [],
      hasDb: true,
    };
    const r = crossCheckWalSnap(wal, snap);
    expect(r.findings.map((f) => `${f.code}:${f.severity}`)).toEqual(['WAL_SNAPSHOT_FILE_MISSING:error']);
    expect(r.findings[0]!.message).toMatch(/etcd cannot start/);
  });
});

describe('a running member read while it appends', () => {
  /**
   * A read beside etcd's append can see a page of the append still zero and the page after it written.
   * The same bytes on a stopped member are real damage; on a running one the audit reads the segment again.
   */
  async function holedLastSegment() {
    const names = await walNames(corpus.main);
    const last = names[names.length - 1]!;
    const file = path.join(corpus.main, 'member', 'wal', last);
    const whole = await readFile(file);
    const recs = (await recordsOf(file, true)).filter((r) => r.type === WalRecordType.Entry);
    const victim = recs[Math.floor(recs.length / 2)]!;
    const holed = Buffer.from(whole);
    // from the record's length field to the end of the next page, as a page-by-page copy would miss it
    holed.fill(0, victim.offset, (Math.floor(victim.offset / 4096) + 2) * 4096);
    return { last, whole, holed };
  }

  async function sourceReading(first: Buffer, then: Buffer, live: boolean) {
    const { openWalDir } = await import('../../../src/audit/wal/read-wal-dir.js');
    const { auditWal } = await import('../../../src/audit/wal/audit-wal.js');
    const real = await openWalDir(path.join(corpus.main, 'member', 'wal'));
    const { last } = await holedLastSegment();
    let lastReads = 0;
    const src = {
      names: real.names,
      live,
      read: async (name: string) => (name === last ? (lastReads++ === 0 ? first : then) : real.read(name)),
    };
    return { audit: () => auditWal(src), reads: () => lastReads };
  }

  test('damage gone from the next read: no finding, the segment was read again', async () => {
    const { whole, holed } = await holedLastSegment();
    const s = await sourceReading(holed, whole, true);
    const r = await s.audit();
    expect(r.findings.filter((f) => f.severity !== 'info')).toEqual([]);
    expect(s.reads()).toBe(2);
  });

  test('damage in every read of a running member: reported as an error', async () => {
    const { holed } = await holedLastSegment();
    const s = await sourceReading(holed, holed, true);
    const r = await s.audit();
    expect(errors(r.findings).length).toBeGreaterThan(0);
    expect(s.reads()).toBe(4);
  });

  test('the same bytes on a stopped member: an error from the one read', async () => {
    const { whole, holed } = await holedLastSegment();
    const s = await sourceReading(holed, whole, false);
    const r = await s.audit();
    expect(errors(r.findings).length).toBeGreaterThan(0);
    expect(s.reads()).toBe(1);
  });
});
