/**
 * A policy's Object Lock as a backend wrapper: every put through it carries the policy's lock mode
 * and a retain-until date computed at the moment of the put (so the data object and its manifest
 * each hold at least the full period from when they were written). The lease object is the one
 * exception: it is rewritten while a prune runs and must stay removable.
 *
 * Fail closed: before the first put, the wrapper asks the backend whether it really locks
 * (checkObjectLock: versioning and Object Lock enabled on the bucket). A backend that cannot lock at
 * all (file://) refuses; a check that cannot be made refuses too, unless the policy says the bucket was
 * checked by hand (verifyBucket false). A failed check is asked again on the next put.
 */
import type { Readable } from 'node:stream';
import { DrError } from '../core/errors.js';
import type { Backend, ObjectInfo, ObjectLockMode, OpOptions, PutOptions } from './backend.js';
import { isLeaseKey } from './lease.js';

export interface ObjectLockPolicy {
  mode: ObjectLockMode;
  /** The retain-until date of an object written at `at`. */
  retainUntil: (at: Date) => Date;
  /** Ask the bucket before the first put. @default true */
  verifyBucket?: boolean;
  now: () => Date;
}

export interface LockedBackend extends Backend {
  /** The start-up check: resolves once the target is known to lock (or verifyBucket is false). */
  verifyLock(opts?: OpOptions): Promise<void>;
}

export function withObjectLock(inner: Backend, policy: ObjectLockPolicy): LockedBackend {
  return new ObjectLockBackend(inner, policy);
}

/** The check alone, for a start-up that has no wrapper at hand (the daemon checks every locked target). */
export async function checkTargetLocks(backend: Backend, opts: OpOptions = {}): Promise<void> {
  if (!backend.checkObjectLock) {
    throw new DrError(
      'OBJECT_LOCK_UNAVAILABLE',
      `storage ${backend.location} cannot hold an Object Lock; a policy with objectLock needs an s3:// bucket with Object Lock enabled`,
      { transient: false },
    );
  }
  await backend.checkObjectLock(opts);
}

class ObjectLockBackend implements LockedBackend {
  readonly location: string;
  readonly putIfAbsent?: (key: string, data: Buffer, opts?: OpOptions) => Promise<boolean>;
  private verified: Promise<void> | null = null;

  constructor(
    private readonly inner: Backend,
    private readonly policy: ObjectLockPolicy,
  ) {
    this.location = inner.location;
    const putIfAbsent = inner.putIfAbsent?.bind(inner);
    if (putIfAbsent) this.putIfAbsent = (k, d, o) => putIfAbsent(k, d, o);
  }

  verifyLock(opts: OpOptions = {}): Promise<void> {
    if (this.policy.verifyBucket === false) {
      // Nothing to ask, but a backend that cannot lock at all still refuses (at its first put).
      return this.inner.checkObjectLock ? Promise.resolve() : checkTargetLocks(this.inner, opts);
    }
    this.verified ??= checkTargetLocks(this.inner, opts).catch((err: unknown) => {
      this.verified = null;
      throw err;
    });
    return this.verified;
  }

  checkObjectLock(opts?: OpOptions): Promise<void> {
    return checkTargetLocks(this.inner, opts);
  }

  async put(key: string, body: Readable, opts: PutOptions = {}): Promise<{ size: number }> {
    if (isLeaseKey(key)) return this.inner.put(key, body, opts);
    try {
      await this.verifyLock(opts.signal ? { signal: opts.signal } : {});
    } catch (err) {
      body.destroy();
      throw err;
    }
    const lock = { mode: this.policy.mode, retainUntil: this.policy.retainUntil(this.policy.now()) };
    return this.inner.put(key, body, { ...opts, lock });
  }

  get(key: string, opts?: OpOptions): Promise<Readable> {
    return this.inner.get(key, opts);
  }
  stat(key: string, opts?: OpOptions): Promise<ObjectInfo> {
    return this.inner.stat(key, opts);
  }
  list(prefix: string, opts?: OpOptions): AsyncIterable<ObjectInfo> {
    return this.inner.list(prefix, opts);
  }
  remove(key: string, opts?: OpOptions): Promise<void> {
    return this.inner.remove(key, opts);
  }
  check(opts?: OpOptions): Promise<void> {
    return this.inner.check(opts);
  }
  cleanupIncomplete(prefix: string, olderThanMs: number, opts?: OpOptions): Promise<number> {
    return this.inner.cleanupIncomplete(prefix, olderThanMs, opts);
  }
  /** The wrapper does not own the backend (the target it was made for is shared): nothing to close. */
  async close(): Promise<void> {}
}
