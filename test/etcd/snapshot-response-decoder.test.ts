import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { etcdServices } from '../../src/etcd/grpc-services.js';
import { SnapshotDecodeError, SnapshotResponseDecoder } from '../../src/etcd/snapshot-response-decoder.js';

// SnapshotResponse bytes as etcd's own proto encodes them (rpc.proto, vendored under proto/)
const encode = (msg: object): Buffer => etcdServices().Maintenance.service.Snapshot!.responseSerialize(msg);

function frame(body: Buffer, flag = 0): Buffer {
  const p = Buffer.alloc(5);
  p[0] = flag;
  p.writeUInt32BE(body.length, 1);
  return Buffer.concat([p, body]);
}

function decode(pieces: Buffer[]) {
  const blobs: Buffer[] = [];
  const remaining: bigint[] = [];
  const d = new SnapshotResponseDecoder({
    blob: (b) => blobs.push(Buffer.from(b)),
    remaining: (r) => remaining.push(r),
  });
  for (const p of pieces) d.write(p);
  return { blob: Buffer.concat(blobs), remaining, messages: d.messageCount, atBoundary: d.atBoundary };
}

/** splits at pseudo-random points, including pieces of 1 byte */
function split(buf: Buffer, seed: number): Buffer[] {
  const out: Buffer[] = [];
  let s = seed;
  for (let i = 0; i < buf.length;) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    const n = s % 5 === 0 ? 1 : 1 + (s % 9000);
    out.push(buf.subarray(i, i + n));
    i += n;
  }
  return out;
}

describe('SnapshotResponseDecoder', () => {
  const blobs = [randomBytes(32 * 1024), randomBytes(32 * 1024), randomBytes(777), Buffer.alloc(0)];
  const total = blobs.reduce((n, b) => n + b.length, 0);
  let left = total;
  const body = Buffer.concat(
    blobs.map((blob) => {
      left -= blob.length;
      return frame(
        encode({
          header: {
            cluster_id: '14841639068965178418',
            member_id: '10276657743932975437',
            revision: '42',
            raft_term: '3',
          },
          remaining_bytes: String(left),
          blob,
        }),
      );
    }),
  );

  it('gives back every blob byte and each remaining_bytes, however the body is cut', () => {
    for (const pieces of [
      [body],
      split(body, 1),
      split(body, 2),
      split(body, 3),
      [...body].map((b) => Buffer.from([b])),
    ]) {
      const r = decode(pieces);
      expect(r.blob.equals(Buffer.concat(blobs))).toBe(true);
      expect(r.messages).toBe(4);
      expect(r.atBoundary).toBe(true);
      // the last message's remaining_bytes is 0, which proto3 leaves out of the wire: still reported
      expect(r.remaining).toEqual([BigInt(total - blobs[0]!.length), BigInt(blobs[2]!.length), 0n, 0n]);
    }
  });

  it('hands blobs on as slices of the input, not copies', () => {
    const seen: Buffer[] = [];
    const d = new SnapshotResponseDecoder({ blob: (b) => seen.push(b), remaining: () => undefined });
    d.write(body);
    expect(seen[0]!.buffer).toBe(body.buffer);
  });

  it('skips fields it does not know, by wire type', () => {
    const known = encode({ remaining_bytes: '5', blob: Buffer.from('hello') });
    // field 9 fixed64, field 10 fixed32, field 11 varint, field 12 bytes: a newer etcd might add any
    const extra = Buffer.concat([
      Buffer.from([(9 << 3) | 1]),
      Buffer.alloc(8, 0xaa),
      Buffer.from([(10 << 3) | 5]),
      Buffer.alloc(4, 0xbb),
      Buffer.from([(11 << 3) | 0, 0xff, 0xff, 0x03]),
      Buffer.from([(12 << 3) | 2, 3, 1, 2, 3]),
    ]);
    const r = decode(split(frame(Buffer.concat([extra, known])), 7));
    expect(r.blob.toString()).toBe('hello');
    expect(r.remaining).toEqual([5n]);
  });

  it('reports a body that stops inside a message', () => {
    const r = decode([body.subarray(0, 1000)]);
    expect(r.atBoundary).toBe(false);
  });

  it('rejects compressed messages, lengths past the message, and a blob that is not bytes', () => {
    const d = () => new SnapshotResponseDecoder({ blob: () => undefined, remaining: () => undefined });
    expect(() => d().write(frame(encode({ blob: Buffer.from('x') }), 1))).toThrow(/compressed/);
    expect(() => d().write(frame(Buffer.from([(3 << 3) | 2, 50, 1, 2])))).toThrow(SnapshotDecodeError);
    expect(() => d().write(frame(Buffer.from([(3 << 3) | 0, 1])))).toThrow(/wire type 0/);
    expect(() => d().write(frame(Buffer.from([(3 << 3) | 3])))).toThrow(/wire type/);
    // a message whose declared length ends inside a field
    expect(() => d().write(frame(Buffer.from([(2 << 3) | 0])))).toThrow(/ends inside a field/);
  });
});
