/**
 * The backup's own HashKV at a revision, computed from the snapshot file (formats/mvcc/store.ts). It reads
 * the whole db (CPU: docs/benchmarks.md), so the restore runs it on a worker thread while etcd's restore tool
 * writes the data dirs. Run from the TypeScript sources (the unit tests) there is no compiled worker file,
 * and it runs in-process instead: both paths call the same offlineHashKV.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { openFileSource } from '../formats/file-byte-source.js';
import { offlineHashKV } from '../formats/mvcc/store.js';

export interface OfflineHash {
  hash: number;
  revision: bigint;
}

export function offlineHashOfFile(file: string, revision: bigint): OfflineHash {
  const src = openFileSource(file);
  try {
    const r = offlineHashKV(src, revision);
    return { hash: r.hash, revision: r.revision };
  } finally {
    src.close();
  }
}

const workerFile = fileURLToPath(new URL('./offline-hash-worker.js', import.meta.url));

export async function offlineHashInWorker(file: string, revision: bigint): Promise<OfflineHash> {
  if (!existsSync(workerFile)) return offlineHashOfFile(file, revision);
  return new Promise((resolve, reject) => {
    const w = new Worker(workerFile, { workerData: { file, revision: revision.toString() } });
    w.once('message', (m: { hash?: number; revision?: string; error?: string }) => {
      if (m.error !== undefined) reject(new Error(m.error));
      else resolve({ hash: m.hash!, revision: BigInt(m.revision!) });
    });
    w.once('error', reject);
    w.once('exit', (code) => {
      if (code !== 0) reject(new Error(`the offline HashKV worker exited with code ${code}`));
    });
  });
}
