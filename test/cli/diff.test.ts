/**
 * `dr diff A B` end to end on a real etcd 3.4 member: two snapshots taken before and after known puts,
 * deletes and overwrites, the same comparisons against a stored backup id, and a file with itself.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { saveSnapshot } from '../formats/bbolt/etcd-corpus.js';
import { runDr } from '../helpers/dr.js';
import { startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';
import { tempDir } from '../helpers/tmp.js';

import { TestEtcdClient } from '../helpers/etcd-test-client.js';

/* eslint-disable @typescript-eslint/no-explicit-any */

const SECRET = 'token-value-that-must-not-print';

let cluster: TestCluster;
let client: TestEtcdClient;
let tmp: Awaited<ReturnType<typeof tempDir>>;
let a: string;
let b: string;
let revA: number;
let env: Record<string, string>;
let backupId: string;

const expected = {
  added: ['/app/new/1', '/app/new/2', '/other/new'],
  removed: ['/app/del/1', '/app/del/2'],
  changed: ['/app/cfg/1', '/app/leased', '/app/secret'],
};

beforeAll(async () => {
  tmp = await tempDir('dr-diff-');
  cluster = await startTestCluster({ size: 1 });
  client = new TestEtcdClient({ hosts: cluster.endpoints[0]! });
  for (let i = 0; i < 50; i++) await client.put(`/app/keep/${String(i).padStart(2, '0')}`).value(`keep-${i}`);
  for (const k of ['/app/del/1', '/app/del/2', '/app/cfg/1', '/app/same', '/app/leased'])
    await client.put(k).value(`v-${k}`);
  await client.put('/app/secret').value('old-secret');
  a = await saveSnapshot(cluster.endpoints[0]!, path.join(tmp.dir, 'a.db'));
  revA = Number((await client.kv.range({ key: Buffer.from('/'), limit: '1' })).header.revision);

  await client.put('/app/new/1').value('n1');
  await client.put('/app/new/2').value(Buffer.from([0xff, 0x00, 0x01]));
  await client.put('/other/new').value('o');
  await client.delete().key('/app/del/1');
  await client.delete().key('/app/del/2');
  await client.put('/app/cfg/1').value('v-/app/cfg/1 changed');
  await client.put('/app/same').value('v-/app/same'); // same bytes again: rewritten, not changed
  const lease = await client.lease(3600).grant();
  await client.kv.put({ key: Buffer.from('/app/leased'), value: Buffer.from('v-/app/leased'), lease });
  await client.put('/app/secret').value(SECRET);
  // a key created and deleted between A and B is in neither
  await client.put('/app/ephemeral').value('x');
  await client.delete().key('/app/ephemeral');
  b = await saveSnapshot(cluster.endpoints[0]!, path.join(tmp.dir, 'b.db'));

  env = {
    DR_STORAGE: `file://${path.join(tmp.dir, 'store')}`,
    DR_CATALOG: path.join(tmp.dir, 'catalog.sqlite'),
  };
  const backup = await runDr(
    ['backup', '--endpoints', cluster.endpoints[0]!, '--cluster-name', 'diff', '--json'],
    env,
  );
  expect(backup.code).toBe(0);
  backupId = backup.json.id;
}, 180_000);

afterAll(async () => {
  client?.close();
  await cluster?.stop();
  await tmp?.cleanup();
});

function byKind(changes: any[]) {
  const keys = (k: string) => changes.filter((c) => c.kind === k).map((c) => c.key);
  return { added: keys('added'), removed: keys('removed'), changed: keys('changed') };
}

