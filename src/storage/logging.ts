/**
 * Logging wrapper: one debug line per storage operation, with the backend's location (credentials
 * already stripped by the backend), the key, the duration and the outcome. Errors are logged at debug
 * too: whoever catches them decides how loud to be.
 */
import type { Readable } from 'node:stream';
import { isDrError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Backend, ObjectInfo, OpOptions, PutOptions } from './backend.js';

export function withLogging(inner: Backend, logger: Logger): Backend {
  return new LoggingBackend(inner, logger);
}

class LoggingBackend implements Backend {
  readonly location: string;
  readonly checkObjectLock?: (opts?: OpOptions) => Promise<void>;
  readonly putIfAbsent?: (key: string, data: Buffer, opts?: OpOptions) => Promise<boolean>;

  constructor(
    private readonly inner: Backend,
    private readonly logger: Logger,
  ) {
    this.location = inner.location;
    const checkObjectLock = inner.checkObjectLock?.bind(inner);
    const putIfAbsent = inner.putIfAbsent?.bind(inner);
    if (checkObjectLock) {
      this.checkObjectLock = (o?: OpOptions) =>
        this.logged('checkObjectLock', undefined, () => checkObjectLock(o));
    }
    if (putIfAbsent) {
      this.putIfAbsent = (key: string, data: Buffer, o?: OpOptions) =>
        this.logged(
          'putIfAbsent',
          key,
          () => putIfAbsent(key, data, o),
          (created) => ({ created }),
        );
    }
  }

  private async logged<T>(
    op: string,
    key: string | undefined,
    fn: () => Promise<T>,
    describe: (r: T) => Record<string, unknown> = () => ({}),
  ): Promise<T> {
    const t0 = performance.now();
    try {
      const r = await fn();
      this.logger.debug({ storage: this.location, op, key, ms: ms(t0), ...describe(r) }, 'storage op');
      return r;
    } catch (err) {
      this.logger.debug(
        {
          storage: this.location,
          op,
          key,
          ms: ms(t0),
          code: isDrError(err) ? err.code : undefined,
          error: err instanceof Error ? err.message : String(err),
        },
        'storage op failed',
      );
      throw err;
    }
  }

  put(key: string, body: Readable, opts?: PutOptions): Promise<{ size: number }> {
    return this.logged(
      'put',
      key,
      () => this.inner.put(key, body, opts),
      (r) => ({ size: r.size }),
    );
  }

  get(key: string, opts?: OpOptions): Promise<Readable> {
    return this.logged('get', key, () => this.inner.get(key, opts));
  }

  stat(key: string, opts?: OpOptions): Promise<ObjectInfo> {
    return this.logged(
      'stat',
      key,
      () => this.inner.stat(key, opts),
      (r) => ({ size: r.size }),
    );
  }

  async *list(prefix: string, opts?: OpOptions): AsyncIterable<ObjectInfo> {
    const t0 = performance.now();
    let count = 0;
    try {
      for await (const o of this.inner.list(prefix, opts)) {
        count++;
        yield o;
      }
      this.logger.debug({ storage: this.location, op: 'list', prefix, count, ms: ms(t0) }, 'storage op');
    } catch (err) {
      this.logger.debug(
        {
          storage: this.location,
          op: 'list',
          prefix,
          count,
          ms: ms(t0),
          code: isDrError(err) ? err.code : undefined,
          error: err instanceof Error ? err.message : String(err),
        },
        'storage op failed',
      );
      throw err;
    }
  }

  remove(key: string, opts?: OpOptions): Promise<void> {
    return this.logged('remove', key, () => this.inner.remove(key, opts));
  }

  check(opts?: OpOptions): Promise<void> {
    return this.logged('check', undefined, () => this.inner.check(opts));
  }

  cleanupIncomplete(prefix: string, olderThanMs: number, opts?: OpOptions): Promise<number> {
    return this.logged(
      'cleanupIncomplete',
      prefix,
      () => this.inner.cleanupIncomplete(prefix, olderThanMs, opts),
      (removed) => ({ removed }),
    );
  }

  close(): Promise<void> {
    return this.logged('close', undefined, () => this.inner.close());
  }
}

function ms(t0: number): number {
  return Math.round(performance.now() - t0);
}
