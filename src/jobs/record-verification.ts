/**
 * One verification's result, recorded where every host sees it: an append-only record in storage beside
 * the manifest (manifest/verification-record.ts), then the local catalog. The record is what makes a
 * failed verification count on every other host and in a rebuilt catalog; the catalog row is this
 * host's cache of it. Used by `dr verify`, verify-after-upload and the daemon's periodic verification.
 */
import { hostname } from 'node:os';
import type { Catalog } from '../catalog/catalog.js';
import { toDrError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { TOOL_VERSION } from '../core/version.js';
import type { Manifest } from '../manifest/manifest.js';
import { VERIFICATION_FORMAT, writeVerificationRecord } from '../manifest/verification-record.js';
import type { VerifyReport } from '../pipeline/verify.js';
import type { Backend } from '../storage/backend.js';

export interface RecordVerificationDeps {
  catalog: Catalog | null;
  logger: Logger;
  /** this machine's name, for the record's key and body @default os.hostname() */
  host?: string;
}

/**
 * Writes the record, then marks the catalog. Returns the record's key, or null when storage refused it
 * (logged: the result still counts here, and the report still says what was found).
 */
export async function recordVerification(
  deps: RecordVerificationDeps,
  backend: Backend,
  manifest: Manifest,
  report: VerifyReport,
  at: Date,
  signal?: AbortSignal,
): Promise<string | null> {
  let key: string | null = null;
  try {
    key = await writeVerificationRecord(
      backend,
      {
        format: VERIFICATION_FORMAT,
        backupId: manifest.id,
        clusterName: manifest.clusterName,
        verifiedAt: at.toISOString(),
        host: deps.host ?? hostname(),
        deep: report.deep,
        ok: report.ok,
        checks: report.checks.map((c) => ({ check: c.check, ok: c.ok, detail: c.detail })),
        tool: { name: 'etcd-dr', version: TOOL_VERSION },
      },
      signal,
    );
  } catch (err) {
    deps.logger.warn(
      { backup: manifest.id, storage: backend.location, err: toDrError(err).message },
      'verification record not written to storage; other hosts will not see this result',
    );
  }
  try {
    deps.catalog?.markVerified(backend.location, manifest.id, at, report.ok);
  } catch (err) {
    deps.logger.warn({ err: (err as Error).message }, 'catalog not updated');
  }
  return key;
}
