/**
 * Synthetic snap files (no etcd 3.6+ binary is packaged where we can fetch it): a 3.6+ member's membership
 * lives in the db's members bucket (meta/storageVersion), not in the v2 store inside a .snap; 3.8 plans to
 * stop writing the v2 store at all. A snap without v2 data, or with v2 members that differ from raft's,
 * is therefore normal there, while for 3.4/3.5 data the same bytes still mean what they meant.
 */
import { crc32c } from '@node-rs/crc32';
import { describe, expect, it } from 'vitest';
import { auditSnap, type SnapSource } from '../../src/audit/snap/audit-snap.js';
import { T } from '../../src/formats/raft/proto.js';

function snapFile(v2: object | null, voters: number[]): Buffer {
  const raft = T.raftSnapshot
    .encode({
      data: v2 ? Buffer.from(JSON.stringify(v2)) : Buffer.alloc(0),
      metadata: { confState: { voters }, index: 10, term: 2 },
    })
    .finish();
  return Buffer.from(T.snapSnapshot.encode({ crc: crc32c(Buffer.from(raft)) >>> 0, data: raft }).finish());
}

const source = (files: Record<string, Buffer>): SnapSource => ({
  names: Object.keys(files),
  read: (n) => Promise.resolve(files[n]!),
});

// the v2 store as etcd writes it: /0/members/<hex id>/attributes and raftAttributes
const v2Store = (ids: number[]) => ({
  Root: {
    Path: '/',
    Dir: true,
    Children: {
      '0': {
        Path: '/0',
        Dir: true,
        Children: {
          members: {
            Path: '/0/members',
            Dir: true,
            Children: Object.fromEntries(
              ids.map((id) => [
                id.toString(16),
                {
                  Path: `/0/members/${id.toString(16)}`,
                  Dir: true,
                  Children: {
                    attributes: { Path: `/0/members/${id.toString(16)}/attributes`, Value: '{"name":"m"}' },
                    raftAttributes: {
                      Path: `/0/members/${id.toString(16)}/raftAttributes`,
                      Value: '{"peerURLs":["http://127.0.0.1:2380"]}',
                    },
                  },
                },
              ]),
            ),
          },
        },
      },
    },
  },
});

const NAME = '0000000000000002-000000000000000a.snap';

describe('snap files of a 3.6+ member (synthetic: no 3.6 binary here)', () => {
  it('a snap without v2 store data: an error for 3.4/3.5 data, info when membership is in the v3 store', async () => {
    const files = { [NAME]: snapFile(null, [1]) };
    const old = await auditSnap(source(files), {});
    expect(old.findings.map((f) => [f.code, f.severity])).toEqual([['SNAP_V2_JSON_INVALID', 'error']]);
    const v3 = await auditSnap(source(files), { membershipSource: 'members-bucket' });
    expect(v3.findings.map((f) => [f.code, f.severity])).toEqual([['SNAP_V2_JSON_INVALID', 'info']]);
    expect(v3.facts.files[0]!.valid).toBe(true);
  });

  it('stale v2 members are not compared with raft when etcd reads membership from the members bucket', async () => {
    const files = { [NAME]: snapFile(v2Store([7]), [1]) };
    const old = await auditSnap(source(files), {});
    expect(old.findings.map((f) => f.code)).toContain('SNAP_MEMBERS_MISMATCH');
    const v3 = await auditSnap(source(files), { membershipSource: 'members-bucket' });
    expect(v3.findings).toEqual([]);
  });
});
