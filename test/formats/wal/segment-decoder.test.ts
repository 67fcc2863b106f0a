import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { auditWalDir } from '../../../src/audit/wal/read-wal-dir.js';
import { decodeEntryPayload, entryEffects } from '../../../src/formats/raft/entry-payload.js';
import { T } from '../../../src/formats/raft/proto.js';
import { decodeEntry, encodeMessage } from '../../../src/formats/raft/raft-messages.js';
import { WalRecordType } from '../../../src/formats/wal/record-type.js';
import { decodeWalSegment, type WalRecord } from '../../../src/formats/wal/segment-decoder.js';
import {
  encodeWalRecords,
  reframeLegacy,
  type RecordToEncode,
} from '../../../src/formats/wal/segment-encoder.js';
import { checkWalNames, formatWalName, parseWalName } from '../../../src/formats/wal/segment-name.js';
import { getWalCorpus, sha256, type WalCorpus } from '../../helpers/wal-corpus.js';

const md = encodeMessage(T.metadata, { nodeId: '16680917395012634450', clusterId: '12345678901234567890' });
const entry = (index: number, term = 2, key = `k${index}`) =>
  encodeMessage(T.entry, {
    type: 0,
    term,
    index,
    data: encodeMessage(T.irr, {
      header: { id: index },
      put: { key: Buffer.from(key), value: Buffer.alloc(300, index & 0xff) },
    }),
  });

function segment(first: number, count: number, prevCrc = 0, tail = 4096) {
  const recs: RecordToEncode[] = [{ type: WalRecordType.Crc }, { type: WalRecordType.Metadata, data: md }];
  for (let i = first; i < first + count; i++) recs.push({ type: WalRecordType.Entry, data: entry(i) });
  recs.push({
    type: WalRecordType.State,
    data: encodeMessage(T.hardState, { term: 2, vote: 1, commit: first + count - 1 }),
  });
  const { bytes, endCrc } = encodeWalRecords(recs, prevCrc);
  return { bytes: Buffer.concat([bytes, Buffer.alloc(tail)]), framed: bytes.length, endCrc };
}

function decodeAll(buf: Buffer, isLast = true, continuePastError = true) {
  const recs: WalRecord[] = [];
  const res = decodeWalSegment(buf, { isLast, continuePastError }, (r) => recs.push(r));
  return { res, recs };
}

describe('segment names', () => {
  test('parse, format and sequence rules', () => {
    expect(parseWalName('0000000000000001-000000000000007c.wal')).toEqual({
      name: '0000000000000001-000000000000007c.wal',
      seq: 1n,
      index: 124n,
    });
    expect(parseWalName('1-7c.wal')).toBeUndefined();
    expect(parseWalName('0000000000000001-000000000000007C.wal')).toBeUndefined();
    expect(formatWalName(2n, 0xffffffffffffffffn)).toBe('0000000000000002-ffffffffffffffff.wal');
    const { segments, issues } = checkWalNames([
      formatWalName(3n, 50n),
      formatWalName(0n, 0n),
      'junk.wal',
      '0.tmp',
      formatWalName(1n, 10n),
    ]);
    expect(segments.map((s) => s.seq)).toEqual([0n, 1n, 3n]);
    expect(issues.map((i) => i.kind).sort()).toEqual(['invalid-name', 'seq-gap']);
    expect(issues.find((i) => i.kind === 'seq-gap')?.missing).toEqual({ from: 2n, to: 2n });
  });
});

