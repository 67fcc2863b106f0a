/**
 * A fixed number of seeded random mutations of real WAL and snap bytes (a failure replays): the
 * audit never throws or hangs, every finding is well-formed, and a mutation is either reported or leaves
 * what the WAL says unchanged or a clean prefix of it (the log ends earlier at a frame boundary, which is
 * also what etcd's own repair produces and cannot be told apart from a shorter log).
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, expect, test } from 'vitest';
import { auditSnap } from '../../../src/audit/snap/audit-snap.js';
import { auditWal, type WalAuditResult } from '../../../src/audit/wal/audit-wal.js';
import { decodeEntryPayload, entryEffects } from '../../../src/formats/raft/entry-payload.js';
import { decodeWalSegment } from '../../../src/formats/wal/segment-decoder.js';
import { parseV2Store } from '../../../src/formats/snap/v2-store.js';
import { getWalCorpus } from '../../helpers/wal-corpus.js';

// a fixed count as for the WAL: the same mutations on every machine and every run
const SNAP_RUNS = 3000;
// 3000 runs take ~5-10 s here and include the mutation (run 2632: a flipped record type) that once went unreported
const WAL_RUNS = 3000;

function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let walBytes: Buffer; // framed records of the fresh member's WAL + a zero tail
let framedEnd = 0;
let snapBytes: Buffer;
const WAL_NAME = '0000000000000000-0000000000000000.wal';

beforeAll(async () => {
  const corpus = await getWalCorpus();
  const full = await readFile(path.join(corpus.fresh, 'member', 'wal', WAL_NAME));
  framedEnd = decodeWalSegment(full, { isLast: true }).validEnd;
  walBytes = Buffer.from(full.subarray(0, framedEnd + 8192));
  const snapDir = path.join(corpus.main, 'member', 'snap');
  const snapName = (await readdir(snapDir))
    .filter((n) => n.endsWith('.snap'))
    .sort()
    .at(-1)!;
  snapBytes = await readFile(path.join(snapDir, snapName));
}, 300_000);

/** what the WAL says: one string per entry, then the snapshot records */
async function audit(bytes: Buffer): Promise<{ r: WalAuditResult; said: string[] }> {
  const said: string[] = [];
  const r = await auditWal(
    { names: [WAL_NAME], read: async () => bytes },
    {
      onEntry: ({ entry }) => {
        const h = createHash('sha256')
          .update(entry.data ?? Buffer.alloc(0))
          .digest('hex');
        said.push(`${entry.index}/${entry.term}/${entry.type}/${h}`);
        entryEffects(decodeEntryPayload(entry)); // must not throw on anything
      },
    },
  );
  for (const s of r.facts.snapshotRecords) said.push(`snap ${s.index}:${s.term}`);
  return { r, said };
}

/** a clean prefix: the log simply ends earlier, exactly what etcd's own repair leaves behind */
const isPrefix = (a: string[], b: string[]) => {
  const ea = a.filter((x) => !x.startsWith('snap'));
  const eb = b.filter((x) => !x.startsWith('snap'));
  return ea.length <= eb.length && ea.every((x, i) => x === eb[i]);
};

