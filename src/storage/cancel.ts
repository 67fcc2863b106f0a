/**
 * Cancellation as every backend reports it: ABORTED, not transient, whatever reason the signal carries
 * (the CLI aborts with the signal's name, the daemon with a DrError of its own).
 */
import type { Readable } from 'node:stream';
import { DrError } from '../core/errors.js';
import type { Backend, ObjectInfo, OpOptions, PutOptions } from './backend.js';

export function cancelled(what: string, cause?: unknown): DrError {
  return new DrError(
    'ABORTED',
    `${what}: cancelled`,
    { transient: false },
    cause === undefined ? undefined : { cause },
  );
}

/** Throws ABORTED when the signal has fired. */
export function checkSignal(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw cancelled(what, signal.reason);
}

/**
 * The backend with `signal` added to every call (combined with the call's own), for handing a backend
 * to code that does not pass signals itself (manifest listing, catalog sync).
 */
export function bindSignal(backend: Backend, signal: AbortSignal | undefined): Backend {
  return signal ? new SignalBoundBackend(backend, signal) : backend;
}

class SignalBoundBackend implements Backend {
  readonly location: string;
  readonly checkObjectLock?: (opts?: OpOptions) => Promise<void>;
  readonly putIfAbsent?: (key: string, data: Buffer, opts?: OpOptions) => Promise<boolean>;
  constructor(
    private readonly inner: Backend,
    private readonly signal: AbortSignal,
  ) {
    this.location = inner.location;
    const checkObjectLock = inner.checkObjectLock?.bind(inner);
    const putIfAbsent = inner.putIfAbsent?.bind(inner);
    if (checkObjectLock) this.checkObjectLock = (o) => checkObjectLock(this.with(o));
    if (putIfAbsent) this.putIfAbsent = (key, data, o) => putIfAbsent(key, data, this.with(o));
  }
  private with<O extends OpOptions>(opts: O | undefined): O {
    const own = opts?.signal;
    return { ...(opts ?? ({} as O)), signal: own ? AbortSignal.any([own, this.signal]) : this.signal };
  }
  put(key: string, body: Readable, opts?: PutOptions): Promise<{ size: number }> {
    return this.inner.put(key, body, this.with(opts));
  }
  get(key: string, opts?: OpOptions): Promise<Readable> {
    return this.inner.get(key, this.with(opts));
  }
  stat(key: string, opts?: OpOptions): Promise<ObjectInfo> {
    return this.inner.stat(key, this.with(opts));
  }
  list(prefix: string, opts?: OpOptions): AsyncIterable<ObjectInfo> {
    return this.inner.list(prefix, this.with(opts));
  }
  remove(key: string, opts?: OpOptions): Promise<void> {
    return this.inner.remove(key, this.with(opts));
  }
  check(opts?: OpOptions): Promise<void> {
    return this.inner.check(this.with(opts));
  }
  cleanupIncomplete(prefix: string, olderThanMs: number, opts?: OpOptions): Promise<number> {
    return this.inner.cleanupIncomplete(prefix, olderThanMs, this.with(opts));
  }
  /** The bound view does not own the backend: closing it is the owner's job. */
  async close(): Promise<void> {}
}
