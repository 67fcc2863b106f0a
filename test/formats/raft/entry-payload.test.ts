/**
 * Normal entries whose InternalRaftRequest carries only a field this schema does not know (a request type
 * of a newer etcd: synthetic bytes, as no 3.6 / 3.7 member runs here) are labelled unknown, never decoded as
 * v2 Requests; real v2 Requests and known requests are unchanged.
 */
import protobuf from 'protobufjs';
import { describe, expect, test } from 'vitest';
import { decodeEntryPayload, entryEffects } from '../../../src/formats/raft/entry-payload.js';
import { T } from '../../../src/formats/raft/proto.js';
import { EntryType } from '../../../src/formats/raft/raft-messages.js';

const normal = (data: Uint8Array) => decodeEntryPayload({ type: EntryType.Normal, data: Buffer.from(data) });

/** an IRR with RequestHeader {id} (field 100) when id is given, then `field` as a length-delimited message */
function irrWith(field: number, body: Uint8Array, id?: number): Uint8Array {
  const w = protobuf.Writer.create();
  if (id !== undefined)
    w.uint32((100 << 3) | 2)
      .fork()
      .uint32((1 << 3) | 0)
      .uint64(id)
      .ldelim();
  w.uint32((field << 3) | 2).bytes(body);
  return w.finish();
}

describe('InternalRaftRequest of an unknown type (synthetic, as a newer etcd would write)', () => {
  const body = protobuf.Writer.create()
    .uint32((1 << 3) | 2)
    .string('3.7.0')
    .finish();

  test('only an unknown field: labelled unknown, with its field number, not a v2 Request', () => {
    // the same bytes decode as a v2 Request when its decoder skips the unknown field
    expect(T.v2Request.decode(irrWith(1400, body))).toBeTruthy();
    const p = normal(irrWith(1400, body));
    expect(p).toEqual({ kind: 'irr', op: 'unknown', request: { fields: [1400] } });
    expect(entryEffects(p).other).toBe('unknown');
  });

  test('a request header and an unknown field: unknown, the header kept', () => {
    const p = normal(irrWith(9900, body, 42));
    expect(p.kind).toBe('irr');
    if (p.kind !== 'irr') return;
    expect(p.op).toBe('unknown');
    expect(p.request).toEqual({ fields: [9900] });
    expect(p.header?.id).toBe(42n);
  });

  test('a known request is decoded as before (put, with a header)', () => {
    const put = protobuf.Writer.create()
      .uint32((1 << 3) | 2)
      .bytes(Buffer.from('k'))
      .finish();
    const p = normal(irrWith(4, put, 7));
    expect(p).toMatchObject({ kind: 'irr', op: 'put' });
    expect(entryEffects(p).puts.map((x) => x.key.toString())).toEqual(['k']);
  });

  test('a real v2 Request (3.4 publishes member attributes so) is still a v2 Request', () => {
    const bytes = T.v2Request
      .encode(
        T.v2Request.fromObject({
          id: 5,
          method: 'PUT',
          path: '/0/members/8e9e05c52164694d/attributes',
          val: '{}',
        }),
      )
      .finish();
    const p = normal(bytes);
    expect(p.kind).toBe('v2');
    expect(entryEffects(p).other).toBe('PUT /0/members/8e9e05c52164694d/attributes');
  });
});
