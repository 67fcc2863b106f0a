import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { openWalDir } from '../../src/audit/wal/read-wal-dir.js';
import { T } from '../../src/formats/raft/proto.js';
import { encodeMessage } from '../../src/formats/raft/raft-messages.js';
import { WalRecordType } from '../../src/formats/wal/record-type.js';
import { encodeWalRecords, type RecordToEncode } from '../../src/formats/wal/segment-encoder.js';
import { formatWalName } from '../../src/formats/wal/segment-name.js';
import { jsonText } from '../../src/inspect/json-stream.js';
import { walItemJson, walItemLine } from '../../src/inspect/render.js';
import {
  prefixEnd,
  touchesPrefix,
  viewWal,
  type RequestView,
  type WalItem,
} from '../../src/inspect/wal-view.js';
import { BIG_PUTS, getWalCorpus, sha256, type WalCorpus } from '../helpers/wal-corpus.js';
import { tempDir } from '../helpers/tmp.js';

type Entry = Extract<WalItem, { kind: 'entry' }>;

async function view(dir: string, filter: Omit<Parameters<typeof viewWal>[1], 'onItem'> = {}) {
  const items: WalItem[] = [];
  // values are views valid only during the callback: keep what the assertions need
  const valueSha: string[] = [];
  const summary = await viewWal(await openWalDir(path.join(dir, 'member', 'wal')), {
    ...filter,
    onItem: (i) => {
      items.push(i);
      if (i.kind === 'entry') for (const p of i.request.puts) valueSha.push(sha256(p.value));
    },
  });
  return { items, summary, valueSha, entries: items.filter((i): i is Entry => i.kind === 'entry') };
}

let corpus: WalCorpus;
beforeAll(async () => {
  corpus = await getWalCorpus();
}, 300_000);