describe('dr diff', () => {
  test('reports exactly the puts, deletes and overwrites made between two snapshots', async () => {
    const r = await runDr(['diff', a, b, '--json']);
    expect(r.code).toBe(0);
    expect(r.json.ok).toBe(true);
    expect(byKind(r.json.changes)).toEqual(expected);
    expect(r.json.summary).toMatchObject({ added: 3, removed: 2, changed: 3, rewritten: 1, equal: false });
    expect(r.json.summary.unchanged).toBe(50);
    expect(r.json.a.revision).toBe(String(revA));
    const cfg = r.json.changes.find((c: any) => c.key === '/app/cfg/1');
    expect(cfg).toMatchObject({ valueChanged: true, leaseChanged: false });
    expect(cfg.a.valueSize).toBe('v-/app/cfg/1'.length);
    expect(cfg.b.valueSize).toBe('v-/app/cfg/1 changed'.length);
    expect(cfg.a.valueSha256).not.toBe(cfg.b.valueSha256);
    expect(Number(cfg.b.modRevision)).toBeGreaterThan(revA);
    const leased = r.json.changes.find((c: any) => c.key === '/app/leased');
    expect(leased).toMatchObject({ valueChanged: false, leaseChanged: true });
    expect(leased.a.valueSha256).toBe(leased.b.valueSha256);
    const bin = r.json.changes.find((c: any) => c.key === '/app/new/2');
    expect(bin.b).toMatchObject({ valueSize: 3 });
    // values never appear without --values
    expect(r.stdout).not.toContain(SECRET);
    expect(r.stdout).not.toContain('old-secret');
  });

  test('--values shows them; --prefix narrows; --exit-code exits 1 on differences', async () => {
    const v = await runDr(['diff', a, b, '--values', '--prefix', '/app/secret', '--json', '--exit-code']);
    expect(v.code).toBe(1);
    expect(v.json.changes).toHaveLength(1);
    expect(v.json.changes[0].a.value).toBe('old-secret');
    expect(v.json.changes[0].b.value).toBe(SECRET);
    const other = await runDr(['diff', a, b, '--prefix', '/other/', '--json']);
    expect(byKind(other.json.changes)).toEqual({ added: ['/other/new'], removed: [], changed: [] });
    const none = await runDr(['diff', a, b, '--prefix', '/app/keep/', '--exit-code']);
    expect(none.code).toBe(0);
    expect(none.stdout).toMatch(/-- 0 added, 0 removed, 0 changed/);
  });

  test('a file with itself is empty, exit 0 even with --exit-code', async () => {
    const r = await runDr(['diff', b, b, '--json', '--exit-code']);
    expect(r.code).toBe(0);
    expect(r.json.changes).toEqual([]);
    expect(r.json.summary.equal).toBe(true);
  });

  test('--rev-a reads an older revision of the same file; a compacted / future revision exits 2', async () => {
    const r = await runDr(['diff', b, b, '--rev-a', String(revA), '--json']);
    expect(r.code).toBe(0);
    expect(byKind(r.json.changes)).toEqual(expected);
    const future = await runDr(['diff', a, b, '--rev-a', String(revA + 1000)]);
    expect(future.code).toBe(2);
    expect(future.stderr).toContain(`1..${revA}`);
  });

  test('a backup id on either side (fetched from --storage), and the table for people', async () => {
    const r = await runDr(['diff', a, backupId, '--json'], env);
    expect(r.code).toBe(0);
    expect(r.json.b.backupId).toBe(backupId);
    expect(byKind(r.json.changes)).toEqual(expected);
    const t = await runDr(['diff', 'latest', a], env);
    expect(t.code).toBe(0);
    const lines = t.stdout.split('\n');
    expect(lines[0]).toMatch(/^--- A backup /);
    expect(lines.some((l) => l.startsWith('- /app/new/1  (rev '))).toBe(true);
    expect(lines.filter((l) => l.startsWith('+ ')).map((l) => l.split('  ')[0])).toEqual([
      '+ /app/del/1',
      '+ /app/del/2',
    ]);
    expect(lines.filter((l) => l.startsWith('~ ')).map((l) => l.split('  ')[0])).toEqual([
      '~ /app/cfg/1',
      '~ /app/leased',
      '~ /app/secret',
    ]);
    expect(t.stdout).toMatch(
      /-- 2 added, 3 removed, 3 changed; 1 rewritten with the same value, 50 unchanged/,
    );
    const missing = await runDr(['diff', a, path.join(tmp.dir, 'nope.db')], env);
    expect(missing.code).toBe(2);
    await mkdir(path.join(tmp.dir, 'emptydir'));
    expect((await runDr(['diff', a, path.join(tmp.dir, 'emptydir')])).code).toBe(2);
  });
});
