/**
 * `dr inspect wal | db | keys` end to end: the built CLI on a real etcd 3.4 WAL corpus, on real snapshots
 * compared with `etcdctl snapshot status` and `etcdctl get --prefix --rev -w json`, and on a stored backup.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { etcdctl, etcdctlStatus, makeCorpus, type Corpus } from '../formats/bbolt/etcd-corpus.js';
import { filesBelow, runDr } from '../helpers/dr.js';
import { tempDir } from '../helpers/tmp.js';
import { bigValue, getWalCorpus, type WalCorpus } from '../helpers/wal-corpus.js';

/* eslint-disable @typescript-eslint/no-explicit-any */

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const bytesOf = (text: string, enc?: string) => Buffer.from(text, enc === 'base64' ? 'base64' : 'utf8');

let wal: WalCorpus;
let ec: Corpus;
let tmp: Awaited<ReturnType<typeof tempDir>>;

beforeAll(async () => {
  tmp = await tempDir('dr-inspect-cli-');
  [wal, ec] = await Promise.all([getWalCorpus(), makeCorpus({ keys: 1200 })]);
}, 300_000);
afterAll(async () => {
  await ec?.stop();
  await tmp?.cleanup();
});

describe('dr inspect wal', () => {
  test('--json is one document listing the writes made, without values', async () => {
    const r = await runDr(['inspect', 'wal', wal.main, '--json']);
    expect(r.code).toBe(0);
    expect(r.json.ok).toBe(true);
    expect(r.json.dir).toBe(path.join(wal.main, 'member', 'wal'));
    const entries = r.json.records.filter((x: any) => x.kind === 'entry');
    const writes = entries
      .filter((e: any) => (e.op === 'put' || e.op === 'deleteRange') && e.puts?.[0]?.key !== wal.lease.key)
      .map((e: any) =>
        e.op === 'put'
          ? { kind: 'put', key: e.puts[0].key, valueLength: e.puts[0].valueSize }
          : { kind: 'delete', key: e.deletes[0].key },
      );
    expect(writes).toEqual(
      wal.ops.map((o) =>
        o.kind === 'put'
          ? { kind: 'put', key: o.key, valueLength: o.valueLength }
          : { kind: 'delete', key: o.key },
      ),
    );
    const txn = entries.find((e: any) => e.op === 'txn');
    expect(txn.puts).toEqual([{ key: wal.txn.putKey, valueSize: 8, branch: 'success' }]);
    expect(txn.deletes).toEqual([{ key: wal.txn.deleteKey, branch: 'success' }]);
    expect(entries.find((e: any) => e.op === 'compaction').compaction).toEqual({
      revision: String(wal.compactRevision),
      physical: true,
    });
    const grant = entries.find((e: any) => e.op === 'leaseGrant');
    expect(BigInt(`0x${grant.leaseGrants[0].id}`).toString()).toBe(wal.lease.id);
    expect(r.json.records.filter((x: any) => x.kind === 'metadata')).toHaveLength(r.json.summary.segments);
    expect(r.json.summary.entries).toBe(entries.length);
    expect(r.stdout).not.toMatch(/"value"/);
  });

  test('filters by type, prefix and index range; the table is for people', async () => {
    const lease = await runDr(['inspect', 'wal', wal.main, '--type', 'lease', '--json']);
    expect(lease.json.records.map((x: any) => x.op)).toEqual(['leaseGrant', 'leaseRevoke']);

    const all = (await runDr(['inspect', 'wal', wal.main, '--prefix', 'big/', '--json'])).json.records;
    expect(all).toHaveLength(300);
    const from = all[10].index;
    const to = all[14].index;
    const r = await runDr([
      'inspect',
      'wal',
      path.join(wal.main, 'member', 'wal'),
      '--from-index',
      from,
      '--to-index',
      to,
      '--prefix',
      'big/',
      '--json',
    ]);
    expect(r.json.records.map((x: any) => x.puts[0].key)).toEqual([
      'big/0010',
      'big/0011',
      'big/0012',
      'big/0013',
      'big/0014',
    ]);

    const table = await runDr(['inspect', 'wal', wal.main, '--type', 'txn,compaction']);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^\s+INDEX\s+TERM\s+TYPE\s+REQUEST/);
    expect(table.stdout).toMatch(
      /txn\s+txn \(1 compare\): \[success\] put txn\/put \(8 B\); \[success\] delete small\/004/,
    );
    expect(table.stdout).toMatch(
      new RegExp(`compaction\\s+compact to revision ${wal.compactRevision} \\(physical\\)`),
    );
    expect(table.stdout).toMatch(/-- 2 record\(s\) shown; \d+ entries in 3 segment\(s\)/);
  });

  test('values only with --values, cut to 200 bytes unless --full', async () => {
    const args = ['inspect', 'wal', wal.main, '--prefix', 'big/0007', '--json'];
    const cut = (await runDr([...args, '--values'])).json.records[0].puts[0];
    expect(cut.valueSize).toBe(512 * 1024);
    expect(cut.valueTruncated).toBe(true);
    expect(bytesOf(cut.value, cut.valueEncoding)).toEqual(bigValue(7).subarray(0, 200));
    const full = (await runDr([...args, '--values', '--full'])).json.records[0].puts[0];
    expect(full.valueTruncated).toBeUndefined();
    expect(sha(bytesOf(full.value, full.valueEncoding))).toBe(
      wal.ops.find((o) => o.key === 'big/0007')!.valueSha256,
    );
  });

  test('usage errors exit 2', async () => {
    for (const args of [
      ['--type', 'bogus'],
      ['--full'],
      ['--from-index', 'x'],
      ['--from-index', '9', '--to-index', '3'],
    ]) {
      const r = await runDr(['inspect', 'wal', wal.main, ...args]);
      expect(r.code, args.join(' ')).toBe(2);
    }
    expect((await runDr(['inspect', 'wal', path.join(tmp.dir, 'nope')])).code).toBe(2);
  });
});

