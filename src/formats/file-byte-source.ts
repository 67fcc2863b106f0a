import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { collectGarbage } from '../core/memory.js';
import type { ByteSource } from './byte-source.js';

/** Read this many bytes between two forced collections (see core/v8-tuning.ts). */
const COLLECT_EVERY = 64 << 20;

/** A ByteSource over a file opened read-only (evidence is never modified). Close it when done. */
export function openFileSource(path: string): ByteSource & { close(): void } {
  const fd = openSync(path, 'r');
  const size = fstatSync(fd).size;
  let sinceCollect = 0;
  return {
    size,
    read(offset, length) {
      const n = Math.max(0, Math.min(length, size - offset));
      sinceCollect += n;
      if (sinceCollect >= COLLECT_EVERY) {
        sinceCollect = 0;
        collectGarbage();
      }
      const buf = Buffer.allocUnsafe(n);
      let done = 0;
      while (done < n) {
        const r = readSync(fd, buf, done, n - done, offset + done);
        if (r === 0) break;
        done += r;
      }
      return done === n ? buf : buf.subarray(0, done);
    },
    close: () => closeSync(fd),
  };
}
