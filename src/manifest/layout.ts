/**
 * Where a backup lives in storage. Objects are grouped by cluster; ids sort by creation time.
 */
import { randomBytes } from 'node:crypto';
import { DrError } from '../core/errors.js';
import type { Manifest } from './manifest.js';

export const MANIFEST_SUFFIX = '.manifest.json';
export const DATA_SUFFIX = '.db.zst';
/** the data object of a backup whose manifest names an encryption (age) */
export const ENCRYPTED_DATA_SUFFIX = '.db.zst.age';
/** the detached Ed25519 signature over the manifest's exact bytes, written before the manifest */
export const SIGNATURE_SUFFIX = '.manifest.sig';
/**
 * a backup's verification records (append-only, one object per verification) follow `<id>.verify.` in the
 * cluster's folder: flat, so that removing them leaves no empty directory behind on file://
 */
export const VERIFY_INFIX = '.verify.';

export type ObjectKind = 'manifest' | 'data' | 'signature' | 'verification';

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
 * The one data key a manifest may name: derived from its cluster and id (and whether it is encrypted),
 * never taken from the manifest's own `stored.key`, so that a manifest cannot point dr at another
 * backup's data.
 */
export function dataKeyFor(m: Pick<Manifest, 'clusterName' | 'id' | 'stored'>): string {
  return dataKey(m.clusterName, m.id, m.stored.encryption !== null);
}

export function signatureKey(cluster: string, id: string): string {
  return `${cluster}/${id}${SIGNATURE_SUFFIX}`;
}

/** The prefix of a backup's verification records. */
export function verificationPrefix(cluster: string, id: string): string {
  return `${cluster}/${id}${VERIFY_INFIX}`;
}

/**
 * A new verification record's key: `<cluster>/<id>.verify.<yyyymmddThhmmssSSSZ>-<host>-<4 hex>.json`.
 * Names sort by time; the random tail keeps two hosts (or two runs in one millisecond) from overwriting
 * each other, so the records stay append-only.
 */
export function verificationKey(cluster: string, id: string, at: Date, host: string): string {
  const stamp = at.toISOString().replace(/[-:.]/g, '');
  const safeHost = host.replace(/[^A-Za-z0-9.-]/g, '_').slice(0, 63) || 'host';
  return `${verificationPrefix(cluster, id)}${stamp}-${safeHost}-${randomBytes(2).toString('hex')}.json`;
}

const RECORD_RE = /^(\d{8}T\d{9}Z)-[A-Za-z0-9._-]+-[0-9a-f]{4}\.json$/;

/** The time in a verification record's name (millisecond precision), or null. */
export function verificationRecordTime(key: string): Date | null {
  const file = key.slice(key.lastIndexOf('/') + 1);
  const m = RECORD_RE.exec(file.slice(file.indexOf(VERIFY_INFIX) + VERIFY_INFIX.length));
  if (!m) return null;
  const s = m[1]!;
  return new Date(
    `${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6, 8)}T${s.slice(9, 11)}:${s.slice(11, 13)}:${s.slice(13, 15)}.${s.slice(15, 18)}Z`,
  );
}

/**
 * Parses the keys of the layout: `<cluster>/<id>.manifest.json`, `<cluster>/<id>.db.zst[.age]`,
 * `<cluster>/<id>.manifest.sig` and `<cluster>/<id>.verify.<record>.json`; null for anything else.
 */
export function parseObjectKey(key: string): { cluster: string; id: string; kind: ObjectKind } | null {
  const parts = key.split('/');
  if (parts.length !== 2) return null;
  const [cluster, file] = parts as [string, string];
  const v = file.indexOf(VERIFY_INFIX);
  if (v > 0) {
    const id = file.slice(0, v);
    const record = file.slice(v + VERIFY_INFIX.length);
    return isBackupId(id) && CLUSTER_RE.test(cluster) && RECORD_RE.test(record)
      ? { cluster, id, kind: 'verification' }
      : null;
  }
  for (const [suffix, kind] of [
    [MANIFEST_SUFFIX, 'manifest'],
    [DATA_SUFFIX, 'data'],
    [ENCRYPTED_DATA_SUFFIX, 'data'],
    [SIGNATURE_SUFFIX, 'signature'],
  ] as const) {
    if (file.endsWith(suffix)) {
      const id = file.slice(0, -suffix.length);
      if (isBackupId(id) && CLUSTER_RE.test(cluster)) return { cluster, id, kind };
    }
  }
  return null;
}
