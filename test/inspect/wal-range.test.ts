/**
 * `dr inspect wal` on a real member's WAL: with --from-index/--to-index no record from outside the range
 * (state records go by their commit index), and range deletes print as what they are (prefix, from a key,
 * [a, b)), never as an `a..b` path.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDr } from '../helpers/dr.js';
import { startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';

let c: TestCluster;
let dataDir: string;

interface Rec {
  kind: string;
  index?: string | number;
  commit?: string | number;
  op?: string;
  deletes?: { key: string; rangeEnd?: string; scope?: string }[];
}

async function records(args: string[]): Promise<Rec[]> {
  const r = await runDr(['inspect', 'wal', dataDir, ...args, '--json']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return (r.json as { records: Rec[] }).records;
}

beforeAll(async () => {
  c = await startTestCluster({ size: 1 });
  for (const k of ['/pods/a', '/pods/b', '/a', '/b', '/c', '/zz/1', '/zz/2'])
    await c.etcdctl(['put', k, 'v']);
  await c.etcdctl(['del', '--prefix', '/pods/']);
  await c.etcdctl(['del', '/a', '/c']);
  await c.etcdctl(['del', '--from-key', '/zz']);
  await c.etcdctl(['del', '/b']);
  dataDir = c.members[0]!.spec.dataDir;
  await c.kill(0);
});

afterAll(async () => c?.stop());

describe('dr inspect wal on a real WAL', () => {
  it('prints only records inside --from-index/--to-index, state records by their commit index', async () => {
    const all = await records([]);
    const entries = all.filter((r) => r.kind === 'entry');
    const states = all.filter((r) => r.kind === 'state');
    expect(states.length).toBeGreaterThan(1);
    const first = entries.find((e) => e.op === 'put')!;
    const from = BigInt(first.index!);
    const to = from + 3n;
    // the unfiltered WAL has state records on both sides of the range: the filter has something to drop
    expect(states.some((s) => BigInt(s.commit!) < from)).toBe(true);
    expect(states.some((s) => BigInt(s.commit!) > to)).toBe(true);

    const ranged = await records(['--from-index', String(from), '--to-index', String(to)]);
    const inRange = (i: bigint) => i >= from && i <= to;
    expect(ranged.filter((r) => r.kind === 'entry').map((r) => BigInt(r.index!))).toEqual([
      from,
      from + 1n,
      from + 2n,
      from + 3n,
    ]);
    const rangedStates = ranged.filter((r) => r.kind === 'state');
    expect(rangedStates.length).toBeGreaterThan(0);
    for (const s of rangedStates) expect(inRange(BigInt(s.commit!)), `commit ${s.commit}`).toBe(true);
    for (const r of ranged)
      if (r.index !== undefined) expect(inRange(BigInt(r.index)), `${r.kind} ${r.index}`).toBe(true);

    // the text output agrees: no state line with a commit outside the range
    const text = await runDr([
      'inspect',
      'wal',
      dataDir,
      '--from-index',
      String(from),
      '--to-index',
      String(to),
    ]);
    expect(text.code).toBe(0);
    const commits = [...text.stdout.matchAll(/\(state\).* commit (\d+)/g)].map((m) => BigInt(m[1]!));
    expect(commits.length).toBe(rangedStates.length);
    for (const k of commits) expect(inRange(k)).toBe(true);
  });

  it('shows a range delete as a prefix, a from-key or a [start, end) range, never as a..b', async () => {
    const deletes = (await records(['--type', 'delete']))
      .flatMap((r) => r.deletes ?? [])
      .map((d) => ({ key: d.key, rangeEnd: d.rangeEnd, scope: d.scope }));
    expect(deletes).toEqual([
      { key: '/pods/', rangeEnd: '/pods0', scope: 'prefix' },
      { key: '/a', rangeEnd: '/c', scope: 'range' },
      { key: '/zz', rangeEnd: 'AA==', scope: 'from-key' }, // "\0", base64 in JSON
      { key: '/b', rangeEnd: undefined, scope: undefined },
    ]);
    const text = await runDr(['inspect', 'wal', dataDir, '--type', 'delete']);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('delete prefix /pods/');
    expect(text.stdout).toContain('delete range [/a, /c)');
    expect(text.stdout).toMatch(/delete from \/zz to the end/);
    expect(text.stdout).toMatch(/delete \/b(\s|$)/m);
    const lines = text.stdout.split('\n').filter((l) => / delete /.test(l));
    expect(lines).toHaveLength(4);
    for (const l of lines) expect(l).not.toContain('..');
  });
});
