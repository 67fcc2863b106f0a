/**
 * Verification results kept in storage beside the manifest, so that every host, and a catalog rebuilt
 * from scratch, sees that a backup failed verification. Append-only: each verification writes a new
 * object `<cluster>/<id>.verify.<yyyymmddThhmmssSSSZ>-<host>-<4 hex>.json` (layout.ts) and never
 * rewrites one; the newest record by name is the backup's verification state. Retention removes a
 * backup's records with it.
 */
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { DrError } from '../core/errors.js';
import type { Backend } from '../storage/backend.js';
import { parseObjectKey, verificationKey } from './layout.js';

export const VERIFICATION_FORMAT = 'etcd-dr-verification/v1';

export interface VerificationRecord {
  format: typeof VERIFICATION_FORMAT;
  backupId: string;
  clusterName: string;
  verifiedAt: string; // ISO 8601 UTC
  host: string;
  deep: boolean;
  ok: boolean;
  /** each check with its result (null: not reached) and detail, as `dr verify --json` reports them */
  checks: { check: string; ok: boolean | null; detail: string }[];
  tool: { name: 'etcd-dr'; version: string };
}

/** Writes one record under a new key; returns that key. */
export async function writeVerificationRecord(
  backend: Backend,
  record: VerificationRecord,
  signal?: AbortSignal,
): Promise<string> {
  const key = verificationKey(record.clusterName, record.backupId, new Date(record.verifiedAt), record.host);
  await backend.put(key, Readable.from([Buffer.from(JSON.stringify(record, null, 2) + '\n')]), { signal });
  return key;
}

/** Reads one record; refused (MANIFEST_MISMATCH) when it names another backup than its key. */
export async function readVerificationRecord(
  backend: Backend,
  key: string,
  signal?: AbortSignal,
): Promise<VerificationRecord> {
  const raw = await text(await backend.get(key, { signal }));
  let rec: Partial<VerificationRecord>;
  try {
    rec = JSON.parse(raw) as Partial<VerificationRecord>;
  } catch (err) {
    throw new DrError(
      'VERIFY_FAILED',
      `verification record ${key} in ${backend.location} is not valid JSON: ${(err as Error).message}`,
      { check: 'verification-record' },
    );
  }
  if (
    rec.format !== VERIFICATION_FORMAT ||
    typeof rec.ok !== 'boolean' ||
    typeof rec.verifiedAt !== 'string' ||
    Number.isNaN(Date.parse(rec.verifiedAt))
  )
    throw new DrError(
      'VERIFY_FAILED',
      `verification record ${key} in ${backend.location} is not a ${VERIFICATION_FORMAT} record`,
      { check: 'verification-record' },
    );
  const at = parseObjectKey(key);
  if (!at || at.kind !== 'verification' || rec.backupId !== at.id || rec.clusterName !== at.cluster)
    throw new DrError(
      'MANIFEST_MISMATCH',
      `verification record ${key} in ${backend.location} names backup ${String(rec.clusterName)}/${String(rec.backupId)}, not the one of its key; refused`,
      { key, field: 'backupId', check: 'verification-record' },
    );
  return rec as VerificationRecord;
}
