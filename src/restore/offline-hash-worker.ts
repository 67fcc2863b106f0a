/** Worker thread body of offline-hash.ts: computes one HashKV and posts it back. */
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { offlineHashOfFile } from './offline-hash.js';

const { file, revision } = workerData as { file: string; revision: string };
// This thread only (Linux: setpriority on the calling thread): the members starting beside it go first
// (docs/benchmarks.md, "Restore and drill").
try {
  setPriority(19);
} catch {
  // not allowed here: run at normal priority
}
try {
  const r = offlineHashOfFile(file, BigInt(revision));
  parentPort!.postMessage({ hash: r.hash, revision: r.revision.toString() });
} catch (err) {
  parentPort!.postMessage({ error: (err as Error).message });
}
