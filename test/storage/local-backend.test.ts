import { mkdir, readdir, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { LocalBackend } from '../../src/storage/local/local-backend.js';
import { tempDir } from '../helpers/tmp.js';
import { testBackend } from './conformance.js';

testBackend('file://', async () => {
  const { dir, cleanup } = await tempDir('dr-local-backend-');
  const root = path.join(dir, 'store');
  return {
    backend: new LocalBackend(root),
    // Temp files as they sit on disk, read around the backend (its list hides them).
    leftovers: async () =>
      (await readdir(dir, { recursive: true })).filter((f) => /\.tmp-[0-9a-f]{16}$/.test(f)),
    plantLeftover: async (key) => {
      const tmp = path.join(root, `${key}.tmp-00112233aabbccdd`);
      await mkdir(path.dirname(tmp), { recursive: true });
      await writeFile(tmp, 'half a snapshot');
      const old = new Date(Date.now() - 10_000);
      await utimes(tmp, old, old);
    },
    teardown: cleanup,
  };
});
