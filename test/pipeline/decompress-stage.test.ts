/**
 * The fetch's zstd stage on its worker thread (the built dist/ module: the worker is a built script):
 * several frames in small chunks come out whole and in order; input cut inside a frame and bytes that are
 * not zstd fail the pipeline instead of ending it short.
 */
import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { compress } from 'zstd-napi';

const { zstdDecompressStage } = (await import(
  new URL('../../dist/pipeline/decompress-stage.js', import.meta.url).href
)) as typeof import('../../src/pipeline/decompress-stage.js');

function chunks(b: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; i += size) out.push(b.subarray(i, i + size));
  return out;
}

async function run(input: Buffer, chunkSize = 64 * 1024): Promise<Buffer> {
  const parts: Buffer[] = [];
  const stage = zstdDecompressStage();
  expect(stage.constructor.name).toBe('WorkerDecompressStream');
  await pipeline(
    Readable.from(chunks(input, chunkSize)),
    stage,
    new Writable({
      write(c: Buffer, _e, cb) {
        parts.push(c);
        cb();
      },
    }),
  );
  return Buffer.concat(parts);
}

describe('zstd decompression on a worker thread', () => {
  // compressible but not trivial: repeated random blocks, about 8 MiB, in two frames
  const block = randomBytes(64 * 1024);
  const plainA = Buffer.concat(Array.from({ length: 96 }, (_, i) => (i % 3 ? block : randomBytes(4096))));
  const plainB = Buffer.concat(Array.from({ length: 40 }, () => block));
  const stored = Buffer.concat([compress(plainA), compress(plainB)]);

  it('gives back every byte of several frames, in order, from chunks of any size', async () => {
    const plain = Buffer.concat([plainA, plainB]);
    expect((await run(stored)).equals(plain)).toBe(true);
    expect((await run(stored, 777)).equals(plain)).toBe(true);
  });

  it('fails when the input ends inside a frame', async () => {
    await expect(run(stored.subarray(0, stored.length - 100))).rejects.toThrow(/middle of a zstd frame/);
  });

  it('fails on bytes that are not zstd', async () => {
    await expect(run(randomBytes(200_000))).rejects.toThrow(/unknown|prefix|magic|header|corrupt/i);
  });
});