function wellFormed(findings: { severity: string; code: string; message: string; runbook?: string }[]) {
  for (const f of findings) {
    expect(['error', 'warning', 'info']).toContain(f.severity);
    expect(f.code).toMatch(/^(WAL|SNAP)_[A-Z0-9_]+$/);
    expect(f.message.length).toBeGreaterThan(10);
    expect(f.runbook).toMatch(/^runbooks\/corrupt-(wal|snap)\.md#[a-z-]+$/);
  }
}

test('WAL: random mutations never throw, and changes inside the frames are reported', async () => {
  const base = await audit(walBytes);
  expect(base.r.findings.filter((f) => f.severity !== 'info')).toEqual([]);
  const rand = rng(0x5eed);
  let runs = 0;
  const unreported: string[] = [];
  // a fixed number of seeded runs, not a time budget: the same mutations on every machine, so a failure
  // replays and a faster decoder cannot reach new cases on one run and not the next
  while (runs < WAL_RUNS) {
    const buf = Buffer.from(walBytes);
    const kind = Math.floor(rand() * 5);
    const at = Math.floor(rand() * framedEnd);
    let desc: string;
    if (kind === 0) {
      buf[at]! ^= 1 << Math.floor(rand() * 8);
      desc = `flip bit at ${at}`;
    } else if (kind === 1) {
      buf[at] = Math.floor(rand() * 256);
      desc = `set byte at ${at}`;
    } else if (kind === 2) {
      const n = 1 + Math.floor(rand() * 600);
      buf.fill(0, at, at + n);
      desc = `zero ${n} bytes at ${at}`;
    } else if (kind === 3) {
      const n = 1 + Math.floor(rand() * 64);
      for (let i = 0; i < n && at + i < buf.length; i++) buf[at + i] = Math.floor(rand() * 256);
      desc = `random ${n} bytes at ${at}`;
    } else {
      desc = `truncate at ${at}`;
    }
    const mutated = kind === 4 ? buf.subarray(0, at) : buf;
    const { r, said } = await audit(mutated);
    wellFormed(r.findings);
    if (r.findings.length === 0 && !isPrefix(said, base.said)) unreported.push(desc);
    runs++;
  }
  expect(unreported).toEqual([]);
});

test('snap: random mutations never throw and any change to the bytes is reported', async () => {
  const rand = rng(0xbeef);
  let changed = 0;
  for (let run = 0; run < SNAP_RUNS; run++) {
    const buf = Buffer.from(snapBytes);
    const n = 1 + Math.floor(rand() * 4);
    for (let i = 0; i < n; i++) buf[Math.floor(rand() * buf.length)]! ^= 1 << Math.floor(rand() * 8);
    const cut = rand() < 0.2 ? Math.floor(rand() * buf.length) : buf.length;
    const bytes = buf.subarray(0, cut);
    const name = '0000000000000002-000000000000012f.snap';
    const { findings } = await auditSnap({ names: [name], read: async () => bytes });
    wellFormed(findings);
    // a damaged snap file is a warning (etcd falls back) or an error; never silent
    if (!bytes.equals(snapBytes)) {
      changed++;
      expect(findings.filter((f) => f.severity !== 'info').length, `run ${run}`).toBeGreaterThan(0);
    }
  }
  // bit flips and cuts change the bytes nearly every time: the loop above did test something
  expect(changed).toBeGreaterThan(SNAP_RUNS * 0.9);
});

test('v2 store JSON and entry payloads: arbitrary bytes give a result or a plain Error', () => {
  const rand = rng(7);
  for (let i = 0; i < 5000; i++) {
    const len = Math.floor(rand() * 80);
    const bytes = Buffer.alloc(len);
    for (let j = 0; j < len; j++) bytes[j] = Math.floor(rand() * 256);
    for (const type of [0, 1, 2, 3]) entryEffects(decodeEntryPayload({ type, data: bytes }));
    try {
      parseV2Store(bytes);
    } catch (err) {
      expect(err).toBeInstanceOf(Error);
    }
  }
});

test('WAL: a state record whose type byte reads as an entry (the type is outside the CRC) is reported', async () => {
  // every state record after the first entry, one at a time: 0x08 0x03 (type 3) becomes 0x08 0x02 (entry)
  const states: number[] = [];
  let sawEntry = false;
  decodeWalSegment(walBytes, { isLast: true }, (rec) => {
    if (rec.type === 2) sawEntry = true;
    else if (rec.type === 3 && sawEntry) states.push(rec.offset);
  });
  expect(states.length).toBeGreaterThan(0);
  const base = await audit(walBytes);
  for (const off of states) {
    const buf = Buffer.from(walBytes);
    expect(buf.subarray(off + 8, off + 10)).toEqual(Buffer.from([0x08, 0x03]));
    buf[off + 9] = 0x02;
    const { r, said } = await audit(buf);
    if (!isPrefix(said, base.said)) expect(r.findings.filter((f) => f.severity === 'error')).not.toEqual([]);
  }
});
