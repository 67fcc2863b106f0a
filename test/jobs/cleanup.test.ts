/**
 * The daemon's scheduled clean-up (src/jobs/cleanup.ts) on a real file:// target: temp files of killed
 * puts and data objects without a manifest are removed once older than the longest backup could run;
 * a backup (data + manifest), a young temp file and a young orphan are left alone; the minimum age grows
 * with the longest backup the catalog has seen; a failing target is reported, not thrown; stop() ends a
 * run in flight.
 */
import { mkdir, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Catalog } from '../../src/catalog/catalog.js';
import { silentLogger } from '../../src/core/logger.js';
import { cleanupLeftovers, LeftoverCleaner, leftoverMinAgeMs, MIN_AGE_MS } from '../../src/jobs/cleanup.js';
import type { StorageTarget } from '../../src/storage/backend.js';
import type { Manifest } from '../../src/manifest/manifest.js';
import type { Backend } from '../../src/storage/backend.js';
import { openBackend } from '../../src/storage/open-backend.js';
import { filesBelow } from '../helpers/dr.js';
import { tempDir } from '../helpers/tmp.js';

const HOUR = 3600_000;
const clock = { now: () => new Date() };

function manifest(id: string, durationMs: number): Manifest {
  return {
    formatVersion: 1,
    id,
    clusterName: 'prod',
    policy: 'hourly',
    createdAt: new Date().toISOString(),
    completedAt: new Date().toISOString(),
    durationMs,
    source: {
      endpoint: 'http://127.0.0.1:1',
      memberId: '1',
      memberName: 'm0',
      isLeader: true,
      clusterId: '2',
      etcdVersion: '3.4.23',
      raftIndex: '1',
      raftTerm: '1',
    },
    snapshot: {
      revision: '1',
      totalKeys: 1,
      liveKeys: 1,
      hash: 1,
      dbSize: 1,
      sha256: 'x',
      etcdSha256: 'x',
      size: 33,
      consistentIndex: null,
    },
    stored: {
      key: `prod/${id}.db.zst`,
      size: 1,
      sha256: 'x',
      compression: 'zstd',
      compressionLevel: 1,
      encryption: null,
    },
    tool: { name: 'etcd-dr', version: '0.0.0' },
  };
}

