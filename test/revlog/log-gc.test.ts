/**
 * `dr gc` and the daemon's clean-up for the revision log, on a real file:// directory: a segment's data
 * object or signature without its manifest (a writer killed between its puts) is removed once older than
 * the minimum age, and kept while younger (a writer's segment in flight) or in a dry run; committed
 * segments, their signatures, gap records and full backups are never touched.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/core/logger.js';
import { leasedGc } from '../../src/jobs/leased.js';
import { collectLogGarbage } from '../../src/revlog/log-gc.js';
import { gapKey, segmentDataKey, segmentManifestKey, segmentSignatureKey } from '../../src/revlog/layout.js';
import type { Backend } from '../../src/storage/backend.js';
import { openBackend } from '../../src/storage/open-backend.js';
import { tempDir } from '../helpers/tmp.js';

const later = { now: () => new Date(Date.now() + 3600_000) };
const put = (b: Backend, key: string) => b.put(key, Readable.from([Buffer.from('x')]));

async function keys(b: Backend): Promise<string[]> {
  const out: string[] = [];
  for await (const o of b.list('')) out.push(o.key);
  return out.sort();
}

describe('gc of the revision log', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let backend: Backend;
  const committed = [
    segmentDataKey('prod', 10n, 19n, false),
    segmentSignatureKey('prod', 10n, 19n),
    segmentManifestKey('prod', 10n, 19n),
    gapKey('prod', 5n, new Date('2026-12-01T00:00:00Z')),
    'prod/20261201T000000Z-aaaaaaaa.manifest.json',
  ];
  const leftovers = [segmentDataKey('prod', 20n, 29n, true), segmentSignatureKey('prod', 20n, 29n)];

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('dr-log-gc-'));
    await mkdir(path.join(dir, 'store'));
    backend = await openBackend(`file://${path.join(dir, 'store')}`);
  });
  afterAll(async () => {
    await backend?.close();
    await cleanup?.();
  });

  it('keeps young leftovers and everything in a dry run; removes old leftovers only', async () => {
    for (const k of [...committed, ...leftovers]) await put(backend, k);
    const young = await collectLogGarbage(backend, {
      clock: { now: () => new Date() },
      minAgeMs: 600_000,
      dryRun: false,
    });
    expect(young.map((o) => [o.key, o.removed])).toEqual(leftovers.map((k) => [k, false]));
    const dry = await collectLogGarbage(backend, { clock: later, minAgeMs: 600_000, dryRun: true });
    expect(dry.every((o) => !o.removed)).toBe(true);
    expect(await keys(backend)).toEqual([...committed, ...leftovers].sort());

    // through dr gc's path (the backups' leftovers and the log's, under the pruners' lease)
    const r = await leasedGc(backend, {
      clock: later,
      logger: silentLogger,
      minAgeMs: 600_000,
      dryRun: false,
      cluster: 'prod',
    });
    expect(
      r.orphans
        .filter((o) => o.removed)
        .map((o) => o.key)
        .sort(),
    ).toEqual([...leftovers].sort());
    expect((await keys(backend)).filter((k) => !k.endsWith('.dr-lease.json'))).toEqual([...committed].sort());
  });
});
