import { mkdtemp, readFile, readdir, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable, Transform } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { isTempName, writeFileAtomic, writeTextAtomic } from '../../src/core/safe-file.js';

async function tmpDir(): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), 'safe-file-'));
}

describe('writeFileAtomic', () => {
  it('writes the whole file with mode 0600 and leaves no temp file', async () => {
    const dir = await tmpDir();
    const target = path.join(dir, 'out.db');
    const { size } = await writeFileAtomic(
      target,
      Readable.from([Buffer.from('hello '), Buffer.from('world')]),
      [],
    );
    expect(size).toBe(11);
    expect(await readFile(target, 'utf8')).toBe('hello world');
    expect((await stat(target)).mode & 0o777).toBe(0o600);
    expect(await readdir(dir)).toEqual(['out.db']);
  });

  it('never shows the target when beforeCommit throws, and removes its temp file', async () => {
    const dir = await tmpDir();
    const target = path.join(dir, 'out.db');
    await expect(
      writeFileAtomic(target, Readable.from([Buffer.from('x')]), [], {
        beforeCommit: () => {
          throw new Error('bad digest');
        },
      }),
    ).rejects.toThrow('bad digest');
    expect(await readdir(dir)).toEqual([]);
  });

  it("says the source failed first when the source's own error is thrown", async () => {
    const dir = await tmpDir();
    const source = new PassThrough();
    const sides: string[] = [];
    const done = writeFileAtomic(path.join(dir, 'out.db'), source, [], { onFailure: (s) => sides.push(s) });
    source.write('partial');
    source.destroy(new Error('stream cut'));
    await expect(done).rejects.toThrow('stream cut');
    expect(sides).toEqual(['source']);
    expect(await readdir(dir)).toEqual([]);
  });

  it('counts a failing stage as the source side', async () => {
    const dir = await tmpDir();
    const stage = new Transform({
      transform(_chunk, _enc, cb) {
        cb(new Error('decompress failed'));
      },
    });
    const sides: string[] = [];
    await expect(
      writeFileAtomic(path.join(dir, 'out.db'), Readable.from([Buffer.from('x')]), [stage], {
        onFailure: (s) => sides.push(s),
      }),
    ).rejects.toThrow('decompress failed');
    expect(sides).toEqual(['source']);
  });

  it('says the file failed when its directory does not exist', async () => {
    const dir = await tmpDir();
    const sides: string[] = [];
    await expect(
      writeFileAtomic(path.join(dir, 'missing', 'out.db'), Readable.from([Buffer.from('x')]), [], {
        onFailure: (s) => sides.push(s),
      }),
    ).rejects.toMatchObject({ code: 'ENOENT' });
    expect(sides).toEqual(['file']);
  });
});

describe('writeTextAtomic', () => {
  it('replaces a document whole', async () => {
    const dir = await tmpDir();
    const target = path.join(dir, 'journal.json');
    await writeTextAtomic(target, '{"a":1}\n');
    await writeTextAtomic(target, '{"a":2}\n');
    expect(await readFile(target, 'utf8')).toBe('{"a":2}\n');
    expect((await readdir(dir)).filter(isTempName)).toEqual([]);
  });
});
