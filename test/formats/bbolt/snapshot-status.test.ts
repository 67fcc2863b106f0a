import { readFile, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDrError } from '../../../src/core/errors.js';
import { bufferSource } from '../../../src/formats/byte-source.js';
import { openFileSource } from '../../../src/formats/file-byte-source.js';
import {
  readMetas,
  snapshotStatus,
  type SnapshotStatus,
} from '../../../src/formats/bbolt/snapshot-status.js';
import { openBbolt } from '../../../src/formats/bbolt/open.js';
import { walkTree } from '../../../src/formats/bbolt/walk.js';
import { copyOf, etcdctlStatus, makeCorpus, type Corpus } from './etcd-corpus.js';

function statusOf(file: string): SnapshotStatus {
  const src = openFileSource(file);
  try {
    return snapshotStatus(src);
  } finally {
    src.close();
  }
}

function expectSame(
  ours: SnapshotStatus,
  theirs: { hash: number; revision: number; totalKey: number; totalSize: number },
) {
  expect({
    hash: ours.hash,
    revision: Number(ours.revision),
    totalKey: ours.totalKey,
    totalSize: ours.totalSize,
  }).toEqual(theirs);
}

function flip(buf: Buffer, at: number): void {
  buf[at] = buf[at]! ^ 0xff;
}

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a throw');
}

describe('snapshotStatus against etcdctl snapshot status', () => {
  let corpus: Corpus;
  beforeAll(async () => {
    corpus = await makeCorpus();
  });
  afterAll(async () => {
    await corpus?.stop();
  });

  it('equals etcdctl on a fresh, a compacted and a defragmented snapshot (with the sha256 trailer)', async () => {
    for (const file of [corpus.fresh, corpus.compacted, corpus.defragmented]) {
      const size = (await readFile(file)).length;
      expect(size % 512).toBe(32); // etcd's trailer is there and must be ignored
      const ours = statusOf(file);
      expectSame(ours, await etcdctlStatus(file));
      expect(ours.pageSize).toBe(4096);
      expect(ours.consistentIndex).toBeGreaterThan(0n);
    }
    expect(Number(statusOf(corpus.defragmented).revision)).toBe(corpus.revision);
  });

  it('gives the same answer without the trailer and from an in-memory buffer', async () => {
    const buf = await readFile(corpus.compacted);
    const plain = path.join(corpus.dir, 'plain.db');
    await writeFile(plain, buf.subarray(0, buf.length - 32));
    expect(statusOf(plain)).toEqual(statusOf(corpus.compacted));
    expect(snapshotStatus(bufferSource(buf))).toEqual(statusOf(corpus.compacted));
  });

  it('walks branch pages, overflow pages and inline buckets in these files', () => {
    const src = openFileSource(corpus.fresh);
    const types = new Set<string>();
    let overflow = 0;
    let inlineBuckets = 0;
    const db = openBbolt(src)!;
    for (const e of walkTree(db, {
      onPage: (v) => {
        types.add(v.type);
        overflow += v.overflow;
      },
    })) {
      if (e.isBucket && e.value.readBigUInt64LE(0) === 0n) inlineBuckets++;
    }
    src.close();
    expect(types).toEqual(new Set(['branch', 'leaf']));
    expect(overflow).toBeGreaterThan(0);
    expect(inlineBuckets).toBeGreaterThan(3);
  });

  it('reads both metas: valid, page 0 current (txid T), page 1 txid T-1', () => {
    const src = openFileSource(corpus.fresh);
    const m = readMetas(src);
    src.close();
    expect(m.current).toBe(0);
    expect(m.pageSize).toBe(4096);
    expect(m.metas[0]!.valid && m.metas[1]!.valid).toBe(true);
    expect(m.metas[0]!.txid - m.metas[1]!.txid).toBe(1n);
    expect(m.metas[0]!.checksum).toBe(m.metas[0]!.computedChecksum);
  });

  it('uses meta 1 when meta 0 has a bad checksum, and agrees with etcdctl on that file', async () => {
    const file = await copyOf(corpus.compacted, 'bad-meta0.db');
    const buf = await readFile(file);
    flip(buf, 72); // meta 0 checksum
    await writeFile(file, buf);
    const src = openFileSource(file);
    const m = readMetas(src);
    src.close();
    expect(m.metas[0]!.valid).toBe(false);
    expect(m.metas[0]!.problems.join()).toMatch(/checksum mismatch/);
    expect(m.current).toBe(1);
    const ours = statusOf(file);
    expectSame(ours, await etcdctlStatus(file));
    expect(ours.txid).toBe(m.metas[1]!.txid);
  });

  it('throws SNAPSHOT_INVALID when both metas are bad', async () => {
    const file = await copyOf(corpus.compacted, 'bad-metas.db');
    const buf = await readFile(file);
    flip(buf, 72);
    flip(buf, 4096 + 72);
    await writeFile(file, buf);
    const err = thrown(() => statusOf(file));
    expect(isDrError(err, 'SNAPSHOT_INVALID')).toBe(true);
    expect(err.message).toMatch(/no valid meta page.*meta 0: checksum mismatch.*meta 1: checksum mismatch/);
  });

  it('throws SNAPSHOT_INVALID naming the page when a tree page is damaged', async () => {
    const file = await copyOf(corpus.fresh, 'bad-branch.db');
    const src = openFileSource(file);
    const db = openBbolt(src)!;
    let branch = -1;
    for (const _ of walkTree(db, {
      onPage: (v) => void (v.type === 'branch' && branch < 0 && (branch = v.id)),
    }));
    src.close();
    expect(branch).toBeGreaterThan(1);
    const buf = await readFile(file);
    buf.writeUInt16LE(0x10, branch * 4096 + 8); // turn the branch into a "freelist" page
    await writeFile(file, buf);
    const err = thrown(() => statusOf(file));
    expect(isDrError(err, 'SNAPSHOT_INVALID')).toBe(true);
    expect(err.message).toContain(`page ${branch}`);
    expect(err.message).toMatch(/freelist page, not a branch or leaf/);
  });

  it('throws SNAPSHOT_INVALID on a truncated file', async () => {
    const file = await copyOf(corpus.fresh, 'truncated.db');
    const { totalSize } = statusOf(file);
    await truncate(file, totalSize - 8192);
    const err = thrown(() => statusOf(file));
    expect(isDrError(err, 'SNAPSHOT_INVALID')).toBe(true);
    expect(err.message).toMatch(/shorter than pgid/);
  });
});