describe('synthetic segments', () => {
  test('frames, padding, CRC chain across segments', () => {
    const a = segment(1, 10);
    const b = segment(11, 10, a.endCrc);
    const ra = decodeAll(a.bytes, false);
    expect(ra.res).toMatchObject({ end: 'zero-tail', records: 13, validEnd: a.framed, problems: [] });
    for (const r of ra.recs) expect(r.offset % 8).toBe(0);
    const rb = decodeWalSegment(b.bytes, { isLast: true, prevCrc: ra.res.endCrc });
    expect(rb.problems).toEqual([]);
    // the wrong seed breaks the chain at the next segment's crc record
    const bad = decodeWalSegment(b.bytes, { isLast: true, prevCrc: (ra.res.endCrc ^ 1) >>> 0 });
    expect(bad.problems[0]).toMatchObject({ code: 'WAL_CRC_CHAIN_BROKEN', offset: 0, record: 0 });
    expect(decodeEntry(ra.recs[2]!.data!).index).toBe(1n);
  });

  test('a segment that ends exactly at its last frame (a sealed segment) ends with eof', () => {
    const a = segment(1, 3, 0, 0);
    expect(decodeAll(a.bytes, false).res).toMatchObject({ end: 'eof', problems: [] });
  });

  test('torn rule: only the last segment, only with an all-zero sector chunk in the body', () => {
    const a = segment(1, 40);
    const recs = decodeAll(a.bytes).recs;
    const lastEntry = recs.filter((r) => r.type === WalRecordType.Entry).at(-1)!;
    const torn = Buffer.from(a.bytes);
    // the length field reached the disk, the body did not
    torn.fill(0, lastEntry.offset + 8);
    const t = decodeAll(torn);
    expect(t.res.end).toBe('torn');
    expect(t.res.problems.map((p) => p.code)).toEqual(['WAL_TORN_TAIL']);
    expect(t.res.validEnd).toBe(lastEntry.offset);
    // same bytes in a segment that is not the last: real corruption
    const nl = decodeAll(torn, false);
    expect(nl.res.end).toBe('corrupt');
    expect(nl.res.problems[0]!.code).toMatch(/WAL_CRC_MISMATCH|WAL_RECORD_DECODE/);
  });

  test('a body damaged without an all-zero sector chunk is corruption even at the tail', () => {
    const a = segment(1, 40);
    const entries = decodeAll(a.bytes).recs.filter((r) => r.type === WalRecordType.Entry);
    // an entry whose body holds no 512-byte boundary after byte 100: zeroing from there leaves no zero chunk
    const victim = entries.find((r) => {
      const from = r.offset + 8 + 100;
      const end = r.offset + 8 + r.recBytes + r.padBytes;
      return Math.ceil(from / 512) * 512 >= end;
    })!;
    const buf = Buffer.from(a.bytes);
    buf.fill(0, victim.offset + 8 + 100, victim.offset + 8 + victim.recBytes);
    const r = decodeAll(buf);
    expect(r.res.problems[0]).toMatchObject({ code: 'WAL_CRC_MISMATCH', offset: victim.offset });
  });

  test('a flipped bit with no zero sector in the last segment is corruption, not a torn write', () => {
    const a = segment(1, 40);
    const recs = decodeAll(a.bytes).recs;
    const victim = recs.filter((r) => r.type === WalRecordType.Entry).at(-1)!;
    const buf = Buffer.from(a.bytes);
    buf[victim.offset + 8 + victim.recBytes - 10]! ^= 0x20;
    const r = decodeAll(buf);
    expect(r.res.problems.map((p) => [p.code, p.offset])).toEqual([['WAL_CRC_MISMATCH', victim.offset]]);
    expect(r.res.end).toBe('corrupt');
  });

  test('strict mode stops at the first fatal problem; continue mode resyncs and keeps decoding', () => {
    const a = segment(1, 40);
    const recs = decodeAll(a.bytes).recs;
    const victim = recs[10]!;
    const buf = Buffer.from(a.bytes);
    // destroy the length field: etcd would see an absurd record size
    buf.writeUInt32LE(0xffffffff, victim.offset);
    buf.writeUInt32LE(0x00ffffff, victim.offset + 4);
    const strict = decodeAll(buf, false, false);
    expect(strict.recs).toHaveLength(10);
    expect(strict.res.problems.map((p) => p.code)).toEqual(['WAL_RECORD_TOO_LARGE']);
    const cont = decodeAll(buf, false, true);
    expect(cont.recs.length).toBe(recs.length - 1);
    expect(cont.recs[10]!.offset).toBe(recs[11]!.offset);
    expect(cont.recs[10]!.resynced).toBe(true);
    expect(cont.res.recovered).toBe(recs.length - 11);
    // after the resync the chain is checked again from the resynced record on
    expect(cont.res.problems.map((p) => p.code)).toEqual(['WAL_RECORD_TOO_LARGE']);
  });

  test('non-canonical length fields and non-zero padding are reported', () => {
    const a = segment(1, 5);
    const recs = decodeAll(a.bytes).recs;
    const withPad = recs.find((r) => r.ordinal > 1 && r.padBytes > 0)!;
    const buf = Buffer.from(a.bytes);
    buf[withPad.offset + 8 + withPad.recBytes] = 0x55;
    expect(decodeAll(buf).res.problems).toEqual([
      expect.objectContaining({ code: 'WAL_PADDING_NONZERO', offset: withPad.offset + 8 + withPad.recBytes }),
    ]);
  });

  test('pre-3.0 framing (plain length, no padding) decodes like etcd 3.0+ reads it: no problem', () => {
    const recs: RecordToEncode[] = [{ type: WalRecordType.Crc }, { type: WalRecordType.Metadata, data: md }];
    for (let i = 1; i <= 6; i++) recs.push({ type: WalRecordType.Entry, data: entry(i) });
    const legacy = encodeWalRecords(recs, 0, { legacy: true });
    const modern = encodeWalRecords(recs, 0);
    expect(legacy.bytes.length).toBeLessThan(modern.bytes.length);
    expect(legacy.endCrc).toBe(modern.endCrc);
    const r = decodeAll(Buffer.concat([legacy.bytes, Buffer.alloc(512)]));
    expect(r.res.problems).toEqual([]);
    expect(r.res.end).toBe('zero-tail');
    expect(
      r.recs.filter((x) => x.type === WalRecordType.Entry).map((x) => decodeEntry(x.data!).index),
    ).toEqual([1n, 2n, 3n, 4n, 5n, 6n]);
    expect(r.recs.every((x) => x.padBytes === 0 && x.crcValid && x.intact)).toBe(true);
    // the same records reframed from the modern bytes are byte-identical to the legacy encoding
    const frames = decodeAll(modern.bytes).recs;
    expect(reframeLegacy(modern.bytes, frames).subarray(0, legacy.bytes.length)).toEqual(legacy.bytes);
  });

  test('a length field etcd would not write but still reads the same way: WAL_LENGTH_INVALID, records intact', () => {
    const a = segment(1, 5);
    const recs = decodeAll(a.bytes).recs;
    const noPad = recs.find((r) => r.ordinal > 1 && r.padBytes === 0 && r.recBytes % 8 === 0);
    const buf = Buffer.from(a.bytes);
    let victim = noPad;
    if (!victim) {
      // every record needs padding: mark one with an extra, ignored bit (0x80 | 0x40 | pad)
      victim = recs.find((r) => r.ordinal > 1 && r.padBytes > 0)!;
      buf[victim.offset + 7] = 0xc0 | victim.padBytes;
    } else buf[victim.offset + 7] = 0x88;
    const r = decodeAll(buf);
    expect(r.res.problems.map((p) => [p.code, p.offset])).toEqual([['WAL_LENGTH_INVALID', victim.offset]]);
    expect(r.res.end).toBe('zero-tail');
    expect(r.recs).toHaveLength(recs.length);
    expect(r.res.recovered).toBe(0);
  });

  test('"recovered after it" counts the records after the bad one, not the bad one itself', () => {
    const a = segment(1, 20);
    const recs = decodeAll(a.bytes).recs;
    const victim = recs[8]!;
    const buf = Buffer.from(a.bytes);
    buf[victim.offset + 8 + victim.recBytes - 10]! ^= 0x20; // no zero sector: a CRC mismatch, not a tear
    const r = decodeAll(buf);
    expect(r.res.problems.map((p) => p.code)).toEqual(['WAL_CRC_MISMATCH']);
    expect(r.res.recovered).toBe(recs.length - 9);
    expect(r.recs[8]!.intact).toBe(false);
    expect(r.recs[7]!.intact).toBe(true);
  });

  test('a zero length field in a middle segment followed by records', () => {
    const a = segment(1, 10);
    const recs = decodeAll(a.bytes).recs;
    const buf = Buffer.from(a.bytes);
    buf.fill(0, recs[5]!.offset, recs[5]!.offset + 8);
    const r = decodeAll(buf, false);
    expect(r.res.problems[0]).toMatchObject({ code: 'WAL_SEGMENT_ENDS_EARLY', offset: recs[5]!.offset });
    const last = decodeAll(buf, true);
    expect(last.res.problems[0]).toMatchObject({ code: 'WAL_RECORDS_AFTER_END', offset: recs[5]!.offset });
  });
});

