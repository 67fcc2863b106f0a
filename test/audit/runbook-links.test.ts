/**
 * Keeps the finding codes, their catalogue (src/audit/codes.ts), runbooks/README.md and the runbook headings in
 * step: every code an audit module can emit is catalogued with the severity it is emitted with, has a README
 * row, and links to an existing runbook section that names it; every link in the runbooks resolves.
 */
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { AUDIT_CODES, severitiesOf } from '../../src/audit/codes.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const read = (rel: string) => readFileSync(path.join(ROOT, rel), 'utf8');

function tsFilesBelow(rel: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(path.join(ROOT, rel), { withFileTypes: true })) {
    const p = path.join(rel, e.name);
    if (e.isDirectory()) out.push(...tsFilesBelow(p));
    else if (e.name.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** The sources whose string literals are finding codes. */
const SOURCES = [
  ...tsFilesBelow('src/audit'),
  'src/formats/wal/segment-decoder.ts',
  'src/formats/snap/snap-file.ts',
  'src/cli/audit.ts',
];
const CODE_PREFIX =
  /^(WAL|SNAP|DB|CROSS|SNAPSHOT|BACKUP|CLUSTER|MEMBER|LEADER|RAFT|ENDPOINT|ALARM|HASH|HASHKV)_[A-Z0-9_]+$/;
/** DrError codes of src/core/errors.ts that share a prefix with finding codes */
const NOT_FINDINGS = new Set(['SNAPSHOT_INVALID', 'SNAPSHOT_STREAM_FAILED', 'SNAPSHOT_DIGEST_MISMATCH']);

function literalCodes(): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const file of SOURCES) {
    for (const m of read(file).matchAll(/'([A-Z][A-Z0-9_]+)'/g)) {
      const code = m[1]!;
      if (!CODE_PREFIX.test(code) || NOT_FINDINGS.has(code)) continue;
      found.set(code, [...(found.get(code) ?? []), file]);
    }
  }
  // bbolt problems become DB_<code> findings (audit-db.ts); NO_VALID_META is reported as DB_NO_VALID_META
  for (const file of tsFilesBelow('src/formats/bbolt'))
    for (const m of read(file).matchAll(/code: '([A-Z_]+)'/g)) found.set(`DB_${m[1]}`, [file]);
  return found;
}

/** GitHub's heading anchors. */
function anchorsOf(md: string): Set<string> {
  const out = new Set<string>();
  let inCode = false;
  for (const line of md.split('\n')) {
    if (line.startsWith('```')) inCode = !inCode;
    if (inCode) continue;
    const h = /^#{1,6}\s+(.*)$/.exec(line);
    if (h)
      out.add(
        h[1]!
          .trim()
          .toLowerCase()
          .replace(/[^\p{L}\p{N}\s_-]/gu, '')
          .replace(/\s/g, '-'),
      );
  }
  return out;
}

