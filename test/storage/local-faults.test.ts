/**
 * file:// faults produced for real: a 2 MiB tmpfs fills up (ENOSPC from the kernel), a directory the
 * process may not write to (EACCES: as root, by dropping the effective uid to nobody for the call,
 * since root ignores permission bits), a missing parent directory, a root that is a file.
 */
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DrError, isDrError } from '../../src/core/errors.js';
import { LocalBackend } from '../../src/storage/local/local-backend.js';
import { tempDir } from '../helpers/tmp.js';
import { randomBody } from './conformance.js';

const MiB = 1024 * 1024;
const NOBODY = 65534;

async function failure(p: Promise<unknown>): Promise<DrError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DrError);
  return err as DrError;
}

async function tempFilesUnder(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).filter((f) => /\.tmp-[0-9a-f]{16}$/.test(f));
}

/** Runs fn with the effective uid of nobody when we are root (root bypasses permission bits). */
async function asUnprivileged<T>(fn: () => Promise<T>): Promise<T> {
  if (process.getuid?.() !== 0 || !process.seteuid) return fn();
  process.seteuid(NOBODY);
  try {
    return await fn();
  } finally {
    process.seteuid(0);
  }
}

describe('file:// faults', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let mnt: string;
  let mounted = false;
  let mountError = '';

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('dr-local-faults-'));
    await chmod(dir, 0o755);
    mnt = path.join(dir, 'tiny');
    await mkdir(mnt);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt], { stdio: 'pipe' });
      mounted = true;
    } catch (err) {
      mountError = String((err as { stderr?: Buffer }).stderr ?? err);
    }
  });

  afterAll(async () => {
    if (mounted) {
      try {
        execFileSync('umount', [mnt], { stdio: 'pipe' });
      } catch {
        execFileSync('umount', ['-l', mnt], { stdio: 'pipe' });
      }
    }
    await cleanup?.();
  });

  it('disk full (a real 2 MiB tmpfs): STORAGE_NO_SPACE, nothing visible, temp file removed', async (ctx) => {
    if (!mounted) {
      console.warn(`disk-full test skipped: cannot mount a tmpfs here (${mountError.trim()})`);
      ctx.skip();
    }
    const b = new LocalBackend(path.join(mnt, 'store'));
    await b.check();
    const err = await failure(b.put('cluster/big.snap.zst', randomBody(4 * MiB).stream));
    expect(err.code).toBe('STORAGE_NO_SPACE');
    expect(err.details.transient).toBe(false);
    expect(err.message).toContain('cluster/big.snap.zst');
    expect(err.message).toContain(mnt);
    expect(err.exitCode).toBe(3);
    const listed: string[] = [];
    for await (const o of b.list('')) listed.push(o.key);
    expect(listed).toEqual([]);
    expect(await tempFilesUnder(mnt)).toEqual([]);
    // The space of the failed put was given back: a 1 MiB object fits again.
    await b.put('cluster/small', randomBody(1 * MiB).stream);
    expect((await b.stat('cluster/small')).size).toBe(1 * MiB);
  });

  it('directory not writable: check() and put() say STORAGE_ACCESS_DENIED, nothing is left', async () => {
    const ro = path.join(dir, 'readonly');
    await mkdir(ro);
    await writeFile(path.join(ro, 'existing'), 'x');
    await chmod(ro, 0o555);
    const b = new LocalBackend(ro);
    const checkErr = await asUnprivileged(() => failure(b.check()));
    expect(checkErr.code).toBe('STORAGE_ACCESS_DENIED');
    expect(checkErr.message).toContain(ro);
    expect(checkErr.details.transient).toBe(false);
    const putErr = await asUnprivileged(() => failure(b.put('obj', Readable.from([Buffer.from('data')]))));
    expect(putErr.code).toBe('STORAGE_ACCESS_DENIED');
    expect(putErr.message).toContain('obj');
    const nested = await asUnprivileged(() =>
      failure(b.put('new/dir/obj', Readable.from([Buffer.from('d')]))),
    );
    expect(nested.code).toBe('STORAGE_ACCESS_DENIED');
    expect(await readdir(ro)).toEqual(['existing']);
    // Reading stays possible, so an operator can still fetch from a read-only archive.
    expect((await asUnprivileged(() => b.stat('existing'))).size).toBe(1);
  });

  it('missing parent directory: check() says STORAGE_NOT_FOUND naming it and creates nothing', async () => {
    const deep = path.join(dir, 'no', 'such', 'parent');
    const b = new LocalBackend(deep);
    const err = await failure(b.check());
    expect(err.code).toBe('STORAGE_NOT_FOUND');
    expect(err.message).toContain(deep);
    expect(await readdir(dir)).not.toContain('no');
    const listErr = await failure(
      (async () => {
        for await (const _ of b.list('')) void _;
      })(),
    );
    expect(listErr.code).toBe('STORAGE_NOT_FOUND');
  });

  it('check() creates the last directory level when its parent exists', async () => {
    const fresh = path.join(dir, 'fresh');
    await new LocalBackend(fresh).check();
    expect(await readdir(dir)).toContain('fresh');
    expect(await tempFilesUnder(fresh)).toEqual([]);
  });

  it('a root that is a file, and a key that is a directory, are not found', async () => {
    const file = path.join(dir, 'plainfile');
    await writeFile(file, 'x');
    expect((await failure(new LocalBackend(file).check())).code).toBe('STORAGE_NOT_FOUND');
    const b = new LocalBackend(path.join(dir, 'withdir'));
    await b.put('a/b', Readable.from([Buffer.from('x')]));
    expect(isDrError(await failure(b.get('a')), 'STORAGE_NOT_FOUND')).toBe(true);
    expect(isDrError(await failure(b.stat('a')), 'STORAGE_NOT_FOUND')).toBe(true);
  });
});
