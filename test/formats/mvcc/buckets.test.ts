/**
 * The meta bucket's schema keys: `storageVersion` (written by etcd 3.6+) recognised, and where each schema
 * takes membership from. The 3.6 / 3.7 meta buckets are synthetic (no such member runs here); real 3.4 and
 * 3.5 data is checked in test/cli/backup-hashkv.test.ts.
 */
import { describe, expect, test } from 'vitest';
import { decodeMeta, membershipSource } from '../../../src/formats/mvcc/buckets.js';
import { revisionKey } from '../../../src/formats/mvcc/revision.js';

const u64 = (n: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(n);
  return b;
};
const entry = (k: string, v: Buffer | string): [Buffer, Buffer] => [Buffer.from(k), Buffer.from(v)];

describe('decodeMeta', () => {
  test('3.4: consistent_index only', () => {
    const m = decodeMeta([entry('consistent_index', u64(12n))]);
    expect(m).toMatchObject({ schema: '3.4', consistentIndex: 12n, storageVersion: null, other: [] });
    expect(membershipSource(m.schema)).toBe('v2-store');
  });

  test('3.5: term and confState', () => {
    const m = decodeMeta([
      entry('confState', '{"voters":[1,2,3],"auto_leave":false}'),
      entry('consistent_index', u64(40n)),
      entry('term', u64(3n)),
    ]);
    expect(m).toMatchObject({ schema: '3.5', term: 3n, storageVersion: null, other: [] });
    expect(membershipSource(m.schema)).toBe('v2-store');
  });

  test('synthetic 3.6 meta bucket: storageVersion recognised, not an unknown key; membership from the members bucket', () => {
    const m = decodeMeta([
      entry('confState', '{"voters":[1]}'),
      entry('consistent_index', u64(9n)),
      entry('finishedCompactRev', revisionKey(5n, 0n)),
      entry('scheduledCompactRev', revisionKey(5n, 0n)),
      entry('storageVersion', '3.6.0'),
      entry('term', u64(2n)),
    ]);
    expect(m.schema).toBe('3.6+');
    expect(m.storageVersion).toBe('3.6.0');
    expect(m.other).toEqual([]);
    expect(m.problems).toEqual([]);
    expect(m.finishedCompactRev).toBe(5n);
    expect(membershipSource(m.schema)).toBe('members-bucket');
  });

  test('synthetic 3.7 meta bucket: same', () => {
    const m = decodeMeta([entry('storageVersion', '3.7.0'), entry('term', u64(1n))]);
    expect(m.schema).toBe('3.6+');
    expect(m.storageVersion).toBe('3.7.0');
    expect(membershipSource(m.schema)).toBe('members-bucket');
  });

  test('a key no release writes is listed as other', () => {
    expect(decodeMeta([entry('someFutureKey', 'x')]).other).toEqual(['someFutureKey']);
  });
});
