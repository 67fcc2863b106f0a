/**
 * The plain segment format (src/revlog/segment-format.ts, docs/revision-log.md §2): round trips, byte
 * compatibility of the events with etcd's own mvccpb.Event, and what the decoder says about a segment cut
 * short or damaged (the offset where valid data ends).
 */
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { isDrError } from '../../src/core/errors.js';
import { ETCD_PROTO_FILES, loadEtcdProtos } from '../../src/formats/raft/etcd-protos.js';
import {
  encodeRecord,
  encodeSegment,
  SEGMENT_HEADER,
  SegmentDecoder,
  type RevisionRecord,
} from '../../src/revlog/segment-format.js';

const records: RevisionRecord[] = [
  {
    revision: 7n,
    receivedAt: Date.parse('2026-12-03T10:00:00.123Z'),
    events: [
      {
        type: 'PUT',
        key: Buffer.from('/a'),
        value: Buffer.from('one'),
        createRevision: 7n,
        modRevision: 7n,
        version: 1n,
        lease: 0n,
      },
      {
        type: 'PUT',
        key: Buffer.from([0, 0xff, 1]),
        value: Buffer.alloc(70_000, 7),
        createRevision: 3n,
        modRevision: 7n,
        version: 4n,
        lease: 0x694d9a5f3c1b2e01n,
      },
    ],
  },
  {
    revision: 8n,
    receivedAt: Date.parse('2026-12-03T10:00:01Z'),
    events: [
      {
        type: 'DELETE',
        key: Buffer.from('/a'),
        value: Buffer.alloc(0),
        createRevision: 0n,
        modRevision: 8n,
        version: 0n,
        lease: 0n,
      },
    ],
  },
  // a revision above 2^53, to prove 64-bit values survive
  {
    revision: 2n ** 60n + 5n,
    receivedAt: 1,
    events: [
      {
        type: 'PUT',
        key: Buffer.from('k'),
        value: Buffer.alloc(0),
        createRevision: 2n ** 60n + 5n,
        modRevision: 2n ** 60n + 5n,
        version: 1n,
        lease: 0n,
      },
    ],
  },
];

function decodeAll(bytes: Buffer, pieceSize: number): RevisionRecord[] {
  const d = new SegmentDecoder('test segment');
  const out: RevisionRecord[] = [];
  for (let i = 0; i < bytes.length; i += pieceSize) out.push(...d.push(bytes.subarray(i, i + pieceSize)));
  d.end();
  return out;
}

function failure(fn: () => unknown): { message: string; offset: unknown } {
  try {
    fn();
  } catch (err) {
    if (!isDrError(err, 'VERIFY_FAILED')) throw err;
    return { message: err.message, offset: err.details.offset };
  }
  throw new Error('no failure');
}

describe('revision log segment format', () => {
  it('round-trips records whatever the piece size', () => {
    const bytes = encodeSegment(records);
    expect(bytes.subarray(0, 9).toString('latin1')).toBe('DRREVLOG\x01');
    for (const size of [1, 3, 4096, bytes.length]) expect(decodeAll(bytes, size)).toEqual(records);
  });

  it("stores each event as etcd's own mvccpb.Event", () => {
    const body = encodeRecord(records[0]!).subarray(4);
    const root = loadEtcdProtos([ETCD_PROTO_FILES.kv]);
    const Event = root.lookupType('mvccpb.Event');
    // walk the record's fields with protobufjs's reader: field 3 (length-delimited) is one Event each
    const r = protobuf.Reader.create(body);
    const events: Record<string, unknown>[] = [];
    while (r.pos < r.len) {
      const tag = r.uint32();
      if (tag >>> 3 === 3)
        events.push(Event.toObject(Event.decode(r.bytes()), { longs: String, bytes: Buffer }));
      else r.skipType(tag & 7);
    }
    expect(events).toHaveLength(2);
    expect(events[0]).toMatchObject({
      kv: { key: Buffer.from('/a'), value: Buffer.from('one'), mod_revision: '7' },
    });
    expect(events[1]).toMatchObject({
      kv: { key: Buffer.from([0, 0xff, 1]), create_revision: '3', mod_revision: '7', version: '4' },
    });
    expect(BigInt((events[1]!.kv as { lease: string }).lease)).toBe(0x694d9a5f3c1b2e01n);
  });

  it('refuses a segment cut anywhere, naming where valid data ends', () => {
    const bytes = encodeSegment(records);
    // cut inside the header, inside the first record, at a record boundary, and before the end marker
    const firstRecordEnd = SEGMENT_HEADER.length + encodeRecord(records[0]!).length;
    for (const [cut, why, offset] of [
      [5, /ends inside its header/, 0],
      [SEGMENT_HEADER.length + 10, /ends inside a record/, SEGMENT_HEADER.length],
      [firstRecordEnd, /ends without its end marker/, firstRecordEnd],
      [bytes.length - 4, /ends without its end marker/, bytes.length - 4],
    ] as const) {
      const f = failure(() => decodeAll(bytes.subarray(0, cut), 1000));
      expect(f.message).toMatch(why);
      expect(f.offset).toBe(offset);
    }
  });

  it('refuses bytes after the end marker, a foreign file, another format version and a damaged record', () => {
    const bytes = encodeSegment(records);
    expect(failure(() => decodeAll(Buffer.concat([bytes, Buffer.from([1])]), 64)).message).toMatch(
      /bytes after the end marker/,
    );
    expect(failure(() => decodeAll(Buffer.from('SQLite format 3\0'), 64)).message).toMatch(
      /not a revision log segment/,
    );
    const v2 = Buffer.from(bytes);
    v2[8] = 2;
    expect(failure(() => decodeAll(v2, 64)).message).toMatch(/format version 2 is not supported/);
    const damaged = Buffer.from(bytes);
    // the first record's first byte after its length: the tag of field 1 becomes an invalid wire type 7
    damaged[SEGMENT_HEADER.length + 4] = 0x0f;
    const f = failure(() => decodeAll(damaged, 64));
    expect(f.message).toMatch(/does not decode/);
    expect(f.offset).toBe(SEGMENT_HEADER.length);
    const huge = Buffer.from(bytes);
    huge.writeUInt32BE(0xffffffff, SEGMENT_HEADER.length);
    const h = failure(() => decodeAll(huge, 64));
    expect(h.message).toMatch(/a record length of 4294967295 bytes/);
    expect(h.offset).toBe(SEGMENT_HEADER.length);
  });

  it('refuses to put an event of another revision into a record', () => {
    expect(() => encodeRecord({ ...records[0]!, revision: 9n })).toThrow(
      /revision 7 given in the record of revision 9/,
    );
  });
});
