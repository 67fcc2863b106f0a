/**
 * Object keys and temporary names, shared by every backend so that a key means the same thing in a
 * directory and in a bucket.
 */
import { DrError } from '../core/errors.js';
import { isTempName } from '../core/safe-file.js';

/**
 * A key is '/'-separated, relative, without empty, '.' or '..' segments (so it cannot escape the root
 * of a directory backend), and never looks like a temporary name (list would hide it).
 */
export function assertValidKey(key: string, location: string): void {
  const bad = (why: string): never => {
    throw new DrError('STORAGE_FAILED', `storage ${location}: invalid key "${key}": ${why}`, {
      transient: false,
      key,
    });
  };
  if (key.length === 0) bad('empty');
  if (key.length > 1024) bad('longer than 1024 characters');
  if (key.includes('\\') || key.includes('\0')) bad('contains a backslash or NUL');
  for (const seg of key.split('/')) {
    if (seg === '' || seg === '.' || seg === '..') bad("has an empty, '.' or '..' segment");
  }
  if (isTempName(key)) bad('ends like a temporary name (.tmp-<hex>)');
}

/** A list prefix may end in '/' or in part of a name, but may not escape the root either. */
export function assertValidPrefix(prefix: string, location: string): void {
  if (prefix === '') return;
  const segs = prefix.split('/');
  if (segs.slice(0, -1).some((s) => s === '' || s === '.' || s === '..') || segs.at(-1) === '..') {
    throw new DrError('STORAGE_FAILED', `storage ${location}: invalid prefix "${prefix}"`, {
      transient: false,
      prefix,
    });
  }
}
