import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { DrError } from '../../src/core/errors.js';
import { classifyStreamErrors, storageErrorOf } from '../../src/storage/stream-errors.js';

const classify = () => new DrError('STORAGE_FAILED', 'storage: read broke off', { transient: true });

function source(fail?: Error): Readable {
  let n = 0;
  return classifyStreamErrors(
    new Readable({
      read() {
        if (n++ < 3) this.push(Buffer.alloc(16, n));
        else if (fail) this.destroy(fail);
        else this.push(null);
      },
    }),
    classify,
  );
}

describe('storage errors of a read stream', () => {
  it("the transport's own error (a reset) is the storage's error", async () => {
    const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET', syscall: 'read' });
    const err = await pipeline(source(reset), new Transform({ transform: (c, _e, cb) => cb(null, c) })).catch(
      (e: unknown) => e,
    );
    expect(storageErrorOf(err)?.code).toBe('STORAGE_FAILED');
  });

  it("a later stage's verdict on the bytes, handed back to the source by the pipeline, is not", async () => {
    // as zstd's "Data corruption detected": a plain Error, no code, from the decoder stage
    const corrupt = new Error('Data corruption detected');
    const decoder = new Transform({ transform: (_c, _e, cb) => cb(corrupt) });
    const err = await pipeline(source(), decoder).catch((e: unknown) => e);
    expect(err).toBe(corrupt);
    expect(storageErrorOf(err)).toBeUndefined();
    const digest = new DrError('SNAPSHOT_DIGEST_MISMATCH', 'trailer differs');
    const err2 = await pipeline(source(), new Transform({ transform: (_c, _e, cb) => cb(digest) })).catch(
      (e: unknown) => e,
    );
    expect(storageErrorOf(err2)).toBeUndefined();
  });
});
