/**
 * gc re-checks a manifest's absence right before removing an object it believes orphaned: a backup that
 * commits between gc's listing and its removals keeps its data. The commit is injected by a backend
 * wrapper that writes the manifest as soon as the listing has been read to its end, on a real file://
 * directory and a real S3 server (s3rver). An object whose manifest stays absent is still removed, and a
 * manifest of the same id in another cluster's folder saves nothing.
 */
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDrError } from '../../src/core/errors.js';
import { collectStorageGarbage } from '../../src/pipeline/gc.js';
import type { Backend, ObjectInfo, OpOptions } from '../../src/storage/backend.js';
import { openBackend } from '../../src/storage/open-backend.js';
import { startS3rver, type S3rverHandle } from '../helpers/s3rver.js';
import { tempDir } from '../helpers/tmp.js';

const clock = { now: () => new Date(Date.now() + 3600_000) };

/** Runs `afterListing` once a listing has been iterated to its end (the window gc must guard). */
function committingAfterListing(inner: Backend, afterListing: () => Promise<void>): Backend {
  let fired = false;
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'list')
        return async function* (prefix: string, opts?: OpOptions): AsyncIterable<ObjectInfo> {
          yield* target.list(prefix, opts);
          if (!fired) {
            fired = true;
            await afterListing();
          }
        };
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

const put = (b: Backend, key: string, body: string) => b.put(key, Readable.from([Buffer.from(body)]));

async function exists(b: Backend, key: string): Promise<boolean> {
  try {
    await b.stat(key);
    return true;
  } catch (err) {
    if (isDrError(err, 'STORAGE_NOT_FOUND')) return false;
    throw err;
  }
}

const committing = '20260101T000000Z-0000aaaa';
const abandoned = '20260101T000000Z-0000bbbb';

function suite(name: string, open: () => Promise<Backend>): void {
  describe(`gc re-checks the manifest before each removal (${name})`, () => {
    it('keeps the data of a backup committed after the listing, removes a real orphan', async () => {
      const backend = await open();
      try {
        await put(backend, `prod/${committing}.db.zst`, 'data of a backup about to commit');
        await put(backend, `prod/${committing}.manifest.sig`, 'its signature, written first');
        await put(backend, `prod/${abandoned}.db.zst`, 'data of a backup that died');
        // the same id as the abandoned one, in another cluster's folder: it must not save it
        await put(backend, `other/${abandoned}.manifest.json`, '{}');
        const wrapped = committingAfterListing(backend, () =>
          put(backend, `prod/${committing}.manifest.json`, '{"committed":true}').then(() => undefined),
        );
        const r = await collectStorageGarbage(wrapped, {
          clock,
          minAgeMs: 0,
          dryRun: false,
          cluster: 'prod',
        });
        const byKey = new Map(r.orphans.map((o) => [o.key, o]));
        // the listing saw the committing backup's objects as orphans; the re-check saved them
        expect(byKey.get(`prod/${committing}.db.zst`)).toMatchObject({ removed: false, saved: true });
        expect(byKey.get(`prod/${committing}.manifest.sig`)).toMatchObject({ removed: false, saved: true });
        expect(byKey.get(`prod/${abandoned}.db.zst`)).toMatchObject({ removed: true });
        expect(await text(await backend.get(`prod/${committing}.db.zst`))).toBe(
          'data of a backup about to commit',
        );
        expect(await exists(backend, `prod/${committing}.manifest.sig`)).toBe(true);
        expect(await exists(backend, `prod/${abandoned}.db.zst`)).toBe(false);
      } finally {
        await backend.close();
      }
    });
  });
}

let dir: string;
let cleanup: () => Promise<void>;
let s3: S3rverHandle;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  s3 = await startS3rver('dr-gc');
});
afterAll(async () => {
  await s3?.stop();
  await cleanup?.();
});

suite('file://', () => openBackend(`file://${dir}/store`));
suite('s3rver', () => openBackend(s3.url('gc')));
