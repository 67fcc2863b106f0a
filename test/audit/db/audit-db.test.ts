import { readFile, truncate, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditDb } from '../../../src/audit/db/audit-db.js';
import { DB_CODES } from '../../../src/audit/db/codes.js';
import type { Finding } from '../../../src/audit/finding.js';
import { bufferSource } from '../../../src/formats/byte-source.js';
import { openFileSource } from '../../../src/formats/file-byte-source.js';
import { openBbolt } from '../../../src/formats/bbolt/open.js';
import { walkTree, type PageVisit } from '../../../src/formats/bbolt/walk.js';
import { copyOf, makeCorpus, type Corpus } from '../../formats/bbolt/etcd-corpus.js';

const PS = 4096;

function audit(file: string): Finding[] {
  const src = openFileSource(file);
  try {
    return auditDb(src, file);
  } finally {
    src.close();
  }
}

const errors = (f: Finding[]) => f.filter((x) => x.severity === 'error');
const codes = (f: Finding[]) => [...new Set(f.map((x) => x.code))].sort();

function pagesOf(file: string): PageVisit[] {
  const src = openFileSource(file);
  const pages: PageVisit[] = [];
  for (const _ of walkTree(openBbolt(src)!, { onPage: (v) => pages.push(v) }));
  src.close();
  return pages;
}

async function corrupt(from: string, name: string, edit: (buf: Buffer) => void): Promise<string> {
  const file = await copyOf(from, name);
  const buf = await readFile(file);
  edit(buf);
  await writeFile(file, buf);
  return file;
}

describe('auditDb on real etcd snapshots', () => {
  let corpus: Corpus;
  let branch: PageVisit;
  beforeAll(async () => {
    corpus = await makeCorpus();
    branch = pagesOf(corpus.fresh).find((p) => p.type === 'branch' && p.count >= 3)!;
  });
  afterAll(async () => {
    await corpus?.stop();
  });

  it('finds nothing wrong in fresh, compacted and defragmented snapshots', () => {
    for (const file of [corpus.fresh, corpus.compacted, corpus.defragmented]) {
      const f = audit(file);
      expect(f.filter((x) => x.severity !== 'info')).toEqual([]);
    }
  });

  it('every finding carries a known code, its severity, the file and a runbook link', async () => {
    const file = await corrupt(corpus.fresh, 'mixed.db', (b) => {
      b[72] = b[72]! ^ 1;
      b.writeUInt16LE(0x10, branch.id * PS + 8);
    });
    const f = audit(file);
    expect(f.length).toBeGreaterThan(1);
    for (const x of f) {
      expect(DB_CODES[x.code as keyof typeof DB_CODES]?.severity).toBe(x.severity);
      expect(x.file).toBe(file);
      expect(x.runbook).toMatch(/^runbooks\/corrupt-db\.md#/);
    }
  });

  it('a bad checksum on one meta page: DB_META_CHECKSUM at page 0 and nothing else', async () => {
    const file = await corrupt(corpus.fresh, 'meta0.db', (b) => void (b[64] = b[64]! ^ 0xff)); // txid byte
    const f = audit(file);
    expect(codes(f)).toEqual(['DB_META_CHECKSUM']);
    expect(f[0]!.location).toEqual({ page: 0, offset: 72 });
  });

  it('bad checksums on both meta pages: both reported and DB_NO_VALID_META', async () => {
    const file = await corrupt(corpus.fresh, 'metas.db', (b) => {
      b[72] = b[72]! ^ 0xff;
      b[PS + 72] = b[PS + 72]! ^ 0xff;
    });
    const f = audit(file);
    expect(codes(f)).toEqual(['DB_META_CHECKSUM', 'DB_NO_VALID_META']);
    expect(f.filter((x) => x.code === 'DB_META_CHECKSUM').map((x) => x.location?.page)).toEqual([0, 1]);
  });

  it('a corrupted branch page is reported at that page', async () => {
    const file = await corrupt(corpus.fresh, 'branch.db', (b) => {
      for (let i = 16; i < PS; i++) b[branch.id * PS + i] = (i * 131) & 0xff;
    });
    const f = errors(audit(file));
    expect(f.length).toBeGreaterThan(0);
    expect(f.some((x) => x.location?.page === branch.id)).toBe(true);
  });

  it('a page referenced twice: DB_PAGE_MULTIPLE_REFERENCES naming the page', async () => {
    let child = 0;
    const file = await corrupt(corpus.fresh, 'twice.db', (b) => {
      const e0 = branch.id * PS + 16;
      child = Number(b.readBigUInt64LE(e0 + 8));
      b.writeBigUInt64LE(BigInt(child), e0 + 16 + 8); // element 1 points at element 0's child
    });
    const f = audit(file);
    const hit = f.find((x) => x.code === 'DB_PAGE_MULTIPLE_REFERENCES');
    expect(hit?.location?.page).toBe(child);
    expect(hit?.severity).toBe('error');
  });

  it('an out-of-bounds page id: DB_PAGE_OUT_OF_BOUNDS at the referencing page', async () => {
    const file = await corrupt(corpus.fresh, 'oob.db', (b) => {
      b.writeBigUInt64LE(10_000_000n, branch.id * PS + 16 + 8);
    });
    const f = audit(file);
    const hit = f.find((x) => x.code === 'DB_PAGE_OUT_OF_BOUNDS');
    expect(hit?.location?.page).toBe(branch.id);
    expect(hit?.message).toMatch(/page 10000000 referenced from page/);
  });

  it('a truncated file: DB_TRUNCATED and the pages past the end', async () => {
    const file = await copyOf(corpus.fresh, 'short.db');
    const pgid = openBbolt(bufferSource(await readFile(file)))!.pgid;
    await truncate(file, (pgid - 3) * PS);
    const f = audit(file);
    expect(codes(f)).toContain('DB_TRUNCATED');
    expect(codes(f)).toContain('DB_PAGE_BEYOND_EOF');
    expect(f.find((x) => x.code === 'DB_TRUNCATED')!.location?.offset).toBe((pgid - 3) * PS);
  });

  it('fuzz: random mutations never throw or hang, every problem is a finding', async () => {
    const orig = await readFile(corpus.fresh);
    let seed = 12345;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const deadline = Date.now() + 8000;
    let runs = 0;
    let withErrors = 0;
    while (Date.now() < deadline) {
      const buf = Buffer.from(orig);
      const flips = 1 + rnd(20);
      for (let i = 0; i < flips; i++) {
        // bias towards the metas and the tree's upper pages, where damage matters most
        const at = rnd(4) === 0 ? rnd(2 * PS) : rnd(buf.length);
        buf[at] = rnd(256);
      }
      const input = rnd(10) === 0 ? buf.subarray(0, rnd(buf.length)) : buf;
      const f = auditDb(bufferSource(input), 'fuzz.db');
      for (const x of f) expect(DB_CODES[x.code as keyof typeof DB_CODES]).toBeDefined();
      expect(f.some((x) => x.code === 'DB_AUDIT_INTERNAL')).toBe(false);
      if (errors(f).length > 0) withErrors++;
      runs++;
    }
    expect(runs).toBeGreaterThan(20);
    expect(withErrors).toBeGreaterThan(0);
  });
});
