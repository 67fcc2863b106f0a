import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { DrError, isDrError } from '../../src/core/errors.js';
import type { Backend } from '../../src/storage/backend.js';
import { MemoryBackend } from '../../src/storage/memory/memory-backend.js';
import { withRetry } from '../../src/storage/retry.js';

/** Wraps a backend so that the next `failures` calls of the named operations throw `error`. */
function flaky(
  inner: Backend,
  failures: number,
  error: () => Error,
  ops = ['stat', 'get', 'put', 'list', 'remove'],
) {
  const calls: string[] = [];
  let left = failures;
  const maybeFail = (op: string): void => {
    calls.push(op);
    if (ops.includes(op) && left > 0) {
      left--;
      throw error();
    }
  };
  const b: Backend = {
    location: inner.location,
    put: async (k, body, o) => (maybeFail('put'), inner.put(k, body, o)),
    get: async (k, o) => (maybeFail('get'), inner.get(k, o)),
    stat: async (k) => (maybeFail('stat'), inner.stat(k)),
    async *list(p) {
      let n = 0;
      for await (const o of inner.list(p)) {
        // Fail part-way through, after yielding one object, to check the restart does not repeat it.
        if (n++ === 1) maybeFail('list');
        yield o;
      }
    },
    remove: async (k) => (maybeFail('remove'), inner.remove(k)),
    check: () => inner.check(),
    cleanupIncomplete: (p, a) => inner.cleanupIncomplete(p, a),
    close: () => inner.close(),
  };
  return { b, calls };
}

const transient = () => new DrError('STORAGE_UNREACHABLE', 'test: connection refused', { transient: true });
const permanent = () => new DrError('STORAGE_ACCESS_DENIED', 'test: access denied', { transient: false });

async function seeded(): Promise<MemoryBackend> {
  const m = new MemoryBackend();
  for (const k of ['p/1', 'p/2', 'p/3']) await m.put(k, Readable.from([Buffer.from(k)]));
  return m;
}

describe('withRetry', () => {
  it('retries transient failures with growing, jittered, capped delays and then succeeds', async () => {
    const { b, calls } = flaky(await seeded(), 3, transient);
    const waits: number[] = [];
    const r = withRetry(b, {
      attempts: 5,
      baseDelayMs: 100,
      maxDelayMs: 300,
      random: () => 0.999,
      sleep: async (ms) => void waits.push(ms),
    });
    expect((await r.stat('p/1')).size).toBe(3);
    expect(calls.filter((c) => c === 'stat')).toHaveLength(4);
    expect(waits).toEqual([99, 199, 299]);
  });

  it('draws each delay uniformly below the exponential bound (full jitter)', async () => {
    const { b } = flaky(await seeded(), 2, transient);
    const waits: number[] = [];
    const r = withRetry(b, {
      attempts: 3,
      baseDelayMs: 1000,
      random: () => 0.5,
      sleep: async (ms) => void waits.push(ms),
    });
    await r.stat('p/1');
    expect(waits).toEqual([500, 1000]);
  });

  it('gives up after the configured attempts, keeping the code and saying how many', async () => {
    const { b, calls } = flaky(await seeded(), 10, transient);
    const r = withRetry(b, { attempts: 3, sleep: async () => undefined });
    const err = await r.stat('p/1').catch((e: unknown) => e);
    expect(isDrError(err, 'STORAGE_UNREACHABLE')).toBe(true);
    expect((err as DrError).message).toContain('gave up after 3 attempts');
    expect((err as DrError).details.attempts).toBe(3);
    expect(calls).toHaveLength(3);
  });

  it('does not retry permanent errors', async () => {
    const { b, calls } = flaky(await seeded(), 1, permanent);
    const r = withRetry(b, { attempts: 5, sleep: async () => undefined });
    await expect(r.stat('p/1')).rejects.toMatchObject({ code: 'STORAGE_ACCESS_DENIED' });
    expect(calls).toHaveLength(1);
  });

  it('does not retry put (its body stream is consumed by the failed attempt)', async () => {
    const { b, calls } = flaky(await seeded(), 1, transient);
    const r = withRetry(b, { attempts: 5, sleep: async () => undefined });
    await expect(r.put('p/new', Readable.from([Buffer.from('x')]))).rejects.toMatchObject({
      code: 'STORAGE_UNREACHABLE',
    });
    expect(calls).toEqual(['put']);
  });

  it('stops waiting when the signal aborts, with ABORTED', async () => {
    const { b } = flaky(await seeded(), 10, transient);
    const ac = new AbortController();
    const r = withRetry(b, {
      attempts: 10,
      baseDelayMs: 60_000,
      maxDelayMs: 60_000,
      random: () => 1,
      signal: ac.signal,
    });
    const p = r.stat('p/1').catch((e: unknown) => e);
    setImmediate(() => ac.abort());
    const err = await p;
    expect(isDrError(err, 'ABORTED')).toBe(true);
    expect((err as Error).message).toContain('cancelled while waiting to retry');
  });

  it('honours a per-call signal on get', async () => {
    const { b } = flaky(await seeded(), 10, transient);
    const ac = new AbortController();
    const r = withRetry(b, { attempts: 10, baseDelayMs: 60_000, maxDelayMs: 60_000, random: () => 1 });
    const p = r.get('p/1', { signal: ac.signal }).catch((e: unknown) => e);
    setImmediate(() => ac.abort());
    expect(isDrError(await p, 'ABORTED')).toBe(true);
  });

  it('restarts a listing that failed part-way without yielding an object twice', async () => {
    const { b, calls } = flaky(await seeded(), 1, transient);
    const r = withRetry(b, { attempts: 3, sleep: async () => undefined });
    const keys: string[] = [];
    for await (const o of r.list('p/')) keys.push(o.key);
    expect(keys.sort()).toEqual(['p/1', 'p/2', 'p/3']);
    expect(calls.filter((c) => c === 'list').length).toBeGreaterThanOrEqual(2);
  });
});
