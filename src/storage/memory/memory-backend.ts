/**
 * An in-memory backend for tests and dry runs (unstorage's memory driver). It honours the whole
 * contract (nothing visible before the body ends, aborts leave nothing) but, holding objects in
 * memory, it is not for real snapshots. Not reachable from a --storage URL on purpose.
 */
import { Readable } from 'node:stream';
import { systemClock, type Clock } from '../../core/clock.js';
import { DrError, isAbortError } from '../../core/errors.js';
import type { Backend, ObjectInfo, OpOptions, PutOptions } from '../backend.js';
import { checkSignal } from '../cancel.js';
import { assertValidKey, assertValidPrefix } from '../key.js';

export class MemoryBackend implements Backend {
  readonly location: string;
  private readonly objects = new Map<string, { data: Buffer; lastModified: Date }>();

  constructor(
    name = 'default',
    private readonly clock: Clock = systemClock,
  ) {
    this.location = `memory://${name}`;
  }

  async put(key: string, body: Readable, opts: PutOptions = {}): Promise<{ size: number }> {
    assertValidKey(key, this.location);
    if (opts.lock) {
      body.destroy();
      throw new DrError('OBJECT_LOCK_UNAVAILABLE', `memory: put ${key}: cannot lock objects`, {
        transient: false,
      });
    }
    const cancelled = (): DrError =>
      new DrError('ABORTED', `memory: put ${key}: cancelled`, { transient: false });
    if (opts.signal?.aborted) {
      body.destroy();
      throw cancelled();
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const onAbort = (): void => {
      body.destroy(Object.assign(new Error('cancelled'), { name: 'AbortError' }));
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for await (const chunk of body) {
        const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
        chunks.push(buf);
        size += buf.length;
        opts.onProgress?.(size);
      }
    } catch (err) {
      if (opts.signal?.aborted || isAbortError(err)) throw cancelled();
      throw err;
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
    }
    if (opts.signal?.aborted) throw cancelled();
    this.objects.set(key, { data: Buffer.concat(chunks), lastModified: this.clock.now() });
    return { size };
  }

  async putIfAbsent(key: string, data: Buffer, opts: OpOptions = {}): Promise<boolean> {
    assertValidKey(key, this.location);
    checkSignal(opts.signal, `memory: create ${key}`);
    if (this.objects.has(key)) return false;
    this.objects.set(key, { data: Buffer.from(data), lastModified: this.clock.now() });
    return true;
  }

  async get(key: string, opts: OpOptions = {}): Promise<Readable> {
    checkSignal(opts.signal, `memory: get ${key}`);
    return Readable.from([this.find(key, 'get').data]);
  }

  async stat(key: string, opts: OpOptions = {}): Promise<ObjectInfo> {
    checkSignal(opts.signal, `memory: stat ${key}`);
    const o = this.find(key, 'stat');
    return { key, size: o.data.length, lastModified: o.lastModified };
  }

  async *list(prefix: string, opts: OpOptions = {}): AsyncIterable<ObjectInfo> {
    assertValidPrefix(prefix, this.location);
    for (const [key, o] of [...this.objects]) {
      checkSignal(opts.signal, `memory: list ${prefix}`);
      if (key.startsWith(prefix)) yield { key, size: o.data.length, lastModified: o.lastModified };
    }
  }

  async remove(key: string, opts: OpOptions = {}): Promise<void> {
    assertValidKey(key, this.location);
    checkSignal(opts.signal, `memory: remove ${key}`);
    this.objects.delete(key);
  }

  async check(opts: OpOptions = {}): Promise<void> {
    checkSignal(opts.signal, `memory: check`);
  }

  async cleanupIncomplete(_prefix: string, _olderThanMs: number, opts: OpOptions = {}): Promise<number> {
    checkSignal(opts.signal, `memory: cleanup`);
    return 0;
  }

  async close(): Promise<void> {}

  private find(key: string, op: string): { data: Buffer; lastModified: Date } {
    assertValidKey(key, this.location);
    const o = this.objects.get(key);
    if (!o) {
      throw new DrError('STORAGE_NOT_FOUND', `memory: ${op} ${key}: no such object`, {
        transient: false,
        key,
      });
    }
    return o;
  }
}
