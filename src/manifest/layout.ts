/**
 * Where a backup lives in storage. Objects are grouped by cluster; ids sort by creation time.
 */
import { randomBytes } from 'node:crypto';
import { DrError } from '../core/errors.js';

export const MANIFEST_SUFFIX = '.manifest.json';
export const DATA_SUFFIX = '.db.zst';
/** an encrypted data object: the zstd stream sealed with age, opens with `age -d | zstd -d` */
export const ENCRYPTED_DATA_SUFFIX = '.db.zst.age';

const ID_RE = /^(\d{8}T\d{6}Z)-([0-9a-f]{8})$/;
const CLUSTER_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export function newBackupId(at: Date): string {
  const stamp = at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}Z$/, 'Z');
  return `${stamp}-${randomBytes(4).toString('hex')}`;
}

export function isBackupId(id: string): boolean {
  return ID_RE.test(id);
}

/** The time encoded in an id (second precision). */
export function backupIdTime(id: string): Date | null {
  const m = ID_RE.exec(id);
  if (!m) return null;
  const s = m[1]!;
  return new Date(
    `${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6, 8)}T${s.slice(9, 11)}:${s.slice(11, 13)}:${s.slice(13, 15)}Z`,
  );
}

export function validateClusterName(name: string, field = '--cluster-name'): string {
  if (!CLUSTER_RE.test(name)) {
    throw new DrError(
      'USAGE',
      `${field}: "${name}" is not a valid cluster name (letters, digits, '.', '_', '-'; at most 63 characters)`,
    );
  }
  return name;
}

export function dataKey(cluster: string, id: string, encrypted = false): string {
  return `${cluster}/${id}${encrypted ? ENCRYPTED_DATA_SUFFIX : DATA_SUFFIX}`;
}

export function manifestKey(cluster: string, id: string): string {
  return `${cluster}/${id}${MANIFEST_SUFFIX}`;
}

/**
 * Parses `<cluster>/<id>.manifest.json`, `<cluster>/<id>.db.zst` or `<cluster>/<id>.db.zst.age`; null for
 * anything else (temp files included).
 */
export function parseObjectKey(
  key: string,
): { cluster: string; id: string; kind: 'manifest' | 'data' } | null {
  const parts = key.split('/');
  if (parts.length !== 2) return null;
  const [cluster, file] = parts as [string, string];
  for (const [suffix, kind] of [
    [MANIFEST_SUFFIX, 'manifest'],
    [DATA_SUFFIX, 'data'],
    [ENCRYPTED_DATA_SUFFIX, 'data'],
  ] as const) {
    if (file.endsWith(suffix)) {
      const id = file.slice(0, -suffix.length);
      if (isBackupId(id) && CLUSTER_RE.test(cluster)) return { cluster, id, kind };
    }
  }
  return null;
}