describe('dr inspect db', () => {
  test('agrees with etcdctl snapshot status on fresh, compacted and defragmented snapshots', async () => {
    for (const file of [ec.fresh, ec.compacted, ec.defragmented]) {
      const r = await runDr(['inspect', 'db', file, '--json']);
      expect(r.code).toBe(0);
      const want = await etcdctlStatus(file);
      expect({ ...r.json.status, revision: Number(r.json.status.revision) }).toEqual(want);
      expect(r.json.totalKeys).toBe(want.totalKey);
      expect(r.json.dbSize).toBe(want.totalSize);
      expect(Number(r.json.revision.current)).toBe(want.revision);
      expect(r.json.members).toHaveLength(1);
      expect(r.json.auth.enabled).toBe(false);
      expect(r.json.buckets.find((b: any) => b.name === 'key').keys).toBeGreaterThan(1200);
    }
    const compacted = (await runDr(['inspect', 'db', ec.compacted, '--json'])).json;
    expect(Number(compacted.revision.compacted)).toBe(ec.compactedAt);
    expect(compacted.leases).toBe(1);
    const fresh = (await runDr(['inspect', 'db', ec.fresh, '--json'])).json;
    expect(fresh.revision.compacted).toBe('0');
    const table = await runDr(['inspect', 'db', ec.compacted]);
    expect(table.stdout).toMatch(new RegExp(`compaction\\s+finished ${ec.compactedAt}`));
    expect(table.stdout).toMatch(/BUCKET\s+│\s+KEYS/);
  });

  test('a data dir resolves to member/snap/db', async () => {
    const r = await runDr(['inspect', 'db', wal.restarted, '--json']);
    expect(r.code).toBe(0);
    expect(r.json.file).toBe(path.join(wal.restarted, 'member', 'snap', 'db'));
    const want = await etcdctlStatus(r.json.file);
    expect(r.json.status.hash).toBe(want.hash);
  });
});

interface EtcdctlKv {
  key: string;
  create_revision: number;
  mod_revision: number;
  version: number;
  value: string;
  lease?: number;
}

async function liveGet(prefix: string, rev: number): Promise<EtcdctlKv[]> {
  const out = JSON.parse(
    await etcdctl(ec.endpoint, 'get', prefix, '--prefix', '--rev', String(rev), '-w', 'json'),
  );
  return (out.kvs ?? []) as EtcdctlKv[];
}

function asEtcdctl(kvs: any[]): EtcdctlKv[] {
  return kvs.map((kv) => ({
    key: bytesOf(kv.key, kv.keyEncoding).toString('base64'),
    create_revision: Number(kv.createRevision),
    mod_revision: Number(kv.modRevision),
    version: Number(kv.version),
    value: bytesOf(kv.value, kv.valueEncoding).toString('base64'),
    ...(kv.lease !== '0' ? { lease: Number(BigInt(`0x${kv.lease}`)) } : {}),
  }));
}

