/**
 * The error catalogue: every failure dr reports has a stable code listed here, with the process exit
 * code (see README "Exit codes") and the HTTP status the API answers with. Messages name the subsystem
 * and the thing at fault; they never contain a secret (pass URLs through redactUrl first).
 *
 * Exit codes: 0 ok, 1 the thing checked is bad (corruption, failed verification, stale),
 * 2 usage or configuration error, 3 runtime failure (unreachable etcd, storage error).
 */
import { redactText } from './redact.js';

export const EXIT = { OK: 0, BAD: 1, USAGE: 2, RUNTIME: 3 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

interface CatalogueEntry {
  exit: ExitCode;
  http: number;
  /** what the code means, for the README table */
  summary: string;
}

export const ERROR_CATALOGUE = {
  USAGE: { exit: 2, http: 400, summary: 'a command-line flag or argument is missing or malformed' },
  CONFIG_INVALID: { exit: 2, http: 400, summary: 'a configuration or members file is invalid' },
  STORAGE_URL_INVALID: {
    exit: 2,
    http: 400,
    summary: 'a --storage URL cannot be parsed or names an unknown scheme',
  },
  TLS_FILE_UNREADABLE: {
    exit: 2,
    http: 400,
    summary:
      'a CA, certificate or key file cannot be read, is not PEM, or the certificate and key do not belong together',
  },
  RESTORE_REFUSED: {
    exit: 2,
    http: 409,
    summary:
      'a restore safety check refused to go on (healthy cluster, non-empty data dir, ...); nothing was changed',
  },
  BACKUP_NOT_FOUND: {
    exit: 2,
    http: 404,
    summary: 'no backup with that id (or no backup at all for --latest)',
  },
  CLUSTER_NOT_FOUND: { exit: 2, http: 404, summary: 'no cluster of that name in the configuration' },
  JOB_NOT_FOUND: {
    exit: 2,
    http: 404,
    summary: 'no job with that id (jobs live in memory until the daemon restarts)',
  },
  UNAUTHORIZED: { exit: 2, http: 401, summary: 'the API call needs a valid bearer token' },
  NOT_FOUND: { exit: 2, http: 404, summary: 'no such API route' },
  ETCD_UNREACHABLE: { exit: 3, http: 503, summary: 'no etcd endpoint answered within the dial timeout' },
  ETCD_TLS_FAILED: {
    exit: 3,
    http: 502,
    summary: 'the TLS handshake with an etcd endpoint failed (CA, certificate or key)',
  },
  ETCD_AUTH_FAILED: { exit: 3, http: 502, summary: 'etcd rejected the user name or password' },
  ETCD_PERMISSION_DENIED: { exit: 3, http: 502, summary: 'etcd refused the request for lack of permission' },
  ETCD_REQUEST_FAILED: { exit: 3, http: 502, summary: 'an etcd request failed or timed out' },
  SNAPSHOT_STREAM_FAILED: {
    exit: 3,
    http: 502,
    summary: 'the snapshot stream broke off before it was complete',
  },
  SNAPSHOT_DIGEST_MISMATCH: {
    exit: 3,
    http: 502,
    summary: "etcd's sha256 trailer does not match the streamed data",
  },
  SNAPSHOT_INVALID: { exit: 3, http: 502, summary: 'the streamed snapshot is not a readable bbolt database' },
  STORAGE_UNREACHABLE: { exit: 3, http: 503, summary: 'the storage endpoint cannot be reached' },
  STORAGE_NOT_FOUND: { exit: 3, http: 502, summary: 'the bucket, directory or object does not exist' },
  STORAGE_ACCESS_DENIED: {
    exit: 3,
    http: 502,
    summary: 'storage refused the request (credentials or permissions)',
  },
  STORAGE_NO_SPACE: { exit: 3, http: 507, summary: 'the storage target is out of space' },
  STORAGE_FAILED: { exit: 3, http: 502, summary: 'a storage operation failed' },
  OBJECT_LOCK_UNAVAILABLE: {
    exit: 2,
    http: 400,
    summary:
      'a policy asks for S3 Object Lock but the target cannot lock (bucket without versioning or Object Lock, file:// target, no request checksum)',
  },
  LEASE_HELD: {
    exit: 3,
    http: 409,
    summary:
      'another dr process holds the lease of this prefix (prune or gc running); the message names it and how to override',
  },
  CATALOG_FAILED: { exit: 3, http: 500, summary: 'the SQLite catalog cannot be opened or written' },
  VERIFY_FAILED: {
    exit: 1,
    http: 200,
    summary: 'a stored backup failed verification; the check that failed is named',
  },
  ENCRYPTION_KEY_MISSING: {
    exit: 2,
    http: 400,
    summary:
      'an encrypted backup needs an age identity that was not given or matches none of its recipients (both are named)',
  },
  ENCRYPTION_KEY_INVALID: {
    exit: 2,
    http: 400,
    summary:
      'an age recipient or identity is malformed, or an identity file cannot be read or is readable by group/others',
  },
  MANIFEST_MISMATCH: {
    exit: 1,
    http: 422,
    summary:
      'a manifest does not match the key it was read from (id, cluster, format version or data key); it is refused',
  },
  MANIFEST_SIGNATURE_INVALID: {
    exit: 1,
    http: 422,
    summary:
      'a verify key is configured and a manifest is unsigned or its signature does not verify; it is refused',
  },
  REVLOG_NOT_FOUND: {
    exit: 2,
    http: 404,
    summary:
      'no revision log for that cluster (dr inspect log), or none and no full backup to start one from (dr log follow: take a backup, or give --from-rev)',
  },
  REVLOG_DISCONTINUOUS: {
    exit: 1,
    http: 422,
    summary:
      'the revision log is not continuous where it was read: a recorded gap, a broken chain or a refused segment manifest (each is named)',
  },
  REPLAY_DIVERGED: {
    exit: 1,
    http: 422,
    summary:
      'a point-in-time replay did not reproduce the original: a revision number or a checkpoint HashKV differs (named); nothing was restored',
  },
  ABORTED: { exit: 3, http: 503, summary: 'the operation was cancelled (signal or shutdown)' },
  INTERNAL: { exit: 3, http: 500, summary: 'an unexpected internal error (a bug: please report it)' },
} as const satisfies Record<string, CatalogueEntry>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export class DrError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;

  constructor(
    code: ErrorCode,
    message: string,
    details: Record<string, unknown> = {},
    options?: ErrorOptions,
  ) {
    // One place for every message dr shows or logs: a URL with user:password@ or a secret query value,
    // quoted from an operator's flag or a library's words, never reaches the output.
    super(redactText(message), options);
    this.name = 'DrError';
    this.code = code;
    this.details = details;
  }

  get exitCode(): ExitCode {
    return ERROR_CATALOGUE[this.code].exit;
  }

  get httpStatus(): number {
    return ERROR_CATALOGUE[this.code].http;
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, ...this.details };
  }
}

export function isDrError(err: unknown, code?: ErrorCode): err is DrError {
  return err instanceof DrError && (code === undefined || err.code === code);
}

/** Wraps anything thrown into a DrError; unknown errors become INTERNAL with their message kept. */
export function toDrError(err: unknown, fallback: ErrorCode = 'INTERNAL', context?: string): DrError {
  if (err instanceof DrError) return err;
  if (isAbortError(err)) return new DrError('ABORTED', context ? `${context}: cancelled` : 'cancelled');
  const message = err instanceof Error ? err.message : String(err);
  return new DrError(fallback, context ? `${context}: ${message}` : message, {}, { cause: err });
}

export function isAbortError(err: unknown): boolean {
  return (
    err instanceof Error && (err.name === 'AbortError' || (err as { code?: string }).code === 'ABORT_ERR')
  );
}