describe('scheduled clean-up of leftovers', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let root: string;
  let backend: Backend;
  let catalog: Catalog;
  let target: StorageTarget;

  async function file(rel: string, ageMs: number): Promise<void> {
    const p = path.join(root, rel);
    await mkdir(path.dirname(p), { recursive: true });
    await writeFile(p, 'x');
    const t = new Date(Date.now() - ageMs);
    await utimes(p, t, t);
  }

  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir());
    root = path.join(dir, 'backups');
    await mkdir(root);
    backend = await openBackend(`file://${root}`);
    catalog = Catalog.open(path.join(dir, 'catalog.sqlite'));
    target = { name: 'local', backend };
    // a committed backup, old: never touched
    await file('prod/20260101T000000Z-aaaaaaaa.db.zst', 10 * HOUR);
    await file('prod/20260101T000000Z-aaaaaaaa.manifest.json', 10 * HOUR);
    // leftovers of killed backups: a temp file and a data object without manifest, both 2 h old
    await file('prod/20260102T000000Z-bbbbbbbb.db.zst.tmp-0123456789abcdef', 2 * HOUR);
    await file('prod/20260103T000000Z-cccccccc.db.zst', 2 * HOUR);
    // the same, young: a backup may still be writing them
    await file('prod/20260104T000000Z-dddddddd.db.zst.tmp-fedcba9876543210', 60_000);
    await file('prod/20260105T000000Z-eeeeeeee.db.zst', 60_000);
  });
  afterEach(async () => {
    catalog.close();
    await backend.close();
    await cleanup();
  });

  it('removes old leftovers, keeps backups and young leftovers', async () => {
    expect(leftoverMinAgeMs(catalog, backend.location)).toBe(MIN_AGE_MS);
    const [report] = await cleanupLeftovers({ catalog, logger: silentLogger, clock }, [target]);
    expect(report?.error).toBeUndefined();
    expect(report?.result?.incompleteUploadsRemoved).toBe(1);
    expect(report?.result?.orphans.filter((o) => o.removed).map((o) => o.key)).toEqual([
      'prod/20260103T000000Z-cccccccc.db.zst',
    ]);
    expect(filesBelow(root).sort()).toEqual([
      'prod/20260101T000000Z-aaaaaaaa.db.zst',
      'prod/20260101T000000Z-aaaaaaaa.manifest.json',
      'prod/20260104T000000Z-dddddddd.db.zst.tmp-fedcba9876543210',
      'prod/20260105T000000Z-eeeeeeee.db.zst',
    ]);
  });

  it('waits longer when a backup of this target once took long: twice the longest one', async () => {
    catalog.upsertBackup(backend.location, manifest('20260101T000000Z-aaaaaaaa', 90 * 60_000));
    expect(leftoverMinAgeMs(catalog, backend.location)).toBe(3 * HOUR);
    await cleanupLeftovers({ catalog, logger: silentLogger, clock }, [target]);
    // 2 h old is younger than 3 h: kept
    expect(filesBelow(root)).toHaveLength(6);
  });

  it('a failing target is reported and skipped; the others are cleaned', async () => {
    const broken: StorageTarget = {
      name: 'gone',
      backend: await openBackend(`file://${path.join(dir, 'missing', 'deeper')}`),
    };
    const reports = await cleanupLeftovers({ catalog, logger: silentLogger, clock }, [broken, target]);
    expect(reports.map((r) => r.storage)).toEqual(['gone', 'local']);
    expect(reports[0]?.error?.code).toBe('STORAGE_NOT_FOUND');
    expect(reports[1]?.result?.incompleteUploadsRemoved).toBe(1);
  });

  it('LeftoverCleaner runs on its schedule, holds the runtime while it runs, and stops', async () => {
    let uses = 0;
    let releases = 0;
    const cleaner = new LeftoverCleaner({ catalog, logger: silentLogger, clock }, () => {
      uses++;
      return { targets: [target], release: () => releases++ };
    }).start(60_000, 10);
    for (let i = 0; i < 200 && releases === 0; i++) await new Promise((r) => setTimeout(r, 25));
    expect(uses).toBe(1);
    expect(releases).toBe(1);
    expect(filesBelow(root)).toHaveLength(4);
    await cleaner.stop();
    expect(await cleaner.runOnce()).toEqual([]); // stopped: no further runs
  });

  it('stop() cancels a run in flight', async () => {
    let sawSignal: AbortSignal | undefined;
    // the real backend (its lease operations work) with a listing that hangs
    const hanging: Backend = Object.assign(Object.create(backend) as Backend, {
      list: (_prefix: string, opts?: { signal?: AbortSignal }) => {
        sawSignal = opts?.signal;
        // a listing whose first page never comes
        return {
          [Symbol.asyncIterator]: () => ({
            next: () =>
              new Promise<IteratorResult<never>>((_, reject) =>
                opts?.signal?.addEventListener('abort', () => reject(new Error('cancelled'))),
              ),
          }),
        };
      },
    });
    const cleaner = new LeftoverCleaner({ catalog, logger: silentLogger, clock }, () => ({
      targets: [{ name: 'hanging', backend: hanging }],
      release: () => undefined,
    }));
    const run = cleaner.runOnce();
    for (let i = 0; i < 100 && !sawSignal; i++) await new Promise((r) => setTimeout(r, 10));
    expect(sawSignal).toBeDefined();
    await cleaner.stop();
    const [report] = await run;
    expect(report?.error).toBeDefined();
    expect(sawSignal?.aborted).toBe(true);
  });
});
