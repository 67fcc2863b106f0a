/**
 * The revision log writer and reader against a real etcd member and file:// storage: revisions grouped
 * as etcd wrote them (a transaction of several keys is one record), deletes, leases with their granted
 * TTL, HashKV checkpoints equal to the member's, segments that chain; a restart that resumes the chain
 * with no gap and no duplicate; a compaction while the writer is down recorded as a gap and a new chain;
 * backpressure when storage is slow; a tampered object or manifest found by the reader.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/core/clock.js';
import { DrError, isDrError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/logger.js';
import { createEtcdClient, type EtcdClient } from '../../src/etcd/client.js';
import { followRevisionLog, type FollowOptions, type FollowResult } from '../../src/revlog/follow-log.js';
import { writeGapRecord } from '../../src/revlog/gap.js';
import { listLog, readSegmentRecords } from '../../src/revlog/log-reader.js';
import { countingObserver } from '../../src/revlog/revlog-metrics.js';
import type { RevisionRecord } from '../../src/revlog/segment-format.js';
import type { Backend } from '../../src/storage/backend.js';
import { openBackend } from '../../src/storage/open-backend.js';
import { startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';
import { backendView } from '../helpers/backend-view.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/until.js';

const CLUSTER = 'prod';

describe('revision log writer and reader (real etcd, file://)', () => {
  let c: TestCluster;
  let etcd: EtcdClient;
  let backend: Backend;
  let dir: string;
  let cleanup: () => Promise<void>;
  let firstRev: bigint;

  /** Runs the writer until `until` holds, then stops it and returns what it did. */
  async function follow(
    opts: Partial<FollowOptions>,
    work: (counters: ReturnType<typeof countingObserver>['counters']) => Promise<void>,
    store: Backend = backend,
  ): Promise<{ result: FollowResult; counters: ReturnType<typeof countingObserver>['counters'] }> {
    const stop = new AbortController();
    const observer = countingObserver();
    const running = followRevisionLog(
      { etcd, backend: store, logger: silentLogger, clock: systemClock, observer },
      { clusterName: CLUSTER, segmentSeconds: 1, checkpointEverySeconds: 1, signal: stop.signal, ...opts },
    );
    running.catch(() => undefined);
    try {
      await work(observer.counters);
    } finally {
      stop.abort();
    }
    return { result: await running, counters: observer.counters };
  }

  async function allRecords(): Promise<RevisionRecord[]> {
    const log = await listLog(backend, CLUSTER);
    const out: RevisionRecord[] = [];
    for (const s of log.segments) for await (const r of readSegmentRecords(backend, s)) out.push(r);
    return out;
  }

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('dr-revlog-'));
    c = await startTestCluster({ size: 1 });
    etcd = createEtcdClient({ endpoints: c.endpoints });
    await mkdir(path.join(dir, 'store'));
    backend = await openBackend(`file://${path.join(dir, 'store')}`);
    firstRev = (await etcd.put('/seed', 'x')) + 1n;
  }, 120_000);
  afterAll(async () => {
    etcd?.close();
    await c?.stop();
    await cleanup?.();
  });

  it('refuses to start without a log, a full backup or --from-rev', async () => {
    const err = await followRevisionLog(
      { etcd, backend, logger: silentLogger, clock: systemClock },
      { clusterName: CLUSTER },
    ).catch((e: unknown) => e);
    expect(isDrError(err, 'REVLOG_NOT_FOUND')).toBe(true);
  });

  it('logs every revision as etcd wrote it, in chained segments with checkpoints and leases', async () => {
    let last = 0n;
    let txnRev = 0n;
    let lease = 0n;
    const { result } = await follow({ fromRevision: firstRev }, async (counters) => {
      await etcd.put('/a', '1');
      txnRev = await etcd.txnPuts([
        { key: '/t/1', value: 'x' },
        { key: '/t/2', value: 'y' },
        { key: '/t/3', value: 'z' },
      ]);
      lease = await etcd.leaseGrant(600);
      await etcd.put('/leased', 'v', { lease });
      await new Promise((r) => setTimeout(r, 1500)); // a segment closes in between
      await etcd.delete('/t/', { prefix: true });
      last = await etcd.put('/a', '2');
      await until(
        'the last write committed',
        () => counters.committedRevision >= last && counters.checkpoints > 0,
        30_000,
      );
    });
    expect(result.startedAt).toBe(firstRev);
    expect(result.committedRevision).toBe(last);
    expect(result.gaps).toEqual([]);

    const log = await listLog(backend, CLUSTER);
    expect(log.problems).toEqual([]);
    expect(log.chains).toHaveLength(1);
    expect(log.segments.length).toBeGreaterThanOrEqual(2);
    const recs = await allRecords();
    // every revision from the start, once, in order
    expect(recs.map((r) => r.revision)).toEqual(
      Array.from({ length: Number(last - firstRev + 1n) }, (_, i) => firstRev + BigInt(i)),
    );
    const txn = recs.find((r) => r.revision === txnRev)!;
    expect(txn.events.map((e) => [e.type, e.key.toString(), e.value.toString()])).toEqual([
      ['PUT', '/t/1', 'x'],
      ['PUT', '/t/2', 'y'],
      ['PUT', '/t/3', 'z'],
    ]);
    const del = recs.find((r) => r.events[0]!.type === 'DELETE')!;
    expect(del.events.map((e) => e.key.toString()).sort()).toEqual(['/t/1', '/t/2', '/t/3']);
    const leased = recs.flatMap((r) => r.events).find((e) => e.key.toString() === '/leased')!;
    expect(leased.lease).toBe(lease);
    expect(recs.at(-1)!.events[0]).toMatchObject({ type: 'PUT', version: 2n, modRevision: last });

    const manifests = log.segments.map((s) => s.manifest);
    const leases = manifests.flatMap((m) => m.leases);
    expect(leases).toEqual([
      { id: lease.toString(16), firstSeenRevision: expect.any(String), grantedTtl: 600 },
    ]);
    const checkpoints = manifests.flatMap((m) => m.checkpoints);
    expect(checkpoints.length).toBeGreaterThan(0);
    for (const cp of checkpoints) {
      const h = await etcd.hashKV(c.endpoints[0]!, BigInt(cp.revision));
      expect(cp.hashKV).toBe(h.hash);
    }
    // each manifest names the one before it
    for (let i = 1; i < log.segments.length; i++)
      expect(log.segments[i]!.manifest.prevSha256).toBe(log.segments[i - 1]!.sha256);
    expect(log.segments[0]!.manifest.prevSha256).toBeNull();
  });

  it('resumes after the chain head: same chain, no gap, no duplicate', async () => {
    const before = await listLog(backend, CLUSTER);
    const head = before.segments.at(-1)!.manifest;
    let last = 0n;
    const { result } = await follow({ fromRevision: 1n }, async (counters) => {
      last = await etcd.put('/after-restart', '1');
      await until('committed', () => counters.committedRevision >= last, 30_000);
    });
    expect(result.startedAt).toBe(BigInt(head.lastRevision) + 1n);
    expect(result.chainId).toBe(head.chainId);
    const log = await listLog(backend, CLUSTER);
    expect(log.problems).toEqual([]);
    expect(log.chains).toHaveLength(1);
    const revs = (await allRecords()).map((r) => r.revision);
    expect(new Set(revs).size).toBe(revs.length);
    expect(revs.at(-1)).toBe(last);
  });

  it('keeps memory flat when storage is slow: stops reading the watch instead of buffering', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let puts = 0;
    const slow: Backend = backendView(backend, {
      put: async (key, body, o) => {
        puts++;
        await gate;
        return backend.put(key, body, o);
      },
    });
    const start = (await etcd.put('/bp/start', '0')) + 1n;
    let last = 0n;
    const big = 'v'.repeat(3000);
    await follow(
      { segmentMaxBytes: 2048 },
      async (counters) => {
        for (let i = 0; i < 60; i++) last = await etcd.put(`/bp/${i}`, big);
        await new Promise((r) => setTimeout(r, 1500));
        // one segment uploading (blocked), one full and waiting: the writer reads no further
        expect(puts).toBe(1);
        expect(counters.loggedRevision).toBeLessThan(start + 4n);
        release();
        await until('all committed', () => counters.committedRevision >= last, 60_000);
      },
      slow,
    );
    const log = await listLog(backend, CLUSTER);
    expect(log.problems).toEqual([]);
    expect(log.segments.at(-1)!.manifest.lastRevision).toBe(last.toString());
  });

  it('records a compaction while the writer was down as a gap and starts a new chain', async () => {
    const before = await listLog(backend, CLUSTER);
    const oldChain = before.segments.at(-1)!.manifest.chainId;
    const lostFrom = BigInt(before.segments.at(-1)!.manifest.lastRevision) + 1n;
    await etcd.put('/while-down', '1');
    const compactAt = await etcd.put('/while-down', '2');
    await etcd.compact(compactAt, { physical: true });
    let last = 0n;
    const { result, counters } = await follow({}, async (k) => {
      last = await etcd.put('/after-gap', '1');
      await until('committed', () => k.committedRevision >= last, 30_000);
    });
    expect(counters.gaps).toBe(1);
    expect(result.gaps[0]).toMatchObject({
      cause: 'resume-compacted',
      lostFrom: lostFrom.toString(),
      compactRevision: compactAt.toString(),
      resumedFrom: (compactAt + 1n).toString(),
      previousChainId: oldChain,
    });
    const log = await listLog(backend, CLUSTER);
    expect(log.chains).toHaveLength(2);
    expect(log.chains[1]!.startRevision).toBe(compactAt + 1n);
    expect(log.problems.map((p) => [p.code, p.revision])).toEqual([['gap', lostFrom]]);
  });

  it('starts the chain a gap record began when that chain has no segment yet (no second gap)', async () => {
    const head = (await listLog(backend, CLUSTER)).segments.at(-1)!.manifest;
    const lost = await etcd.put('/lost-after-gap', '1');
    // what a writer stopped right after recording a gap leaves: the record, and no segment of its new chain
    await writeGapRecord(backend, {
      formatVersion: 1,
      kind: 'revlog-gap',
      clusterName: CLUSTER,
      cause: 'watch-compacted',
      lostFrom: (BigInt(head.lastRevision) + 1n).toString(),
      resumedFrom: (lost + 1n).toString(),
      compactRevision: lost.toString(),
      previousChainId: head.chainId,
      newChainId: 'chain-after-gap',
      detectedAt: new Date().toISOString(),
      message: 'made by the test',
    });
    let last = 0n;
    const { result } = await follow({}, async (k) => {
      last = await etcd.put('/after-gap-record', '1');
      await until('committed', () => k.committedRevision >= last, 30_000);
    });
    expect(result).toMatchObject({ chainId: 'chain-after-gap', startedAt: lost + 1n, gaps: [] });
    const log = await listLog(backend, CLUSTER);
    expect(log.chains.at(-1)).toMatchObject({
      chainId: 'chain-after-gap',
      startRevision: lost + 1n,
      lastRevision: last,
    });
    expect(log.problems.map((p) => p.code)).toEqual(['gap', 'gap']);
  });

  it('one writer at a time: a second is refused naming the first; --break-lease takes over and the first stops', async () => {
    // writers on three hosts (on one host, a holder whose pid is gone is taken over at once)
    const owner = (pid: number) => ({ host: `host-${pid}`, pid, command: 'dr log follow' });
    const stopA = new AbortController();
    const a = followRevisionLog(
      { etcd, backend, logger: silentLogger, clock: systemClock, owner: owner(111) },
      {
        clusterName: CLUSTER,
        segmentSeconds: 1,
        checkpointEverySeconds: 0,
        signal: stopA.signal,
        leaseTtlMs: 8000,
      },
    );
    const aDone = a.then(
      (r) => ({ ok: true as const, r }),
      (e: unknown) => ({ ok: false as const, e }),
    );
    const rev = await etcd.put('/lease/a', '1');
    await until('A committed', async () =>
      (await listLog(backend, CLUSTER)).segments.some((x) => BigInt(x.manifest.lastRevision) >= rev),
    );
    const err = await followRevisionLog(
      { etcd, backend, logger: silentLogger, clock: systemClock, owner: owner(222) },
      { clusterName: CLUSTER },
    ).catch((e: unknown) => e);
    expect(isDrError(err, 'LEASE_HELD')).toBe(true);
    expect((err as Error).message).toContain('dr log follow (pid 111 on host-111)');
    expect((err as Error).message).toContain('writing the revision log of prod there (one writer at a time)');
    // B breaks the lease (A is known to be gone, say): A finds its lease lost at its next renewal and stops
    const stopB = new AbortController();
    const b = followRevisionLog(
      { etcd, backend, logger: silentLogger, clock: systemClock, owner: owner(333) },
      {
        clusterName: CLUSTER,
        segmentSeconds: 1,
        checkpointEverySeconds: 0,
        signal: stopB.signal,
        breakLease: true,
      },
    );
    const ended = await aDone;
    expect(ended.ok).toBe(false);
    expect(isDrError(ended.ok ? null : ended.e)).toBe(true);
    const rev2 = await etcd.put('/lease/b', '1');
    await until('B committed', async () =>
      (await listLog(backend, CLUSTER)).segments.some((x) => BigInt(x.manifest.lastRevision) >= rev2),
    );
    stopB.abort();
    expect((await b).gaps).toEqual([]);
    // no overlap and no broken link (the gaps recorded by the tests before stay reported)
    const log = await listLog(backend, CLUSTER);
    expect(log.problems.filter((x) => x.code !== 'gap')).toEqual([]);
  });

  it('stops with the storage error when a segment cannot be stored, committing nothing', async () => {
    const before = (await listLog(backend, CLUSTER)).segments.length;
    const denied: Backend = backendView(backend, {
      put: () => Promise.reject(new DrError('STORAGE_ACCESS_DENIED', 'test: denied', { transient: false })),
    });
    const running = followRevisionLog(
      { etcd, backend: denied, logger: silentLogger, clock: systemClock },
      { clusterName: CLUSTER, segmentSeconds: 1, checkpointEverySeconds: 0 },
    );
    await etcd.put('/denied', '1');
    const started = Date.now();
    const err = await running.catch((e: unknown) => e);
    expect(isDrError(err, 'STORAGE_ACCESS_DENIED')).toBe(true);
    // noticed at once, not at the next watch response or timer
    expect(Date.now() - started).toBeLessThan(5000);
    expect((await listLog(backend, CLUSTER)).segments.length).toBe(before);
  });

  it('a download broken off while a segment is decoded is an error, not a hang', async () => {
    const seg = (await listLog(backend, CLUSTER)).segments[0]!;
    let gets = 0;
    const breaking: Backend = backendView(backend, {
      get: async (k, o) => {
        const whole = await backend.get(k, o);
        // the first read (the stored sha256) is whole; the second breaks after a few bytes
        if (++gets === 1) return whole;
        const bytes = Buffer.concat(await whole.toArray());
        return Readable.from(
          (async function* () {
            yield bytes.subarray(0, 12);
            await new Promise((r) => setTimeout(r, 10));
            throw new DrError('STORAGE_FAILED', 'test: connection reset', { transient: true });
          })(),
        );
      },
    });
    const err = await (async () => {
      for await (const r of readSegmentRecords(breaking, seg)) void r;
    })().catch((e: unknown) => e);
    expect(gets).toBe(2);
    expect(isDrError(err, 'STORAGE_FAILED')).toBe(true);
  });

  it('finds a replaced data object and an edited manifest', async () => {
    const log = await listLog(backend, CLUSTER);
    const seg = log.segments[0]!;
    const file = path.join(dir, 'store', seg.manifest.stored.key);
    const original = await readFile(file);
    await writeFile(
      file,
      Buffer.concat([original.subarray(0, original.length - 1), Buffer.from([original.at(-1)! ^ 1])]),
    );
    const err = await (async () => {
      for await (const r of readSegmentRecords(backend, seg)) void r;
    })().catch((e: unknown) => e);
    expect(isDrError(err, 'VERIFY_FAILED') && err.details.check).toBe('segment-stored-sha256');
    await writeFile(file, original);

    // an edited manifest that still passes its schema and key check breaks the link of the next one
    const mfile = path.join(dir, 'store', seg.key);
    const text = await readFile(mfile, 'utf8');
    await writeFile(
      mfile,
      text.replace(/"eventCount": (\d+)/, (_, n: string) => `"eventCount": ${Number(n) + 1}`),
    );
    const broken = await listLog(backend, CLUSTER);
    expect(broken.problems.map((p) => p.code)).toContain('chain-broken');
    expect(broken.problems.find((p) => p.code === 'chain-broken')!.key).toBe(log.segments[1]!.key);
    await writeFile(mfile, text);
    expect((await listLog(backend, CLUSTER)).problems.map((p) => p.code)).toEqual(['gap', 'gap']);
  });
});
