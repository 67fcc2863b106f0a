import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { FileSink } from '../../src/core/file-sink.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function tempFile(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'dr-sink-'));
  dirs.push(dir);
  return path.join(dir, 'out');
}

/** 1 MiB in 4 KiB pieces of varied content */
const pieces = Array.from({ length: 256 }, (_, i) => Buffer.alloc(4096, i));
/** the pieces as a producer slower than the disk, so that writes go out in many batches */
async function* slowly(): AsyncGenerator<Buffer> {
  for (const p of pieces) {
    await new Promise((resolve) => setTimeout(resolve, 1));
    yield p;
  }
}

describe('FileSink', () => {
  it('writes every byte in order and flushes behind itself every syncEveryBytes', async () => {
    const file = await tempFile();
    const h = await open(file, 'wx');
    let flushes = 0;
    const realDatasync = h.datasync.bind(h);
    h.datasync = async () => {
      flushes++;
      return realDatasync();
    };
    const progress: number[] = [];
    const sink = new FileSink(h, { syncEveryBytes: 64 << 10, onProgress: (n) => progress.push(n) });
    await pipeline(Readable.from(slowly()), sink);
    await h.close();
    expect((await readFile(file)).equals(Buffer.concat(pieces))).toBe(true);
    expect(sink.bytes).toBe(1 << 20);
    expect(progress.at(-1)).toBe(1 << 20);
    // one flush at a time, never more than one per 64 KiB written
    expect(flushes).toBeGreaterThan(1);
    expect(flushes).toBeLessThanOrEqual(16);
  });

  it('fails the write when a background flush fails (an I/O error is not lost)', async () => {
    const file = await tempFile();
    const h = await open(file, 'wx');
    h.datasync = () => Promise.reject(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
    const sink = new FileSink(h, { syncEveryBytes: 64 << 10 });
    await expect(pipeline(Readable.from(slowly()), sink)).rejects.toThrow(/EIO/);
    await h.close();
  });
});
