import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { crc32c } from '@node-rs/crc32';
import { beforeAll, describe, expect, test } from 'vitest';
import { T } from '../../../src/formats/raft/proto.js';
import { encodeMessage } from '../../../src/formats/raft/raft-messages.js';
import { decodeSnapFile } from '../../../src/formats/snap/snap-file.js';
import { formatSnapName, parseSnapDbName, parseSnapName } from '../../../src/formats/snap/snap-name.js';
import { parseV2Store } from '../../../src/formats/snap/v2-store.js';
import { getWalCorpus, type WalCorpus } from '../../helpers/wal-corpus.js';

describe('snap names', () => {
  test('parse and format', () => {
    expect(parseSnapName('0000000000000002-000000000000007e.snap')).toMatchObject({ term: 2n, index: 126n });
    expect(parseSnapName('2-7e.snap')).toBeUndefined();
    expect(formatSnapName(2n, 126n)).toBe('0000000000000002-000000000000007e.snap');
    expect(parseSnapDbName('000000000000007e.snap.db')).toMatchObject({ index: 126n });
  });
});

describe('snap files', () => {
  test('synthetic: crc 0 is empty, a flipped byte is a crc mismatch, IDs above 2^53 stay exact', () => {
    const id = 0xe75d689050f6e752n;
    const store = JSON.stringify({
      Root: {
        Path: '/',
        Children: {
          0: {
            Children: {
              members: {
                Children: {
                  [id.toString(16)]: {
                    Children: { raftAttributes: { Value: '{"peerURLs":["http://10.0.0.1:2380"]}' } },
                  },
                },
              },
            },
          },
        },
      },
      CurrentIndex: 1,
    });
    const raft = encodeMessage(T.raftSnapshot, {
      data: Buffer.from(store),
      metadata: { confState: { voters: [id.toString()] }, index: 9, term: 3 },
    });
    const file = encodeMessage(T.snapSnapshot, { crc: crc32c(raft), data: raft });
    const ok = decodeSnapFile(file);
    expect(ok.problems).toEqual([]);
    expect(ok.snapshot!.metadata).toMatchObject({ index: 9n, term: 3n });
    expect(ok.snapshot!.metadata.confState.voters).toEqual([id]);
    expect(parseV2Store(ok.snapshot!.data!).members[0]).toMatchObject({
      id,
      peerURLs: ['http://10.0.0.1:2380'],
    });
    const bad = Buffer.from(file);
    bad[bad.length - 5]! ^= 1;
    expect(decodeSnapFile(bad).problems.map((p) => p.code)).toEqual(['SNAP_CRC_MISMATCH']);
    expect(
      decodeSnapFile(encodeMessage(T.snapSnapshot, { crc: 0, data: raft })).problems.map((p) => p.code),
    ).toEqual(['SNAP_EMPTY']);
    expect(decodeSnapFile(Buffer.alloc(0)).problems.map((p) => p.code)).toEqual(['SNAP_EMPTY']);
    expect(decodeSnapFile(Buffer.from([0x0f, 0x0f])).problems.map((p) => p.code)).toEqual(['SNAP_DECODE']);
  });

  describe('real etcd 3.4 snap files', () => {
    let corpus: WalCorpus;
    beforeAll(async () => {
      corpus = await getWalCorpus();
    }, 300_000);

    test('every snap file of main decodes, its name matches its metadata, the member is listed', async () => {
      const dir = path.join(corpus.main, 'member', 'snap');
      const names = (await readdir(dir)).filter((n) => n.endsWith('.snap'));
      expect(names.length).toBeGreaterThanOrEqual(3);
      for (const n of names) {
        const r = decodeSnapFile(await readFile(path.join(dir, n)));
        expect(r.problems).toEqual([]);
        const parsed = parseSnapName(n)!;
        expect(r.snapshot!.metadata).toMatchObject({ index: parsed.index, term: parsed.term });
        const v2 = parseV2Store(r.snapshot!.data!);
        expect(v2.members.map((m) => m.id)).toEqual([BigInt(`0x${corpus.mainMemberId}`)]);
        expect(v2.members[0]!.name).toBe('m0');
        expect(v2.clusterVersion).toMatch(/^3\.[45]\.0$/);
        expect(r.snapshot!.metadata.confState.voters).toEqual([BigInt(`0x${corpus.mainMemberId}`)]);
      }
    });
  });
});
