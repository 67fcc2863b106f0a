/**
 * The one conformance suite every storage backend passes (restic's backend tests, unstorage's
 * testDriver). A backend's test file is ten lines: build a fixture, call testBackend.
 *
 * The fixture also says how to look at the storage *around* the backend (temp files on disk,
 * multipart uploads on the server), because "a failed put leaves nothing behind" cannot be checked
 * through the backend's own list, which hides exactly those leftovers.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDrError } from '../../src/core/errors.js';
import type { Backend, ObjectInfo } from '../../src/storage/backend.js';

export interface BackendFixture {
  backend: Backend;
  /** Leftovers of interrupted puts, read from the storage directly (temp files, multipart upload ids). */
  leftovers(): Promise<string[]>;
  /**
   * Leftovers the backend asked the storage to remove and the storage refused. Only for test servers
   * that lack the operation (s3rver has no AbortMultipartUpload); a real target returns [].
   */
  refusedCleanups?(): Promise<string[]>;
  /** Plants a leftover as an interrupted put would, so cleanupIncomplete has something to find. */
  plantLeftover?(key: string): Promise<void>;
  /** Why cleanupIncomplete cannot be exercised against this storage, when it cannot. */
  cleanupUnsupported?: string;
  teardown(): Promise<void>;
}

const MiB = 1024 * 1024;

/** Random bytes, produced lazily in 1 MiB chunks; the digest is known once the stream has ended. */
export function randomBody(
  total: number,
  opts: { failAt?: number; failWith?: Error } = {},
): { stream: Readable; digest: () => string } {
  const hash = createHash('sha256');
  let final: string | undefined;
  async function* gen(): AsyncGenerator<Buffer> {
    let sent = 0;
    while (sent < total) {
      if (opts.failAt !== undefined && sent >= opts.failAt) {
        throw opts.failWith ?? new Error('body failed mid-stream');
      }
      const chunk = randomBytes(Math.min(MiB, total - sent));
      hash.update(chunk);
      sent += chunk.length;
      yield chunk;
    }
    final = hash.digest('hex');
  }
  return {
    stream: Readable.from(gen(), { objectMode: false }),
    digest: () => {
      if (final === undefined) throw new Error('body not fully consumed');
      return final;
    },
  };
}

async function sha256Of(stream: Readable): Promise<{ hex: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const chunk of stream) {
    h.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { hex: h.digest('hex'), size };
}

async function listAll(b: Backend, prefix: string): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = [];
  for await (const o of b.list(prefix)) out.push(o);
  return out.sort((x, y) => x.key.localeCompare(y.key));
}

async function expectDrError(p: Promise<unknown>, code: string, mentions?: string): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `expected a DrError ${code}`).toBeDefined();
  expect(isDrError(err) ? err.code : err).toBe(code);
  if (mentions) expect((err as Error).message).toContain(mentions);
}

