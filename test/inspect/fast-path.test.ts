/**
 * The WAL fast path (src/formats/raft/wire.ts, decodeEntryAt, the walpb.Record loop and crc32c-small.ts)
 * must agree with protobufjs reflection and @node-rs/crc32, and stay as strict as gogoproto.
 * (It lives here because test/formats/wal belongs to another helper; it tests src/formats code.)
 */
import { randomBytes } from 'node:crypto';
import { crc32c } from '@node-rs/crc32';
import protobuf from 'protobufjs';
import { describe, expect, test } from 'vitest';
import { T, strictDecode, u64 } from '../../src/formats/raft/proto.js';
import { decodeEntry, decodeEntryAt, encodeMessage } from '../../src/formats/raft/raft-messages.js';
import { crc32cRange, crc32cRangeJs } from '../../src/formats/wal/crc32c-small.js';
import { WalRecordType } from '../../src/formats/wal/record-type.js';
import { decodeWalSegment, type WalRecord } from '../../src/formats/wal/segment-decoder.js';
import { encodeWalRecords } from '../../src/formats/wal/segment-encoder.js';

describe('crc32c of small ranges', () => {
  test('JS and @node-rs/crc32 agree on random data, lengths 0..600, any offset and seed', () => {
    const buf = randomBytes(4096);
    for (let len = 0; len <= 600; len += len < 40 ? 1 : 37) {
      const start = (len * 7) % 97;
      const seed = (len * 2654435761) >>> 0;
      const want = crc32c(buf.subarray(start, start + len), seed) >>> 0;
      expect(crc32cRangeJs(buf, start, start + len, seed)).toBe(want);
      expect(crc32cRange(buf, start, start + len, seed)).toBe(want);
    }
  });
});

describe('raftpb.Entry fast decode', () => {
  const reflect = (b: Uint8Array) => {
    const m = strictDecode(T.entry, b) as unknown as Record<string, unknown>;
    return {
      type: (m.type as number) ?? 0,
      term: u64(m.term as never),
      index: u64(m.index as never),
      data: (m.data as Uint8Array | undefined)?.length ? Buffer.from(m.data as Uint8Array) : undefined,
    };
  };

  test('agrees with protobufjs reflection, including indexes above 2^32 and 2^53', () => {
    const values = [
      '0',
      '1',
      '127',
      '128',
      '268435455',
      '268435456',
      '4294967295',
      '4294967296',
      '9007199254740993',
      '18446744073709551615',
    ];
    for (const index of values)
      for (const term of ['0', '5', '4294967297']) {
        for (const data of [undefined, Buffer.from('payload')]) {
          const b = encodeMessage(T.entry, { type: 1, term, index, ...(data ? { data } : {}) });
          const fast = decodeEntry(b);
          expect({ ...fast, data: fast.data && Buffer.from(fast.data) }).toEqual(reflect(b));
          expect(fast.index.toString()).toBe(index);
          expect(fast.term.toString()).toBe(term);
        }
      }
  });

  test('decodes in place inside a larger buffer and never reads past its range', () => {
    const e = encodeMessage(T.entry, { type: 0, term: 2, index: 77, data: Buffer.from('abc') });
    const host = Buffer.concat([Buffer.from([1, 2, 3]), e, Buffer.from([9, 9])]);
    expect(decodeEntryAt(host, 3, e.length)).toMatchObject({ index: 77n, term: 2n, type: 0 });
    expect(decodeEntryAt(host, 3, e.length).data?.toString()).toBe('abc');
    // cut the range inside the data field: an error, not bytes from after the range
    expect(() => decodeEntryAt(host, 3, e.length - 1)).toThrow();
  });

  test('is as strict as gogo: wrong wire type and groups throw, unknown fields are skipped', () => {
    const w = protobuf.Writer.create();
    w.uint32((3 << 3) | 2).bytes(Buffer.from('x')); // index as bytes
    expect(() => decodeEntry(w.finish())).toThrow(/wire type/);
    const g = protobuf.Writer.create();
    g.uint32((9 << 3) | 3).uint32((9 << 3) | 4);
    expect(() => decodeEntry(g.finish())).toThrow(/group/);
    const u = protobuf.Writer.create();
    u.uint32((3 << 3) | 0)
      .uint64(42)
      .uint32((15 << 3) | 2)
      .bytes(Buffer.from('future field'));
    expect(decodeEntry(u.finish()).index).toBe(42n);
  });
});

describe('walpb.Record fast decode in decodeWalSegment', () => {
  const frame = (body: Uint8Array) => {
    const pad = (8 - (body.length % 8)) % 8;
    const len = Buffer.alloc(8);
    len.writeUInt32LE(body.length, 0);
    len.writeUInt32LE(pad ? ((0x80 | pad) << 24) >>> 0 : 0, 4);
    return Buffer.concat([len, body, Buffer.alloc(pad)]);
  };

  test('records, data views and offsets match what was encoded', () => {
    const datas = [Buffer.alloc(10, 1), Buffer.alloc(300, 2), Buffer.alloc(3000, 3)];
    const { bytes, endCrc } = encodeWalRecords([
      { type: WalRecordType.Crc },
      ...datas.map((data) => ({ type: WalRecordType.Entry, data })),
    ]);
    const recs: WalRecord[] = [];
    const res = decodeWalSegment(bytes, { isLast: true }, (r) => recs.push(r));
    expect(res.problems).toEqual([]);
    expect(res.endCrc).toBe(endCrc);
    expect(recs.map((r) => r.data && Buffer.from(r.data))).toEqual([undefined, ...datas]);
    for (const r of recs.slice(1))
      expect(bytes.subarray(r.dataOffset, r.dataOffset + r.dataLength)).toEqual(r.data);
  });

  test('an unknown field is skipped; a data field running past its record is a decode error', () => {
    const data = Buffer.from('hello');
    const running = crc32c(data, 0) >>> 0;
    const w = protobuf.Writer.create();
    w.uint32(8)
      .int64(WalRecordType.Entry)
      .uint32(16)
      .uint32(running)
      .uint32(26)
      .bytes(data)
      .uint32((7 << 3) | 0)
      .uint32(1);
    const ok = decodeWalSegment(frame(w.finish()), { isLast: false, prevCrc: 0 });
    expect(ok.problems).toEqual([]);
    expect(ok.records).toBe(1);

    // a body whose data length claims more bytes than the record holds (the next frame follows)
    const b = Buffer.from(T.walRecord.encode({ type: 2, crc: running, data }).finish());
    b[b.length - data.length - 1] = 40; // length of data: 40 > what is left
    const bad = decodeWalSegment(
      Buffer.concat([
        frame(b),
        frame(Buffer.from(T.walRecord.encode({ type: 2, crc: 1, data: Buffer.alloc(64, 7) }).finish())),
      ]),
      { isLast: false },
    );
    expect(bad.problems[0]!.code).toBe('WAL_RECORD_DECODE');
  });
});