describe('InternalRaftRequest vs v2 Request', () => {
  test('v2 requests etcd 3.4 writes are not mistaken for an IRR', () => {
    for (const method of ['PUT', 'QGET', 'DELETE', 'SYNC', 'POST']) {
      const v2 = encodeMessage(T.v2Request, {
        id: 42,
        method,
        path: '/0/members/8e9e05c52164694d/attributes',
        val: '{"name":"m0"}',
        time: 0,
      });
      const p = decodeEntryPayload({ type: 0, data: v2 });
      expect(p).toMatchObject({ kind: 'v2', request: { method } });
    }
  });

  test('IRR kinds decode with bigint IDs', () => {
    const irr = encodeMessage(T.irr, {
      header: { id: '18446744073709551615' },
      leaseGrant: { ttl: 60, id: '7309401285391474171' },
    });
    const p = decodeEntryPayload({ type: 0, data: irr });
    expect(p).toMatchObject({ kind: 'irr', op: 'leaseGrant', header: { id: 18446744073709551615n } });
    expect(entryEffects(p).leaseGrants).toEqual([{ id: 7309401285391474171n, ttl: 60n }]);
    expect(decodeEntryPayload({ type: 0, data: Buffer.from([0xff, 0xff, 0xff]) }).kind).toBe('undecodable');
    expect(decodeEntryPayload({ type: 0, data: undefined }).kind).toBe('noop');
  });
});

