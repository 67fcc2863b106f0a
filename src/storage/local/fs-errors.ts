/**
 * Classifies Node fs errors into the STORAGE_* catalogue. None of them is transient: a missing
 * directory, a permission or a full disk does not fix itself between two retries.
 */
import { DrError, isAbortError } from '../../core/errors.js';

export function fsError(err: unknown, what: string): DrError {
  if (err instanceof DrError) return err;
  if (isAbortError(err)) return new DrError('ABORTED', `${what}: cancelled`, { transient: false });
  const e = err as NodeJS.ErrnoException;
  const detail = e?.code ? `${e.code}${e.syscall ? ` (${e.syscall})` : ''}` : String(e?.message ?? err);
  const details = { transient: false, errno: e?.code };
  switch (e?.code) {
    case 'ENOENT':
    case 'ENOTDIR':
      return new DrError('STORAGE_NOT_FOUND', `${what}: does not exist [${detail}]`, details, { cause: err });
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return new DrError('STORAGE_ACCESS_DENIED', `${what}: permission denied [${detail}]`, details, {
        cause: err,
      });
    case 'ENOSPC':
    case 'EDQUOT':
      return new DrError('STORAGE_NO_SPACE', `${what}: no space left on the device [${detail}]`, details, {
        cause: err,
      });
    default:
      return new DrError('STORAGE_FAILED', `${what}: ${e?.message ?? detail}`, details, { cause: err });
  }
}