export function testBackend(name: string, factory: () => Promise<BackendFixture>): void {
  describe(`storage backend conformance: ${name}`, () => {
    let fx: BackendFixture;
    let b: Backend;

    beforeAll(async () => {
      fx = await factory();
      b = fx.backend;
    });
    afterAll(async () => {
      await fx?.backend.close();
      await fx?.teardown();
    });

    async function expectNoLeftovers(): Promise<void> {
      const left = await fx.leftovers();
      const refused = (await fx.refusedCleanups?.()) ?? [];
      // Whatever is left must be something the backend tried to remove and the storage refused.
      expect(left.filter((l) => !refused.includes(l))).toEqual([]);
    }

    it('check() accepts the target', async () => {
      await b.check();
    });

    it('round-trips a 24 MiB random stream (multipart-sized) byte for byte', async () => {
      const body = randomBody(24 * MiB);
      let progress = 0;
      const res = await b.put('round/trip.bin', body.stream, { onProgress: (n) => (progress = n) });
      expect(res.size).toBe(24 * MiB);
      expect(progress).toBe(24 * MiB);
      const back = await sha256Of(await b.get('round/trip.bin'));
      expect(back.size).toBe(24 * MiB);
      expect(back.hex).toBe(body.digest());
      await expectNoLeftovers();
    });

    it('round-trips an empty object and overwrites an existing key', async () => {
      await b.put('small/empty', Readable.from([]));
      expect((await b.stat('small/empty')).size).toBe(0);
      expect((await sha256Of(await b.get('small/empty'))).size).toBe(0);
      await b.put('small/over', Readable.from([Buffer.from('first version')]));
      await b.put('small/over', Readable.from([Buffer.from('second')]));
      const chunks: Buffer[] = [];
      for await (const c of await b.get('small/over')) chunks.push(c as Buffer);
      expect(Buffer.concat(chunks).toString()).toBe('second');
    });

    it('putIfAbsent, where the backend has it, creates once and then reports the key taken', async () => {
      // a backend without conditional writes says so by not having the operation (lease.ts falls back)
      if (!b.putIfAbsent) return;
      expect(await b.putIfAbsent('cond/lease', Buffer.from('first'))).toBe(true);
      expect(await b.putIfAbsent('cond/lease', Buffer.from('second'))).toBe(false);
      expect((await sha256Of(await b.get('cond/lease'))).size).toBe(5);
      await b.remove('cond/lease');
      expect(await b.putIfAbsent('cond/lease', Buffer.from('third'))).toBe(true);
      await b.remove('cond/lease');
      await expectNoLeftovers();
    });

    it('a put asking for an Object Lock the backend cannot give is refused, not stored unlocked', async () => {
      if (b.checkObjectLock) return; // a locking backend is tested against its server (s3-object-lock.test.ts)
      const lock = { mode: 'governance' as const, retainUntil: new Date(Date.now() + 86_400_000) };
      await expect(b.put('locked/x', Readable.from([Buffer.from('x')]), { lock })).rejects.toMatchObject({
        code: 'OBJECT_LOCK_UNAVAILABLE',
      });
      await expect(b.stat('locked/x')).rejects.toMatchObject({ code: 'STORAGE_NOT_FOUND' });
    });

    it('stat reports size and modification time', async () => {
      const before = Date.now();
      await b.put('stat/one', Readable.from([Buffer.alloc(1234, 1)]));
      const info = await b.stat('stat/one');
      expect(info.key).toBe('stat/one');
      expect(info.size).toBe(1234);
      expect(info.lastModified).toBeInstanceOf(Date);
      // S3 keeps whole seconds; allow for that and for clock skew between test and server.
      expect(Math.abs(info.lastModified.getTime() - before)).toBeLessThan(10 * 60_000);
    });

    it('lists by prefix, relative to the root, including nested "directories"', async () => {
      for (const k of ['ls/a/1', 'ls/a/2', 'ls/a/deep/er/3', 'ls/ab/4', 'ls/b/5']) {
        await b.put(k, Readable.from([Buffer.from(k)]));
      }
      const keys = async (p: string): Promise<string[]> => (await listAll(b, p)).map((o) => o.key);
      expect(await keys('ls/a/')).toEqual(['ls/a/1', 'ls/a/2', 'ls/a/deep/er/3']);
      expect(await keys('ls/a')).toEqual(['ls/a/1', 'ls/a/2', 'ls/a/deep/er/3', 'ls/ab/4']);
      expect(await keys('ls/')).toHaveLength(5);
      expect(await keys('ls/nothing/')).toEqual([]);
      const one = (await listAll(b, 'ls/b/'))[0];
      expect(one?.size).toBe('ls/b/5'.length);
      expect((await keys('')).filter((k) => k.startsWith('ls/'))).toHaveLength(5);
    });

    it('remove deletes and is idempotent', async () => {
      await b.put('rm/x', Readable.from([Buffer.from('x')]));
      await b.remove('rm/x');
      await expectDrError(b.stat('rm/x'), 'STORAGE_NOT_FOUND');
      expect(await listAll(b, 'rm/')).toEqual([]);
      await b.remove('rm/x');
      await b.remove('rm/never/existed');
    });

    it('get and stat of a missing key throw STORAGE_NOT_FOUND naming the key', async () => {
      await expectDrError(b.get('missing/key.bin'), 'STORAGE_NOT_FOUND', 'missing/key.bin');
      await expectDrError(b.stat('missing/key.bin'), 'STORAGE_NOT_FOUND', 'missing/key.bin');
    });

    it('rejects keys that could escape the root or hide as temporaries', async () => {
      for (const bad of ['../escape', 'a//b', '/abs', 'a/./b', 'x.tmp-0123456789abcdef', '']) {
        await expect(b.put(bad, Readable.from([Buffer.from('no')]))).rejects.toThrow(/invalid key/);
      }
    });

    it('a put whose body fails mid-stream (after 20 MiB) rejects with that error and leaves nothing', async () => {
      const boom = new Error('snapshot stream broke');
      const body = randomBody(40 * MiB, { failAt: 20 * MiB, failWith: boom });
      const err = await b.put('fail/mid.bin', body.stream).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBe(boom);
      await expectDrError(b.stat('fail/mid.bin'), 'STORAGE_NOT_FOUND');
      expect(await listAll(b, 'fail/')).toEqual([]);
      await expectNoLeftovers();
    });

    it('an aborted put (AbortSignal after 18 MiB) rejects ABORTED and leaves nothing', async () => {
      const ac = new AbortController();
      const body = randomBody(200 * MiB);
      const err = await b
        .put('abort/me.bin', body.stream, {
          signal: ac.signal,
          onProgress: (n) => {
            if (n >= 18 * MiB) ac.abort();
          },
        })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(isDrError(err, 'ABORTED'), String(err)).toBe(true);
      await expectDrError(b.stat('abort/me.bin'), 'STORAGE_NOT_FOUND');
      expect(await listAll(b, 'abort/')).toEqual([]);
      await expectNoLeftovers();
    });

    it('a put with an already-aborted signal writes nothing', async () => {
      const ac = new AbortController();
      ac.abort();
      await expectDrError(
        b.put('abort/early', Readable.from([Buffer.from('x')]), { signal: ac.signal }),
        'ABORTED',
      );
      await expectDrError(b.stat('abort/early'), 'STORAGE_NOT_FOUND');
    });

    it('every operation with an already-aborted signal rejects ABORTED and changes nothing', async () => {
      await b.put('signal/kept', Readable.from([Buffer.from('kept')]));
      const ctl = new AbortController();
      ctl.abort(new Error('SIGTERM')); // the CLI aborts with a plain Error, not an AbortError
      const signal = ctl.signal;
      await expectDrError(b.get('signal/kept', { signal }), 'ABORTED');
      await expectDrError(b.stat('signal/kept', { signal }), 'ABORTED');
      await expectDrError(
        listAll({ ...b, list: (p: string) => b.list(p, { signal }) }, 'signal/'),
        'ABORTED',
      );
      await expectDrError(b.remove('signal/kept', { signal }), 'ABORTED');
      await expectDrError(b.check({ signal }), 'ABORTED');
      expect((await b.stat('signal/kept')).size).toBe(4);
      await b.remove('signal/kept');
    });

    it('cleanupIncomplete removes old leftovers and keeps young ones', async () => {
      if (fx.cleanupUnsupported || !fx.plantLeftover) {
        // Still must fail cleanly (a DrError), not crash or hang.
        const err = await b.cleanupIncomplete('', 0).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err === undefined || isDrError(err), String(err)).toBe(true);
        console.warn(
          `[${name}] cleanupIncomplete not exercised: ${fx.cleanupUnsupported ?? 'no plantLeftover'}`,
        );
        return;
      }
      const before = (await fx.leftovers()).length;
      await fx.plantLeftover('cleanup/interrupted.bin');
      expect((await fx.leftovers()).length).toBe(before + 1);
      expect(await b.cleanupIncomplete('cleanup/', 60 * 60_000)).toBe(0);
      expect(await b.cleanupIncomplete('other/', 0)).toBe(0);
      expect(await b.cleanupIncomplete('cleanup/', 0)).toBe(1);
      expect((await fx.leftovers()).length).toBe(before);
    });
  });
}
