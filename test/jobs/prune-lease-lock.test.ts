/**
 * Prune and gc with the lease and with Object Lock dates, on s3rver behind a recording proxy (the proxy
 * answers HeadObject for a "locked" object with the retain-until date S3 would give, which s3rver
 * cannot). What must hold:
 *  - two prunes of one cluster started at once from two hosts' catalogs: exactly one runs, the other
 *    is refused with LEASE_HELD, and what remains is what one prune leaves (the lease gone afterwards);
 *  - `dr prune` (the built CLI) refuses while another process holds the lease, exit 3, naming the holder
 *    and --break-lease; with --break-lease it runs;
 *  - a dry run takes no lease and says that a locked backup is kept, and until when;
 *  - gc leaves a locked orphan alone and says until when.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Catalog } from '../../src/catalog/catalog.js';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import { leasedGc } from '../../src/jobs/leased.js';
import { prune } from '../../src/jobs/prune.js';
import { dataKey } from '../../src/manifest/layout.js';
import type { Manifest } from '../../src/manifest/manifest.js';
import { writeManifest } from '../../src/manifest/manifest-store.js';
import type { Backend } from '../../src/storage/backend.js';
import { acquireLease, isLeaseKey, leaseKey, readLease } from '../../src/storage/lease.js';
import { openBackend } from '../../src/storage/open-backend.js';
import { runDr } from '../helpers/dr.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { startS3rver, type S3rverHandle } from '../helpers/s3rver.js';
import { tempDir } from '../helpers/tmp.js';

const DAY = 86_400_000;
const ids = ['20261101T020000Z-aaaaaaaa', '20261102T020000Z-bbbbbbbb', '20261103T020000Z-cccccccc'];

let s3: S3rverHandle;
let proxy: FaultProxy;
let tmp: { dir: string; cleanup: () => Promise<void> };
const opened: Backend[] = [];

beforeAll(async () => {
  [s3, tmp] = await Promise.all([startS3rver('dr-prune-lease'), tempDir('dr-prune-lease-')]);
  proxy = await startFaultProxy(s3.endpoint);
});
afterAll(async () => {
  for (const b of opened) await b.close();
  await proxy?.close();
  await s3?.stop();
  await tmp?.cleanup();
});
beforeEach(() => {
  proxy.clearFaults();
  proxy.requests.length = 0;
});

function viaProxy(prefix: string): string {
  return `s3://${s3.bucket}/${prefix}?${new URLSearchParams({
    endpoint: proxy.endpoint,
    region: 'us-east-1',
    forcePathStyle: 'true',
  }).toString()}`;
}

async function open(url: string): Promise<Backend> {
  const b = await openBackend(url);
  opened.push(b);
  return b;
}

function manifest(id: string): Manifest {
  const at = `${id.slice(0, 4)}-${id.slice(4, 6)}-${id.slice(6, 8)}T02:00:00.000Z`;
  const sha = createHash('sha256').update(id).digest('hex');
  return {
    formatVersion: 1,
    id,
    clusterName: 'prod',
    policy: null,
    createdAt: at,
    completedAt: at,
    durationMs: 1000,
    source: {
      endpoint: 'http://127.0.0.1:2379',
      memberId: 'a1',
      memberName: 'm0',
      isLeader: true,
      clusterId: 'c1',
      etcdVersion: '3.5.0',
      raftIndex: '1',
      raftTerm: '1',
    },
    snapshot: {
      revision: '1',
      totalKeys: 1,
      liveKeys: 1,
      hash: 1,
      dbSize: 4096,
      sha256: sha,
      etcdSha256: sha,
      size: 4128,
      consistentIndex: null,
    },
    stored: {
      key: dataKey('prod', id),
      size: 4,
      sha256: sha,
      compression: 'zstd',
      compressionLevel: 1,
      encryption: null,
    },
    tool: { name: 'etcd-dr', version: '0.0.0' },
  };
}

async function seed(b: Backend, withManifest = ids): Promise<void> {
  for (const id of ids) await b.put(dataKey('prod', id), Readable.from([Buffer.from('data')]));
  for (const id of withManifest) await writeManifest(b, manifest(id));
}

async function keys(b: Backend): Promise<string[]> {
  const out: string[] = [];
  for await (const o of b.list('prod/')) if (!isLeaseKey(o.key)) out.push(o.key);
  return out.sort();
}

const scope = { cluster: 'prod', policy: null, rules: { keepLast: 1 }, timezone: 'UTC' };
const lockHead = (key: string, until: Date) =>
  proxy.fault({
    op: 'HeadObject',
    match: (r) => r.path.endsWith(`/${key}`),
    fault: {
      kind: 'answer',
      status: 200,
      body: '',
      headers: {
        'content-length': '4',
        'last-modified': new Date(Date.now() - 10 * DAY).toUTCString(),
        'x-amz-object-lock-mode': 'GOVERNANCE',
        'x-amz-object-lock-retain-until-date': until.toISOString(),
      },
    },
  });

describe('two prunes of one cluster at once', () => {
  it('exactly one runs; the other is refused naming it; one prune is applied', async () => {
    const b = await open(viaProxy('race/'));
    await seed(b);
    const host = (name: string) => {
      const catalog = Catalog.open(path.join(tmp.dir, `${name}.sqlite`));
      return {
        catalog,
        deps: {
          catalog,
          logger: silentLogger,
          clock: systemClock,
          lease: { owner: { host: name, pid: 1, command: 'dr prune' } },
        },
      };
    };
    const a = host('host-a');
    const c = host('host-b');
    const target = { name: 's3', backend: b };
    const results = await Promise.allSettled([
      prune(a.deps, [{ target, scope }], { dryRun: false }),
      prune(c.deps, [{ target, scope }], { dryRun: false }),
    ]);
    a.catalog.close();
    c.catalog.close();
    const ran = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r) => r.status === 'rejected');
    expect(ran.length).toBe(1);
    expect(refused.length).toBe(1);
    const err = (refused[0] as PromiseRejectedResult).reason as Error & { code: string };
    expect(err.code).toBe('LEASE_HELD');
    expect(err.message).toMatch(/held by dr prune \(pid 1 on host-[ab]\)/);
    const [report] = (ran[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof prune>>>).value;
    expect(report!.remove.map((r) => [r.id, r.removed])).toEqual([
      [ids[1], true],
      [ids[0], true],
    ]);
    expect(await keys(b)).toEqual([`prod/${ids[2]}.db.zst`, `prod/${ids[2]}.manifest.json`]);
    expect(await readLease(b, leaseKey('prod'))).toBeNull();
  });
});

describe('dr prune and the lease (built CLI)', () => {
  it('refuses while another process holds it (exit 3), and --break-lease takes it', async () => {
    const url = s3.url('cli/');
    const b = await open(url);
    await seed(b);
    const held = await acquireLease(b, leaseKey('prod'), {
      owner: { host: 'other-host', pid: 777, command: 'dr daemon' },
      clock: systemClock,
      logger: silentLogger,
    });
    const args = ['prune', '--storage', url, '--cluster-name', 'prod', '--keep-last', '1'];
    const catalog = ['--catalog', path.join(tmp.dir, 'cli.sqlite')];
    const refused = await runDr([...args, ...catalog]);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(/LEASE_HELD/);
    expect(refused.stderr).toMatch(/held by dr daemon \(pid 777 on other-host\).*--break-lease/);
    expect((await keys(b)).length).toBe(6);

    const broke = await runDr([...args, ...catalog, '--break-lease', '--json']);
    expect(broke.code).toBe(0);
    expect(broke.json.reports[0].remove.map((r: { removed: boolean }) => r.removed)).toEqual([true, true]);
    expect((await keys(b)).length).toBe(2);
    // the broken holder finds at its release that the lease is no longer its own: it leaves it alone
    await held.release();
    expect(await readLease(b, leaseKey('prod'))).toBeNull();
  });
});

describe('Object Lock dates in prune and gc', () => {
  it('a dry run takes no lease and keeps a locked backup, saying until when', async () => {
    const b = await open(viaProxy('locked/'));
    await seed(b);
    const until = new Date(Date.now() + 20 * DAY);
    lockHead(`locked/prod/${ids[0]}.db.zst`, until);
    const catalog = Catalog.open(path.join(tmp.dir, 'locked.sqlite'));
    try {
      const [report] = await prune(
        { catalog, logger: silentLogger, clock: systemClock },
        [{ target: { name: 's3', backend: b }, scope }],
        { dryRun: true },
      );
      const locked = report!.keep.find((k) => k.id === ids[0]);
      expect(locked?.reasons).toEqual([`locked until ${until.toISOString()} (S3 Object Lock)`]);
      expect(report!.remove.map((r) => [r.id, r.removed])).toEqual([[ids[1], false]]);
    } finally {
      catalog.close();
    }
    expect(proxy.requests.filter((r) => r.op === 'PutObject' && r.path.endsWith('.dr-lease.json'))).toEqual(
      [],
    );
  });

  it('gc leaves a locked orphan until its date and removes an unlocked one', async () => {
    const b = await open(viaProxy('gc/'));
    await seed(b, [ids[2]!]);
    const until = new Date(Date.now() + 5 * DAY);
    lockHead(`gc/prod/${ids[0]}.db.zst`, until);
    const r = await leasedGc(b, {
      clock: systemClock,
      logger: silentLogger,
      lease: { owner: { host: 'h', pid: 2, command: 'dr gc' } },
      minAgeMs: 0,
      dryRun: false,
      cluster: 'prod',
    });
    const byKey = new Map(r.orphans.map((o) => [o.key, o]));
    expect(byKey.get(`prod/${ids[0]}.db.zst`)).toMatchObject({
      removed: false,
      lockedUntil: until.toISOString(),
    });
    expect(byKey.get(`prod/${ids[1]}.db.zst`)).toMatchObject({ removed: true });
    expect(await keys(b)).toEqual([
      `prod/${ids[0]}.db.zst`,
      `prod/${ids[2]}.db.zst`,
      `prod/${ids[2]}.manifest.json`,
    ]);
    // gc of one cluster held that cluster's lease, and gave it back
    expect(
      proxy.requests.some((r) => r.op === 'PutObject' && r.path.endsWith('/gc/prod/.dr-lease.json')),
    ).toBe(true);
    expect(await readLease(b, leaseKey('prod'))).toBeNull();
  });
});
