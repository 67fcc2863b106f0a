import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { DrError, isDrError } from '../../src/core/errors.js';
import { copyBackup } from '../../src/jobs/backup-job.js';
import type { Manifest } from '../../src/manifest/manifest.js';
import { MemoryBackend } from '../../src/storage/memory/memory-backend.js';
import { classifyStreamErrors } from '../../src/storage/stream-errors.js';

describe('copyBackup to a second storage target', () => {
  it('a read the source transport broke off is that storage error (transient), not a failed copy', async () => {
    const source = new MemoryBackend('src');
    // the source's stream breaks after the first chunk, as a reset connection does; the source backend
    // classified that error as its own storage error (as the s3 and local backends do)
    source.get = () => {
      let sent = false;
      const s = new Readable({
        read() {
          if (!sent) {
            sent = true;
            this.push(Buffer.alloc(1024, 1));
          } else this.destroy(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
        },
      });
      return Promise.resolve(
        classifyStreamErrors(
          s,
          () => new DrError('STORAGE_UNREACHABLE', 'memory://src: read broke off', { transient: true }),
        ),
      );
    };
    const target = new MemoryBackend('dst');
    const manifest = {
      id: '20261202T000000Z-00000000',
      stored: { key: 'c/20261202T000000Z-00000000.db.zst', size: 4096, sha256: 'x' },
    } as unknown as Manifest;
    const err = await copyBackup(
      { name: 'src', backend: source },
      { name: 'dst', backend: target },
      manifest,
    ).catch((e: unknown) => e);
    expect(isDrError(err, 'STORAGE_UNREACHABLE')).toBe(true);
    expect((err as DrError).details.transient).toBe(true);
    // nothing of the copy is visible on the target
    const left: string[] = [];
    for await (const o of target.list('')) left.push(o.key);
    expect(left).toEqual([]);
  });
});
