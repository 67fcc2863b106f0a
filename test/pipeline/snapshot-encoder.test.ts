import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decompress } from 'zstd-napi';
import { isDrError } from '../../src/core/errors.js';
import { bufferSource } from '../../src/formats/byte-source.js';
import { snapshotStatus } from '../../src/formats/bbolt/snapshot-status.js';
import { SnapshotEncoder } from '../../src/pipeline/snapshot-encoder.js';
import { defaultZstdParameters, ZstdEncoder } from '../../src/pipeline/zstd-encoder.js';
import { makeSnapshotFile } from '../helpers/snapshot-file.js';
import { tempDir } from '../helpers/tmp.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** irregular pieces, as HTTP/2 frames cut a snapshot: 1 byte to 20 KiB */
function pieces(buf: Buffer, seed: number): Buffer[] {
  const out: Buffer[] = [];
  let s = seed;
  for (let i = 0; i < buf.length;) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    const n = s % 11 === 0 ? 1 + (s % 31) : 1 + (s % 20000);
    out.push(buf.subarray(i, i + n));
    i += n;
  }
  return out;
}

async function encode(file: Buffer, level: number | null, seed = 1) {
  const enc = new SnapshotEncoder('test', level === null ? null : defaultZstdParameters(level));
  const out: Buffer[] = [];
  await pipeline(
    Readable.from(pieces(file, seed)),
    enc,
    new Writable({
      write(c: Buffer, _e, cb) {
        out.push(c); // kept as given: slices of the encoder's slabs must stay valid
        cb();
      },
    }),
  );
  return { result: enc.result, stored: Buffer.concat(out) };
}

describe('SnapshotEncoder on a real etcdctl snapshot', () => {
  let file: Buffer;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    const t = await tempDir();
    cleanup = t.cleanup;
    file = await readFile(await makeSnapshotFile(t.dir, { keys: 400, valueSize: 3000 }));
  }, 60_000);
  afterAll(() => cleanup());

  it('stores zstd that decompresses to the snapshot, with the digests and status of the plain file', async () => {
    const expected = snapshotStatus(bufferSource(file));
    for (const seed of [1, 2, 3]) {
      const { result, stored } = await encode(file, 1, seed);
      expect(decompress(stored).equals(file)).toBe(true);
      expect(result.stored).toEqual({ size: stored.length, sha256: sha256(stored) });
      expect(result.digest.sha256).toBe(sha256(file));
      expect(result.digest.etcdSha256).toBe(file.subarray(file.length - 32).toString('hex'));
      expect(result.digest.dbSize).toBe(file.length - 32);
      expect(result.status).toEqual(expected);
    }
  });

  it('stores the plain snapshot when compression is off', async () => {
    const { result, stored } = await encode(file, null);
    expect(stored.equals(file)).toBe(true);
    expect(result.stored.sha256).toBe(sha256(file));
  });

  it('fails at the end, before the consumer sees it, when the trailer does not match', async () => {
    const bad = Buffer.from(file);
    bad[bad.length - 1]! ^= 1;
    const err = await encode(bad, 1).catch((e: unknown) => e);
    expect(isDrError(err) && err.code).toBe('SNAPSHOT_DIGEST_MISMATCH');
  });
});

describe('ZstdEncoder', () => {
  it('hands out slices that stay valid while more is compressed, in one or several threads', () => {
    const input = Buffer.concat(
      Array.from({ length: 64 }, (_, i) => Buffer.from(`{"kind":"ConfigMap","n":${i}}`.repeat(3000))),
    );
    for (const workers of [0, 1, 2]) {
      const z = new ZstdEncoder({ ...defaultZstdParameters(1), workers });
      const out: Buffer[] = [];
      for (const p of pieces(input, workers + 5)) z.write(p, (piece) => out.push(piece));
      z.end((piece) => out.push(piece));
      expect(decompress(Buffer.concat(out)).equals(input)).toBe(true);
    }
  });
});
