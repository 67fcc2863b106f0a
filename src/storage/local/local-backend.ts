/**
 * file:// backend: objects are files under one root directory, keys map to relative paths.
 *
 * put writes through core's atomic writer: `<final>.tmp-<random>` beside the final name (same
 * directory, so the rename is atomic on the same file system), fsync, rename, then fsync the directory
 * (and any directory it had to create) so the object survives a power cut the moment put returns. Until the rename nothing is
 * visible; a failed or aborted put removes its temp file. Files are created 0600: snapshots hold
 * every Secret of the cluster.
 */
import { link, mkdir, open, readdir, rm, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { addAbortSignal, type Readable } from 'node:stream';
import { systemClock, type Clock } from '../../core/clock.js';
import { DrError, isAbortError } from '../../core/errors.js';
import { finalNameOf, fsyncDir, isTempName, tempNameFor, writeFileAtomic } from '../../core/safe-file.js';
import type { Backend, ObjectInfo, OpOptions, PutOptions } from '../backend.js';
import { assertValidKey, assertValidPrefix } from '../key.js';
import { checkSignal } from '../cancel.js';
import { classifyStreamErrors } from '../stream-errors.js';
import { fsError } from './fs-errors.js';

export interface LocalBackendOptions {
  /** Ages of temp files are measured against it. @default systemClock */
  clock?: Clock;
}

export class LocalBackend implements Backend {
  readonly location: string;
  private readonly clock: Clock;

  constructor(
    private readonly root: string,
    opts: LocalBackendOptions = {},
  ) {
    if (!path.isAbsolute(root))
      throw new DrError('STORAGE_URL_INVALID', `file: root "${root}" is not absolute`);
    this.root = path.resolve(root);
    this.location = `file://${this.root}`;
    this.clock = opts.clock ?? systemClock;
  }

  private pathOf(key: string): string {
    assertValidKey(key, this.location);
    return path.join(this.root, ...key.split('/'));
  }

  async put(key: string, body: Readable, opts: PutOptions = {}): Promise<{ size: number }> {
    const what = `file: put ${key} in ${this.root}`;
    const { signal, onProgress } = opts;
    let final: string;
    try {
      if (opts.lock) throw lockUnavailable(this.root);
      final = this.pathOf(key);
      if (signal?.aborted) throw new DrError('ABORTED', `${what}: cancelled`, { transient: false });
    } catch (err) {
      body.destroy();
      throw err;
    }
    const dir = path.dirname(final);
    let firstCreated: string | undefined;
    try {
      firstCreated = await mkdir(dir, { recursive: true });
    } catch (err) {
      body.destroy();
      throw fsError(err, what);
    }

    // The body's own failure is rethrown unchanged: its producer (e.g. the snapshot stream) knows what
    // went wrong better than storage does. The writer says which side failed first: a write error
    // (ENOSPC) also shows up later on the body.
    let origin: 'source' | 'file' | undefined;
    try {
      return await writeFileAtomic(final, body, [], {
        signal,
        onProgress,
        // A directory created for this object must itself be made durable in its parent.
        syncDirsUpTo: firstCreated ? path.dirname(firstCreated) : dir,
        // Abort wins until the rename, the commit point.
        beforeCommit: () => {
          if (signal?.aborted) throw new DrError('ABORTED', `${what}: cancelled`, { transient: false });
        },
        onFailure: (side) => {
          origin = side;
        },
      });
    } catch (err) {
      // Checked first: pipeline destroys the body with the AbortError, which then looks like a body error.
      if (signal?.aborted || isAbortError(err)) {
        throw new DrError('ABORTED', `${what}: cancelled`, { transient: false }, { cause: err });
      }
      if (origin === 'source') throw err;
      throw fsError(err, what);
    }
  }

  /**
   * Exclusive create: the data goes to a temp file (fsynced), then link(2) gives it the final name,
   * which fails with EEXIST when the name is taken, atomically, on every local file system.
   */
  async putIfAbsent(key: string, data: Buffer, opts: OpOptions = {}): Promise<boolean> {
    const what = `file: create ${key} in ${this.root}`;
    const final = this.pathOf(key);
    checkSignal(opts.signal, what);
    const dir = path.dirname(final);
    const temp = path.join(dir, tempNameFor(path.basename(final)));
    try {
      // Folders below the root are made as needed; a missing root is a wrong URL, not one to create.
      await stat(this.root);
      await mkdir(dir, { recursive: true });
      const fh = await open(temp, 'wx', 0o600);
      try {
        await fh.writeFile(data);
        await fh.sync();
      } finally {
        await fh.close();
      }
      try {
        await link(temp, final);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
        throw err;
      }
      await fsyncDir(dir);
      return true;
    } catch (err) {
      throw fsError(err, what);
    } finally {
      await rm(temp, { force: true }).catch(() => undefined);
    }
  }

  async get(key: string, opts: OpOptions = {}): Promise<Readable> {
    const file = this.pathOf(key);
    const what = `file: get ${key} in ${this.root}`;
    let fh;
    checkSignal(opts.signal, what);
    try {
      fh = await open(file, 'r');
      if (!(await fh.stat()).isFile()) {
        await fh.close();
        throw new DrError('STORAGE_NOT_FOUND', `${what}: not a file`, { transient: false });
      }
    } catch (err) {
      throw fsError(err, what);
    }
    const stream = classifyStreamErrors(fh.createReadStream(), (err) => fsError(err, `${what} (reading)`));
    return opts.signal ? addAbortSignal(opts.signal, stream) : stream;
  }

  async stat(key: string, opts: OpOptions = {}): Promise<ObjectInfo> {
    const file = this.pathOf(key);
    checkSignal(opts.signal, `file: stat ${key} in ${this.root}`);
    try {
      const st = await stat(file);
      if (!st.isFile()) throw Object.assign(new Error('not a file'), { code: 'ENOENT' });
      return { key, size: st.size, lastModified: st.mtime };
    } catch (err) {
      throw fsError(err, `file: stat ${key} in ${this.root}`);
    }
  }

  async *list(prefix: string, opts: OpOptions = {}): AsyncIterable<ObjectInfo> {
    for await (const { key, file, temp } of this.walkPrefix(prefix, 'list')) {
      if (temp) continue;
      checkSignal(opts.signal, `file: list ${prefix} in ${this.root}`);
      try {
        const st = await stat(file);
        yield { key, size: st.size, lastModified: st.mtime };
      } catch (err) {
        // Removed between readdir and stat: it is simply not there any more.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
          throw fsError(err, `file: list ${key} in ${this.root}`);
      }
    }
  }

  async remove(key: string, opts: OpOptions = {}): Promise<void> {
    const file = this.pathOf(key);
    checkSignal(opts.signal, `file: remove ${key} in ${this.root}`);
    try {
      await unlink(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw fsError(err, `file: remove ${key} in ${this.root}`);
    }
  }

  async check(opts: OpOptions = {}): Promise<void> {
    const what = `file: storage directory ${this.root}`;
    checkSignal(opts.signal, what);
    try {
      const st = await stat(this.root);
      if (!st.isDirectory()) {
        throw new DrError('STORAGE_NOT_FOUND', `${what}: exists but is not a directory`, {
          transient: false,
        });
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fsError(err, what);
      try {
        // Only the last level: a missing parent usually means a typo in the URL, not a fresh setup.
        await mkdir(this.root);
      } catch (mkErr) {
        throw fsError(mkErr, `${what} (creating it; its parent must exist)`);
      }
    }
    // access(W_OK) is not enough (root passes it on a read-only mount): really create a file.
    const probe = path.join(this.root, tempNameFor('.dr-check'));
    try {
      await writeFile(probe, '', { flag: 'wx', mode: 0o600 });
      await unlink(probe);
    } catch (err) {
      await rm(probe, { force: true }).catch(() => undefined);
      throw fsError(err, `${what}: not writable`);
    }
  }

  async cleanupIncomplete(prefix: string, olderThanMs: number, opts: OpOptions = {}): Promise<number> {
    const cutoff = this.clock.now().getTime() - olderThanMs;
    let removed = 0;
    for await (const { file, temp } of this.walkPrefix(prefix, 'cleanup')) {
      if (!temp) continue;
      checkSignal(opts.signal, `file: cleanup in ${this.root}`);
      try {
        const st = await stat(file);
        if (st.mtimeMs > cutoff) continue;
        await unlink(file);
        removed++;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fsError(err, `file: cleanup ${file}`);
      }
    }
    return removed;
  }

  async close(): Promise<void> {}

  /**
   * Files whose key (or, for temp files, whose final key) starts with prefix. Only directories that
   * can hold such keys are read, so listing one cluster's prefix does not walk the whole tree.
   */
  private async *walkPrefix(
    prefix: string,
    op: string,
  ): AsyncGenerator<{ key: string; file: string; temp: boolean }> {
    assertValidPrefix(prefix, this.location);
    try {
      await stat(this.root);
    } catch (err) {
      throw fsError(err, `file: ${op} in storage directory ${this.root}`);
    }
    const root = this.root;
    async function* walk(
      dir: string,
      rel: string,
    ): AsyncGenerator<{ key: string; file: string; temp: boolean }> {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ENOTDIR') return;
        throw fsError(err, `file: ${op} ${dir}`);
      }
      for (const e of entries) {
        const key = rel ? `${rel}/${e.name}` : e.name;
        const file = path.join(dir, e.name);
        if (e.isDirectory()) {
          if (prefix.startsWith(`${key}/`) || `${key}/`.startsWith(prefix)) yield* walk(file, key);
        } else if (e.isFile()) {
          const temp = isTempName(e.name);
          const keyOfObject = finalNameOf(key);
          if (keyOfObject.startsWith(prefix)) yield { key, file, temp };
        }
      }
    }
    yield* walk(root, '');
  }
}

function lockUnavailable(root: string): DrError {
  return new DrError(
    'OBJECT_LOCK_UNAVAILABLE',
    `file: ${root}: a local directory cannot hold an Object Lock; lock backups on an s3:// target with Object Lock enabled`,
    { transient: false },
  );
}