/** The text of the section under `anchor` (up to the next heading of the same or a higher level). */
function sectionOf(md: string, anchor: string): string {
  const lines = md.split('\n');
  const start = lines.findIndex((l) => /^##\s/.test(l) && anchorsOf(l).has(anchor));
  if (start < 0) return '';
  const end = lines.findIndex((l, i) => i > start && /^#{1,2}\s/.test(l));
  return lines.slice(start, end < 0 ? undefined : end).join('\n');
}

function resolveLink(fromFile: string, link: string): { file: string; anchor?: string } {
  const [p, anchor] = link.split('#');
  const file = p ? path.join(path.dirname(fromFile), p) : fromFile;
  return { file, ...(anchor !== undefined ? { anchor } : {}) };
}

function checkLink(fromFile: string, link: string): string | null {
  const { file, anchor } = resolveLink(fromFile, link);
  if (!existsSync(path.join(ROOT, file))) return `${fromFile}: ${link}: ${file} does not exist`;
  if (anchor !== undefined && !anchorsOf(read(file)).has(anchor))
    return `${fromFile}: ${link}: no heading #${anchor} in ${file}`;
  return null;
}

describe('finding codes', () => {
  test('every code used in the audit sources is catalogued', () => {
    const missing = [...literalCodes()]
      .filter(([code]) => !(code in AUDIT_CODES))
      .map(([c, f]) => `${c} (${f[0]})`);
    expect(missing).toEqual([]);
  });

  test('codes are emitted with a severity the catalogue allows', () => {
    const wrong: string[] = [];
    for (const file of SOURCES) {
      const src = read(file);
      const patterns = [
        /\badd\(\s*'(error|warning|info)',\s*'([A-Z0-9_]+)'/g, // audit-wal / audit-snap helpers
        /severity:\s*'(error|warning|info)',\s*code:\s*'([A-Z0-9_]+)'/g, // finding object literals
        /([A-Z][A-Z0-9_]+): \{ severity: '(error|warning|info)'/g, // PROBLEM_META, DB_CODES
      ];
      for (const [i, re] of patterns.entries())
        for (const m of src.matchAll(re)) {
          const [sev, code] = i === 2 ? [m[2]!, m[1]!] : [m[1]!, m[2]!];
          if (!severitiesOf(code).includes(sev as never)) wrong.push(`${file}: ${code} emitted as ${sev}`);
        }
    }
    expect(wrong).toEqual([]);
  });

  test('the WAL audit anchors agree with the catalogue', () => {
    // every module of the WAL audit (audit-wal.ts wires them; the codes are emitted in each)
    const src = tsFilesBelow('src/audit/wal').map(read).join('\n');
    const wrong: string[] = [];
    for (const m of src.matchAll(/(WAL_[A-Z_]+): \{ severity: '\w+', anchor: '([\w-]+)' \}/g))
      if (AUDIT_CODES[m[1]!]?.runbook !== `runbooks/corrupt-wal.md#${m[2]}`) wrong.push(m[1]!);
    for (const m of src.matchAll(/'(WAL_[A-Z_]+)',[^;]*?'([a-z-]+)',\s*\)/gs))
      if (AUDIT_CODES[m[1]!]?.runbook !== `runbooks/corrupt-wal.md#${m[2]}`) wrong.push(`${m[1]} -> ${m[2]}`);
    expect(wrong).toEqual([]);
  });
});

describe('runbooks', () => {
  test('every catalogued code links to an existing runbook section that names it', () => {
    const bad: string[] = [];
    for (const [code, info] of Object.entries(AUDIT_CODES)) {
      expect(info.runbook).toMatch(/^runbooks\/[a-z-]+\.md#[a-z0-9-]+$/);
      const err = checkLink('runbooks/README.md', info.runbook.replace('runbooks/', ''));
      if (err) {
        bad.push(`${code}: ${err}`);
        continue;
      }
      const [file, anchor] = info.runbook.split('#');
      if (!sectionOf(read(file!), anchor!).includes(`\`${code}\``))
        bad.push(`${code}: section ${info.runbook} does not name it`);
    }
    expect(bad).toEqual([]);
  });

  test('runbooks/README.md has one row per code, with its severity and runbook', () => {
    const readme = read('runbooks/README.md');
    const rows = new Map<string, { severity: string; link: string }>();
    for (const m of readme.matchAll(/^\| `([A-Z0-9_]+)` \| ([a-z ]+) \| \[[^\]]*\]\(([^)]+)\) \|/gm))
      rows.set(m[1]!, { severity: m[2]!, link: m[3]! });
    expect([...rows.keys()].sort()).toEqual(Object.keys(AUDIT_CODES).sort());
    for (const [code, info] of Object.entries(AUDIT_CODES)) {
      expect(rows.get(code)!.severity, code).toBe(severitiesOf(code).join(' or '));
      expect(`runbooks/${rows.get(code)!.link}`, code).toBe(info.runbook);
    }
  });

  test('every markdown link between runbooks resolves to a file and heading', () => {
    const bad: string[] = [];
    for (const name of readdirSync(path.join(ROOT, 'runbooks')).filter((n) => n.endsWith('.md'))) {
      const rel = `runbooks/${name}`;
      for (const m of read(rel).matchAll(/\]\(([^)\s]+)\)/g)) {
        const link = m[1]!;
        if (/^[a-z]+:/.test(link)) continue;
        const err = checkLink(rel, link);
        if (err) bad.push(err);
      }
    }
    expect(bad).toEqual([]);
  });
});
