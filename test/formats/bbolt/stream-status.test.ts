/**
 * The streaming status (computed while a snapshot flows by) must equal `etcdctl snapshot status` and the
 * file-walking snapshotStatus on real etcd snapshots, whatever the chunking, and refuse damaged input.
 */
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDrError } from '../../../src/core/errors.js';
import { bufferSource } from '../../../src/formats/byte-source.js';
import { snapshotStatus } from '../../../src/formats/bbolt/snapshot-status.js';
import { StreamingSnapshotStatus } from '../../../src/formats/bbolt/stream-status.js';
import { etcdctlStatus, makeCorpus, type Corpus } from './etcd-corpus.js';

function feed(bytes: Buffer, seed: number): ReturnType<StreamingSnapshotStatus['finish']> {
  const s = new StreamingSnapshotStatus();
  let i = 0;
  let x = seed;
  while (i < bytes.length) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    // 32 KiB like etcd's chunks, but also tiny and odd sizes that split page headers
    const n = seed === 0 ? 32 * 1024 : 1 + (x % (x % 5 === 0 ? 13 : 70_000));
    s.update(bytes.subarray(i, i + n));
    i += n;
  }
  return s.finish();
}

describe('StreamingSnapshotStatus on real etcd 3.4 snapshots', () => {
  let corpus: Corpus;
  beforeAll(async () => {
    corpus = await makeCorpus();
  });
  afterAll(async () => corpus?.stop());

  it.each(['fresh', 'compacted', 'defragmented'] as const)(
    '%s: equals etcdctl snapshot status and snapshotStatus',
    async (which) => {
      const file = corpus[which];
      const bytes = await readFile(file);
      const expected = await etcdctlStatus(file);
      const walked = snapshotStatus(bufferSource(bytes));
      for (const seed of [0, 1, 2, 3]) {
        const st = feed(bytes, seed);
        expect({
          hash: st.hash,
          revision: Number(st.revision),
          totalKey: st.totalKey,
          totalSize: st.totalSize,
        }).toEqual(expected);
        expect(st.consistentIndex).toBe(walked.consistentIndex);
        expect(st.txid).toBe(walked.txid);
      }
    },
  );

  it('refuses a stream cut before the last page', async () => {
    const bytes = await readFile(corpus.fresh);
    expect(() => feed(bytes.subarray(0, bytes.length - 32 - 4096), 1)).toThrow(/ended at/);
  });

  it('refuses a reachable page whose header names another page', async () => {
    const bytes = Buffer.from(await readFile(corpus.fresh));
    const pageSize = bytes.readUInt32LE(24);
    const root = Number(bytes.readBigUInt64LE(32)); // root bucket page from meta 0
    bytes.writeUInt32LE(root + 1000, root * pageSize);
    let err: unknown;
    try {
      feed(bytes, 2);
    } catch (e) {
      err = e;
    }
    expect(isDrError(err, 'SNAPSHOT_INVALID')).toBe(true);
    expect((err as Error).message).toMatch(new RegExp(`page ${root}`));
  });

  it('refuses a stream whose first meta page is damaged', async () => {
    const bytes = Buffer.from(await readFile(corpus.fresh));
    bytes[20] = bytes[20]! ^ 0xff; // the version field of meta 0
    expect(() => feed(bytes, 3)).toThrow(/meta page 0/);
  });
});
