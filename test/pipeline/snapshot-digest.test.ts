import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDrError } from '../../src/core/errors.js';
import { SnapshotDigest } from '../../src/pipeline/snapshot-digest.js';
import { makeSnapshotFile } from '../helpers/snapshot-file.js';
import { tempDir } from '../helpers/tmp.js';

function chunks(buf: Buffer, seed: number): Buffer[] {
  // irregular chunk sizes, including ones smaller than the 32-byte trailer
  const out: Buffer[] = [];
  let i = 0;
  let s = seed;
  while (i < buf.length) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    const n = 1 + (s % 40000) * (s % 3 === 0 ? 0 : 1) + (s % 7);
    out.push(buf.subarray(i, i + n));
    i += n;
  }
  return out;
}

async function run(parts: Buffer[]): Promise<SnapshotDigest> {
  const d = new SnapshotDigest('test');
  await pipeline(Readable.from(parts), d, new Writable({ write: (_c, _e, cb) => cb() }));
  return d;
}

describe('SnapshotDigest on a real etcdctl snapshot file', () => {
  let file: Buffer;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    const t = await tempDir();
    cleanup = t.cleanup;
    file = await readFile(await makeSnapshotFile(t.dir, { keys: 30 }));
  });
  afterAll(() => cleanup());

  it.each([1, 2, 3])(
    'accepts the file in irregular chunks (seed %i) and reports both digests',
    async (seed) => {
      const d = await run(chunks(file, seed));
      expect(d.result.sha256).toBe(createHash('sha256').update(file).digest('hex'));
      expect(d.result.etcdSha256).toBe(file.subarray(file.length - 32).toString('hex'));
      expect(d.result.dbSize).toBe(file.length - 32);
    },
  );

  it('fails with SNAPSHOT_DIGEST_MISMATCH when one db byte is flipped', async () => {
    const bad = Buffer.from(file);
    bad[5000] = bad[5000]! ^ 0x40;
    await expect(run(chunks(bad, 4))).rejects.toSatisfy((e) => isDrError(e, 'SNAPSHOT_DIGEST_MISMATCH'));
  });

  it('fails when the stream stops before the trailer is complete', async () => {
    await expect(run([file.subarray(0, 20)])).rejects.toSatisfy((e) =>
      isDrError(e, 'SNAPSHOT_STREAM_FAILED'),
    );
  });

  it('fails when the trailer is missing (db cut at a page boundary)', async () => {
    await expect(run([file.subarray(0, file.length - 32)])).rejects.toSatisfy((e) => isDrError(e));
  });
});
