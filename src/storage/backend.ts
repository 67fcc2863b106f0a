/**
 * The storage contract (modelled on restic's backend interface and unstorage's Driver): every backend
 * (file://, s3://) implements these few operations; retry, logging and limits are wrappers composed once
 * in open-backend.ts, never branches inside a backend.
 *
 * Vocabulary:
 *  - key: a '/'-separated object name relative to the backend's root (the URL's path or prefix).
 *  - an object is visible only once complete: put() writes to a temporary name / multipart upload and
 *    publishes atomically at the end; a failed or aborted put leaves nothing behind (no orphan parts).
 *
 * Errors: a backend throws DrError with a STORAGE_* code and `details.transient` (true when a retry
 * may help: timeouts, connection resets, 5xx, throttling).
 */
import type { Readable } from 'node:stream';

export interface ObjectInfo {
  key: string;
  size: number;
  lastModified: Date;
  /** S3 Object Lock retain-until date, when the backend knows one (retention must respect it). */
  retainUntil?: Date;
}

/**
 * Every operation takes the caller's AbortSignal: cancelling (SIGTERM, the daemon's grace period) ends
 * the requests in flight, not only the waits between them. A cancelled operation throws ABORTED.
 */
export interface OpOptions {
  signal?: AbortSignal;
}

/** S3 Object Lock modes: governance can be lifted by a principal allowed to bypass it, compliance by nobody. */
export type ObjectLockMode = 'governance' | 'compliance';

/** A retention lock set on an object at upload: it cannot be deleted or overwritten before retainUntil. */
export interface ObjectLock {
  mode: ObjectLockMode;
  retainUntil: Date;
}

export interface PutOptions extends OpOptions {
  /** Called with the number of bytes consumed from the body so far (for progress). */
  onProgress?: (bytes: number) => void;
  /**
   * Lock the object at upload. A backend that cannot lock throws OBJECT_LOCK_UNAVAILABLE rather than
   * store an object unlocked.
   */
  lock?: ObjectLock;
}

export interface Backend {
  /** The backend's location with credentials removed, for messages and logs. */
  readonly location: string;
  /** Streams body to key; the object becomes visible only when the whole body has been stored. */
  put(key: string, body: Readable, opts?: PutOptions): Promise<{ size: number }>;
  /** A stream of the whole object. Throws STORAGE_NOT_FOUND when it does not exist. */
  /**
   * A stream of the whole object. Throws STORAGE_NOT_FOUND when it does not exist. An error of the
   * transport while the stream is read (connection reset, timeout) is recorded as a storage error:
   * `storageErrorOf(err)` (stream-errors.ts) returns it, so readers tell it from bad content.
   */
  get(key: string, opts?: OpOptions): Promise<Readable>;
  /** Throws STORAGE_NOT_FOUND when the object does not exist. */
  stat(key: string, opts?: OpOptions): Promise<ObjectInfo>;
  /** Every complete object whose key starts with prefix (no temporaries), in no particular order. */
  list(prefix: string, opts?: OpOptions): AsyncIterable<ObjectInfo>;
  /** Removes key; removing a missing key is not an error. */
  remove(key: string, opts?: OpOptions): Promise<void>;
  /** Checks that the target exists and is usable (directory writable, bucket reachable). */
  check(opts?: OpOptions): Promise<void>;
  /**
   * Removes leftovers of interrupted puts (temp files, incomplete multipart uploads) older than
   * olderThanMs. A server that keeps no incomplete uploads (ListMultipartUploads not implemented)
   * has none to remove: 0, not an error.
   */
  cleanupIncomplete(prefix: string, olderThanMs: number, opts?: OpOptions): Promise<number>;
  close(): Promise<void>;
  /**
   * Optional. Checks that objects put with `lock` will be locked (S3: the bucket has versioning and
   * Object Lock enabled), throwing OBJECT_LOCK_UNAVAILABLE naming what is missing. A backend without
   * this operation cannot lock at all.
   */
  checkObjectLock?(opts?: OpOptions): Promise<void>;
  /**
   * Optional. Stores a small object only when key does not exist yet, atomically (a conditional write:
   * link(2) for file://, PutObject If-None-Match for s3://). Returns false when key already exists.
   * A backend without this operation cannot write conditionally (see lease.ts for the fallback).
   */
  putIfAbsent?(key: string, data: Buffer, opts?: OpOptions): Promise<boolean>;
}

/** One storage target as the config names it. */
export interface StorageTarget {
  /** name in the config (metric label); for a bare --storage URL, the redacted URL */
  name: string;
  backend: Backend;
}