describe('real etcd 3.4 WAL', () => {
  let corpus: WalCorpus;
  beforeAll(async () => {
    corpus = await getWalCorpus();
  }, 300_000);

  test('decoded entries agree with what was written, in order', async () => {
    const puts: { kind: string; key: string; sha?: string; lease?: bigint }[] = [];
    const txns: ReturnType<typeof entryEffects>[] = [];
    const other: string[] = [];
    let compaction: bigint | undefined;
    const leaseGrants: bigint[] = [];
    const leaseRevokes: bigint[] = [];
    const v2Paths: string[] = [];
    await auditWalDir(path.join(corpus.main, 'member', 'wal'), {
      onEntry: ({ entry, crcValid }) => {
        expect(crcValid).toBe(true);
        const p = decodeEntryPayload(entry);
        expect(p.kind).not.toBe('undecodable');
        if (p.kind === 'v2') v2Paths.push(String(p.request.path));
        const fx = entryEffects(p);
        if (p.kind === 'irr' && p.op === 'txn') return void txns.push(fx);
        for (const x of fx.puts)
          puts.push({ kind: 'put', key: x.key.toString(), sha: sha256(x.value), lease: x.lease });
        for (const x of fx.deletes) puts.push({ kind: 'delete', key: x.key.toString() });
        if (fx.compactRevision !== undefined) compaction = fx.compactRevision;
        leaseGrants.push(...fx.leaseGrants.map((g) => g.id));
        leaseRevokes.push(...fx.leaseRevokes);
        if (fx.other) other.push(fx.other);
      },
    });
    const expected = corpus.ops.map((o) =>
      o.kind === 'put' ? { kind: 'put', key: o.key, sha: o.valueSha256 } : { kind: 'delete', key: o.key },
    );
    const got = puts.filter((p) => p.key !== corpus.lease.key).map(({ lease: _l, ...rest }) => rest);
    expect(got).toEqual(expected);
    expect(puts.find((p) => p.key === corpus.lease.key)?.lease).toBe(BigInt(corpus.lease.id));
    expect(leaseGrants).toEqual([BigInt(corpus.lease.id)]);
    expect(leaseRevokes).toEqual([BigInt(corpus.lease.id)]);
    expect(compaction).toBe(BigInt(corpus.compactRevision));
    expect(txns).toHaveLength(1);
    expect(txns[0]!.puts.map((p) => [p.key.toString(), p.value.toString(), p.txnBranch])).toEqual([
      [corpus.txn.putKey, 'from-txn', 'success'],
    ]);
    expect(txns[0]!.deletes.map((d) => d.key.toString())).toEqual([corpus.txn.deleteKey]);
    // 3.4 publishes member attributes and the cluster version as v2 requests
    expect(v2Paths.some((p) => /^\/0\/members\/[0-9a-f]+\/attributes$/.test(p))).toBe(true);
    expect(v2Paths).toContain('/0/version');
  });

  test('the first record of a fresh WAL is framed as etcd documents it', async () => {
    const dir = path.join(corpus.fresh, 'member', 'wal');
    const [name] = (await readdir(dir)).filter((n) => n.endsWith('.wal'));
    const buf = await readFile(path.join(dir, name!));
    expect(buf.subarray(0, 16).toString('hex')).toBe('04000000000000840804100000000000');
    const { recs, res } = decodeAll(buf);
    expect(res.end).toBe('zero-tail');
    expect(recs.map((r) => r.type).slice(0, 3)).toEqual([
      WalRecordType.Crc,
      WalRecordType.Metadata,
      WalRecordType.Snapshot,
    ]);
  });
});
