/**
 * Retry wrapper (restic's RetryBackend): repeats an operation that failed with a DrError whose
 * details.transient is true, with exponential backoff and full jitter, a bounded number of times.
 * Backends classify their own errors; this file knows nothing of files or HTTP.
 *
 * put is NOT retried: its body is a stream that the failed attempt has already consumed, and the
 * contract takes a Readable, not a way to re-create one. The s3 backend retries each multipart part
 * inside the SDK (parts are buffers), which covers the transient failures that matter for large puts;
 * a caller that can re-create its body (the backup pipeline cannot: it is a live etcd stream) retries
 * the whole put itself.
 *
 * get retries opening the object only; an error in the middle of the returned stream is the
 * caller's to handle. list restarts a failed listing and skips keys it already yielded.
 *
 * Signals: the wrapper's own (the backend's lifetime: the command's SIGTERM) and the call's are
 * combined and handed to every attempt, so a cancellation ends the request in flight too.
 */
import { setTimeout as sleepFor } from 'node:timers/promises';
import { DrError, isAbortError, isDrError } from '../core/errors.js';
import { silentLogger, type Logger } from '../core/logger.js';
import type { Readable } from 'node:stream';
import type { Backend, ObjectInfo, OpOptions, PutOptions } from './backend.js';

export interface RetryOptions {
  /** Attempts in total, the first one included. @default 4 */
  attempts?: number;
  /** Upper bound of the first backoff; it doubles per attempt. @default 250 */
  baseDelayMs?: number;
  /** Cap of one backoff. @default 8000 */
  maxDelayMs?: number;
  /** Cancels every operation (shutdown): requests in flight and waits between attempts; per-call signals are combined with it. */
  signal?: AbortSignal;
  /** Each retry is logged at warn. @default silentLogger */
  logger?: Logger;
  /** For tests: the jitter source in [0, 1). @default Math.random */
  random?: () => number;
  /** For tests: how to wait. @default timers/promises setTimeout */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export function isTransient(err: unknown): boolean {
  return isDrError(err) && err.details.transient === true;
}

export function withRetry(inner: Backend, opts: RetryOptions = {}): Backend {
  return new RetryBackend(inner, opts);
}

class RetryBackend implements Backend {
  readonly location: string;
  readonly checkObjectLock?: (opts?: OpOptions) => Promise<void>;
  /** Not retried as such: a retry after a lost answer may find its own object (see lease.ts). */
  readonly putIfAbsent?: (key: string, data: Buffer, opts?: OpOptions) => Promise<boolean>;
  private readonly attempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly logger: Logger;
  private readonly random: () => number;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;

  constructor(
    private readonly inner: Backend,
    private readonly opts: RetryOptions,
  ) {
    this.location = inner.location;
    this.attempts = Math.max(1, opts.attempts ?? 4);
    this.baseDelayMs = opts.baseDelayMs ?? 250;
    this.maxDelayMs = opts.maxDelayMs ?? 8000;
    this.logger = opts.logger ?? silentLogger;
    this.random = opts.random ?? Math.random;
    this.sleep = opts.sleep ?? ((ms, signal) => sleepFor(ms, undefined, signal ? { signal } : {}));
    const checkObjectLock = inner.checkObjectLock?.bind(inner);
    const putIfAbsent = inner.putIfAbsent?.bind(inner);
    if (checkObjectLock) {
      this.checkObjectLock = (o: OpOptions = {}) =>
        this.run('checkObjectLock', undefined, (x) => checkObjectLock(x), o.signal);
    }
    if (putIfAbsent) {
      this.putIfAbsent = (key: string, data: Buffer, o: OpOptions = {}) =>
        this.run('putIfAbsent', key, (x) => putIfAbsent(key, data, x), o.signal);
    }
  }

  /** Full jitter: uniformly in [0, min(cap, base * 2^(n-1))], so retrying clients spread out. */
  backoff(attempt: number): number {
    return Math.floor(this.random() * Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (attempt - 1)));
  }

  private combined(callSignal?: AbortSignal): AbortSignal | undefined {
    const signals = [this.opts.signal, callSignal].filter((s): s is AbortSignal => s !== undefined);
    return signals.length > 1 ? AbortSignal.any(signals) : signals[0];
  }

  /** After attempt number `attempt` failed with err: throws when to stop, else waits the backoff. */
  private async afterFailure(
    op: string,
    key: string | undefined,
    err: unknown,
    attempt: number,
    signal?: AbortSignal,
  ): Promise<void> {
    if (!isTransient(err) || signal?.aborted) throw err;
    const e = err as DrError;
    if (attempt >= this.attempts) {
      if (this.attempts === 1) throw err; // retries off: the error as the backend reported it
      throw new DrError(
        e.code,
        `${e.message} (gave up after ${attempt} attempts)`,
        { ...e.details, attempts: attempt },
        { cause: err },
      );
    }
    const delayMs = this.backoff(attempt);
    this.logger.warn(
      {
        storage: this.location,
        op,
        key,
        code: e.code,
        attempt,
        of: this.attempts,
        delayMs,
        error: e.message,
      },
      'storage: transient failure, retrying',
    );
    try {
      await this.sleep(delayMs, signal);
    } catch (sleepErr) {
      if (isAbortError(sleepErr) || signal?.aborted) {
        throw new DrError(
          'ABORTED',
          `${e.message} (cancelled while waiting to retry)`,
          { transient: false },
          { cause: err },
        );
      }
      throw sleepErr;
    }
  }

  private async run<T>(
    op: string,
    key: string | undefined,
    fn: (opts: OpOptions) => Promise<T>,
    callSignal?: AbortSignal,
  ): Promise<T> {
    const signal = this.combined(callSignal);
    const opts = signal ? { signal } : {};
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn(opts);
      } catch (err) {
        await this.afterFailure(op, key, err, attempt, signal);
      }
    }
  }

  put(key: string, body: Readable, opts: PutOptions = {}): Promise<{ size: number }> {
    const signal = this.combined(opts.signal);
    return this.inner.put(key, body, signal ? { ...opts, signal } : opts);
  }

  get(key: string, opts: OpOptions = {}): Promise<Readable> {
    return this.run('get', key, (o) => this.inner.get(key, o), opts.signal);
  }

  stat(key: string, opts: OpOptions = {}): Promise<ObjectInfo> {
    return this.run('stat', key, (o) => this.inner.stat(key, o), opts.signal);
  }

  async *list(prefix: string, opts: OpOptions = {}): AsyncIterable<ObjectInfo> {
    const signal = this.combined(opts.signal);
    const seen = new Set<string>();
    for (let attempt = 1; ; attempt++) {
      try {
        for await (const o of this.inner.list(prefix, signal ? { signal } : {})) {
          if (seen.has(o.key)) continue;
          seen.add(o.key);
          yield o;
        }
        return;
      } catch (err) {
        await this.afterFailure('list', prefix, err, attempt, signal);
      }
    }
  }

  remove(key: string, opts: OpOptions = {}): Promise<void> {
    return this.run('remove', key, (o) => this.inner.remove(key, o), opts.signal);
  }

  check(opts: OpOptions = {}): Promise<void> {
    return this.run('check', undefined, (o) => this.inner.check(o), opts.signal);
  }

  cleanupIncomplete(prefix: string, olderThanMs: number, opts: OpOptions = {}): Promise<number> {
    return this.run(
      'cleanupIncomplete',
      prefix,
      (o) => this.inner.cleanupIncomplete(prefix, olderThanMs, o),
      opts.signal,
    );
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
