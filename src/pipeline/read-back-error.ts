import { DrError, isAbortError, toDrError } from '../core/errors.js';
import { storageErrorOf } from '../storage/stream-errors.js';

/**
 * Classifies a failure while reading a backup back (fetch, verify): what the stored bytes did wrong is a
 * failed verification (exit 1) naming the check; storage and local I/O failures stay runtime errors.
 * The transport breaking off mid-object (reset, timeout) is a storage error, never corruption: the
 * backend marked what its stream emitted (storage/stream-errors.ts).
 */
export function readBackError(err: unknown, context: string): DrError {
  const fromStorage = storageErrorOf(err);
  if (fromStorage) return fromStorage;
  if (err instanceof DrError) {
    if (
      err.code === 'SNAPSHOT_DIGEST_MISMATCH' ||
      err.code === 'SNAPSHOT_STREAM_FAILED' ||
      err.code === 'SNAPSHOT_INVALID'
    ) {
      return new DrError('VERIFY_FAILED', `${context}: ${err.message}`, { check: 'etcd-trailer' });
    }
    return err;
  }
  if (isAbortError(err)) return toDrError(err, 'ABORTED', context);
  if (err instanceof Error && 'syscall' in err) return toDrError(err, 'STORAGE_FAILED', context);
  const message = err instanceof Error ? err.message : String(err);
  return new DrError('VERIFY_FAILED', `${context}: the stored object does not decompress (${message})`, {
    check: 'decompress',
  });
}