describe('viewWal on a real etcd 3.4 WAL', () => {
  test('shows the puts, deletes, txn, lease and compaction that were written, in order', async () => {
    const { entries, summary, items } = await view(corpus.main);
    expect(summary.problems).toBe(0);
    expect(summary.segments).toBeGreaterThanOrEqual(3);
    const plain = entries.filter((e) => e.request.op === 'put' || e.request.op === 'deleteRange');
    const ops = plain.map((e) =>
      e.request.op === 'put'
        ? { kind: 'put', key: e.request.puts[0]!.key.toString(), valueLength: e.request.puts[0]!.valueSize }
        : { kind: 'delete', key: e.request.deletes[0]!.key.toString() },
    );
    // the leased put is a plain put too, but the corpus records it under `lease`
    const expected = corpus.ops.map((o) =>
      o.kind === 'put'
        ? { kind: 'put', key: o.key, valueLength: o.valueLength }
        : { kind: 'delete', key: o.key },
    );
    expect(ops.filter((o) => o.key !== corpus.lease.key)).toEqual(expected);

    const txn = entries.filter((e) => e.request.op === 'txn');
    expect(txn).toHaveLength(1);
    expect(txn[0]!.request.categories).toEqual(['put', 'delete', 'txn']);
    expect(txn[0]!.request.compares).toBe(1);
    expect(txn[0]!.request.puts.map((p) => [p.key.toString(), p.branch])).toEqual([
      [corpus.txn.putKey, 'success'],
    ]);
    expect(txn[0]!.request.deletes.map((d) => [d.key.toString(), d.branch])).toEqual([
      [corpus.txn.deleteKey, 'success'],
    ]);

    const grant = entries.find((e) => e.request.op === 'leaseGrant')!;
    expect(grant.request.leaseGrants.map((g) => g.id.toString())).toEqual([corpus.lease.id]);
    expect(grant.request.leaseGrants[0]!.ttl).toBe(600n);
    const leased = entries.find((e) => e.request.puts[0]?.key.toString() === corpus.lease.key)!;
    expect(leased.request.puts[0]!.lease?.toString()).toBe(corpus.lease.id);
    const revoke = entries.find((e) => e.request.op === 'leaseRevoke')!;
    expect(revoke.request.leaseRevokes.map(String)).toEqual([corpus.lease.id]);
    expect(grant.index < leased.index && leased.index < revoke.index).toBe(true);

    const compaction = entries.filter((e) => e.request.op === 'compaction');
    expect(compaction.map((e) => Number(e.request.compaction!.revision))).toEqual([corpus.compactRevision]);
    expect(compaction[0]!.request.compaction!.physical).toBe(true);

    // the member's own ConfChange, and state / metadata records alongside
    const conf = entries.filter((e) => e.entryType === 'confChange');
    expect(conf[0]!.request.memberChanges[0]).toMatchObject({ change: 'add' });
    expect(conf[0]!.request.memberChanges[0]!.memberId.toString(16).padStart(16, '0')).toBe(
      corpus.mainMemberId,
    );
    expect(items.filter((i) => i.kind === 'metadata')).toHaveLength(summary.segments);
    expect(items.some((i) => i.kind === 'state')).toBe(true);
    // indexes strictly increase and match the summary
    for (let i = 1; i < entries.length; i++) expect(entries[i]!.index).toBe(entries[i - 1]!.index + 1n);
    expect(entries[0]!.index).toBe(summary.firstIndex);
    expect(entries.at(-1)!.index).toBe(summary.lastIndex);
  });

  test('put values are handed over intact (sha256 of every big value)', async () => {
    const { valueSha } = await view(corpus.main, { prefix: Buffer.from('big/') });
    expect(valueSha).toEqual(corpus.ops.filter((o) => o.key.startsWith('big/')).map((o) => o.valueSha256));
  });

  test('filters: index range, prefix, type; segments below --from-index are not read', async () => {
    const all = (await view(corpus.main)).entries;
    const lo = all[40]!.index;
    const hi = all[60]!.index;
    const ranged = await view(corpus.main, { fromIndex: lo, toIndex: hi });
    expect(ranged.entries.map((e) => e.index)).toEqual(all.slice(40, 61).map((e) => e.index));

    const big = await view(corpus.main, { prefix: Buffer.from('big/') });
    expect(big.entries).toHaveLength(BIG_PUTS);
    expect(big.items.every((i) => i.kind === 'entry')).toBe(true);

    const small = await view(corpus.main, { prefix: Buffer.from('small/00') });
    // puts of small/000..009, the delete of small/003, and the txn (deletes small/004)
    expect(small.entries).toHaveLength(12);

    const lease = await view(corpus.main, { types: new Set(['lease']) });
    expect(lease.entries.map((e) => e.request.op)).toEqual(['leaseGrant', 'leaseRevoke']);
    const deletes = await view(corpus.main, { types: new Set(['delete']) });
    expect(deletes.entries.map((e) => e.request.op)).toEqual(['deleteRange', 'txn']);
    const compaction = await view(corpus.main, { types: new Set(['compaction', 'conf']) });
    expect(compaction.entries.map((e) => e.request.op)).toEqual(['confChange', 'compaction']);

    const last = all.at(-1)!.index;
    const tail = await view(corpus.main, { fromIndex: last - 2n });
    expect(tail.summary.skippedSegments).toBeGreaterThan(0);
    expect(tail.entries.map((e) => e.index)).toEqual([last - 2n, last - 1n, last]);
  });

  test('a restored member WAL shows its ConfChange entries as member additions', async () => {
    const { entries } = await view(corpus.restored);
    const adds = entries.filter((e) => e.request.categories.includes('member'));
    expect(adds.length).toBeGreaterThanOrEqual(1);
    expect(adds[0]!.request.memberChanges[0]).toMatchObject({ change: 'add', member: { name: 'r0' } });
  });
});

