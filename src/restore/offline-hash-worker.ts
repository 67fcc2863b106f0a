/** Worker thread body of offline-hash.ts: computes one HashKV and posts it back. */
import { parentPort, workerData } from 'node:worker_threads';
import { offlineHashOfFile } from './offline-hash.js';

const { file, revision } = workerData as { file: string; revision: string };
try {
  const r = offlineHashOfFile(file, BigInt(revision));
  parentPort!.postMessage({ hash: r.hash, revision: r.revision.toString() });
} catch (err) {
  parentPort!.postMessage({ error: (err as Error).message });
}