describe('dr inspect keys', () => {
  test('equals etcdctl get --prefix --rev -w json (keys and values) at two revisions', async () => {
    for (const rev of [ec.revision, ec.compactedAt + 10]) {
      const r = await runDr([
        'inspect',
        'keys',
        ec.defragmented,
        '--prefix',
        '/',
        '--rev',
        String(rev),
        '--values',
        '--full',
        '--json',
      ]);
      expect(r.code).toBe(0);
      expect(r.json.revision).toBe(String(rev));
      const live = await liveGet('/', rev);
      expect(live.length).toBeGreaterThan(800);
      expect(asEtcdctl(r.json.kvs)).toEqual(live);
      expect(r.json.count).toBe(live.length);
    }
    const leased = await runDr([
      'inspect',
      'keys',
      ec.defragmented,
      '--prefix',
      '/leased/',
      '--json',
      '--values',
    ]);
    expect(leased.json.kvs.map((k: any) => [k.key, k.value, k.lease !== '0'])).toEqual([
      ['/leased/one', 'L', false],
      ['/leased/two', 'L2', true],
    ]);
  });

  test('no values unless --values; --limit; table output', async () => {
    const r = await runDr([
      'inspect',
      'keys',
      ec.defragmented,
      '--prefix',
      '/registry/configmaps/ns3/',
      '--limit',
      '4',
      '--json',
    ]);
    expect(r.json.kvs).toHaveLength(4);
    expect(r.json.more).toBe(true);
    expect(r.json.kvs[0].value).toBeUndefined();
    expect(r.json.kvs[0].valueSha256).toMatch(/^[0-9a-f]{16}$/);
    const t = await runDr(['inspect', 'keys', ec.defragmented, '--prefix', '/gen/']);
    expect(t.stdout).toMatch(/CREATE\s+MOD\s+VER\s+LEASE\s+SIZE\s+KEY/);
    expect(t.stdout).toMatch(/\/gen\/k\n/);
    expect(t.stdout).not.toMatch(/= 2/);
  });

  test('a compacted or future revision exits 2 naming the revisions available', async () => {
    const range = `${ec.compactedAt}..${ec.revision}`;
    const old = await runDr(['inspect', 'keys', ec.defragmented, '--rev', String(ec.compactedAt - 1)]);
    expect(old.code).toBe(2);
    expect(old.stderr).toContain(`revision ${ec.compactedAt - 1} has been compacted`);
    expect(old.stderr).toContain(range);
    const future = await runDr([
      'inspect',
      'keys',
      ec.defragmented,
      '--rev',
      String(ec.revision + 1),
      '--json',
    ]);
    expect(future.code).toBe(2);
    expect(future.json.ok).toBe(false);
    expect(future.json.error.message).toContain(range);
    expect(future.json.error.current).toBe(String(ec.revision));
  });

  test('--backup ID reads a stored backup through a temporary file that is removed afterwards', async () => {
    const env = {
      DR_STORAGE: `file://${path.join(tmp.dir, 'store')}`,
      DR_CATALOG: path.join(tmp.dir, 'catalog.sqlite'),
    };
    const b = await runDr(['backup', '--endpoints', ec.endpoint, '--cluster-name', 'inspect', '--json'], env);
    expect(b.code).toBe(0);
    const privateTmp = path.join(tmp.dir, 'tmp');
    await import('node:fs/promises').then((fs) => fs.mkdir(privateTmp));
    const r = await runDr(
      ['inspect', 'keys', '--backup', b.json.id, '--prefix', '/after/', '--values', '--json'],
      {
        ...env,
        TMPDIR: privateTmp,
      },
    );
    expect(r.code).toBe(0);
    expect(r.json.backupId).toBe(b.json.id);
    expect(asEtcdctl(r.json.kvs)).toEqual(await liveGet('/after/', Number(b.json.snapshot.revision)));
    expect(filesBelow(privateTmp)).toEqual([]);
    const db = await runDr(['inspect', 'db', '--backup', 'latest', '--json'], env);
    expect(db.json.status.hash).toBe(b.json.snapshot.hash);
    const missing = await runDr(['inspect', 'keys', '--backup', 'no-such-id'], env);
    expect(missing.code).toBe(2);
  });
});