describe('secrets and ranges', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  beforeAll(async () => {
    tmp = await tempDir('dr-inspect-wal-');
  });
  afterAll(async () => tmp.cleanup());

  test('auth requests show user and role names, never passwords or tokens; values only when asked', async () => {
    const irr = (i: number, req: Record<string, unknown>) =>
      encodeMessage(T.entry, {
        type: 0,
        term: 3,
        index: i,
        data: encodeMessage(T.irr, { header: { id: i }, ...req }),
      });
    const md = encodeMessage(T.metadata, { nodeId: '1', clusterId: '2' });
    const recs: RecordToEncode[] = [
      { type: WalRecordType.Crc },
      { type: WalRecordType.Metadata, data: md },
      {
        type: WalRecordType.Entry,
        data: irr(1, { authUserAdd: { name: 'alice', password: 'hunter2-secret' } }),
      },
      {
        type: WalRecordType.Entry,
        data: irr(2, {
          authUserChangePassword: { name: 'alice', password: 'hunter3-secret', hashedPassword: '$2a$hash' },
        }),
      },
      {
        type: WalRecordType.Entry,
        data: irr(3, { authenticate: { name: 'alice', password: 'pw-secret', simpleToken: 'tok-secret' } }),
      },
      { type: WalRecordType.Entry, data: irr(4, { authUserGrantRole: { user: 'alice', role: 'admin' } }) },
      { type: WalRecordType.Entry, data: irr(5, { authEnable: {} }) },
      {
        type: WalRecordType.Entry,
        data: irr(6, { put: { key: Buffer.from('/cfg/db'), value: Buffer.from('password=value-secret') } }),
      },
    ];
    const walDir = path.join(tmp.dir, 'member', 'wal');
    await mkdir(walDir, { recursive: true });
    await writeFile(path.join(walDir, formatWalName(0n, 0n)), encodeWalRecords(recs).bytes);
    const { entries, summary } = await view(tmp.dir);
    expect(summary.problems).toBe(0);
    expect(entries.map((e) => e.request.op)).toEqual([
      'authUserAdd',
      'authUserChangePassword',
      'authenticate',
      'authUserGrantRole',
      'authEnable',
      'put',
    ]);
    expect(entries.slice(0, 5).every((e) => e.request.categories.includes('auth'))).toBe(true);
    const hidden = { values: false, valueLimit: 200 };
    const text = entries.map((e) => jsonText(walItemJson(e, hidden)) + walItemLine(e, hidden)).join('\n');
    expect(text).toContain('alice');
    expect(text).toContain('admin');
    expect(text).not.toMatch(/secret|\$2a\$hash/);
    const shown = jsonText(walItemJson(entries[5]!, { values: true, valueLimit: 8 }));
    expect(JSON.parse(shown).puts[0]).toMatchObject({
      value: 'password',
      valueTruncated: true,
      valueSize: 21,
    });
  });

  test('range deletes match a prefix when the ranges overlap', () => {
    const rv = (key: string, rangeEnd?: string): RequestView => ({
      op: 'deleteRange',
      categories: ['delete'],
      puts: [],
      deletes: [
        { key: Buffer.from(key), ...(rangeEnd !== undefined ? { rangeEnd: Buffer.from(rangeEnd) } : {}) },
      ],
      leaseGrants: [],
      leaseRevokes: [],
      leaseCheckpoints: [],
      memberChanges: [],
    });
    const p = Buffer.from('/reg/');
    expect(touchesPrefix(rv('/reg/a'), p)).toBe(true);
    expect(touchesPrefix(rv('/reg'), p)).toBe(false);
    expect(touchesPrefix(rv('/a', '/z'), p)).toBe(true);
    expect(touchesPrefix(rv('/a', '/reg/'), p)).toBe(false);
    expect(touchesPrefix(rv('/reg0', '/z'), p)).toBe(false);
    expect(touchesPrefix(rv('/', '\0'), p)).toBe(true);
    expect(prefixEnd(Buffer.from([0x61, 0xff]))).toEqual(Buffer.from([0x62]));
    expect(prefixEnd(Buffer.from([0xff]))).toBeNull();
  });
});
