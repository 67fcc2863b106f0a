/**
 * The WAL and snap parts of `dr audit --data-dir` for one member: both audits plus their cross-check.
 * Reads `<dataDir>/member/wal` (or walDir) and `<dataDir>/member/snap` one file at a time, read-only.
 */
import { access } from 'node:fs/promises';
import path from 'node:path';
import type { Finding } from '../finding.js';
import { auditWal, type WalFacts, type WalSource } from '../wal/audit-wal.js';
import { openWalDir } from '../wal/read-wal-dir.js';
import { auditSnap, type SnapFacts, type SnapSource } from './audit-snap.js';
import { crossCheckWalSnap, type WalSnapCrossCheck } from './cross-check-wal-snap.js';
import { openSnapDir } from './read-snap-dir.js';

export interface WalAndSnapAudit {
  findings: Finding[];
  wal: WalFacts;
  snap: SnapFacts;
  cross: Omit<WalSnapCrossCheck, 'findings'>;
}

/** Pure over the two sources (tests feed in-memory or mutated bytes). */
export async function auditWalAndSnap(
  wal: WalSource,
  snap: SnapSource,
  opts: { walLabel?: string; snapLabel?: string; signal?: AbortSignal } = {},
): Promise<WalAndSnapAudit> {
  const w = await auditWal(wal, {
    dirLabel: opts.walLabel ?? 'member/wal',
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  const s = await auditSnap(snap, {
    dirLabel: opts.snapLabel ?? 'member/snap',
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  const { findings: crossFindings, ...cross } = crossCheckWalSnap(w.facts, s.facts, {
    walDir: opts.walLabel ?? 'member/wal',
    snapDir: opts.snapLabel ?? 'member/snap',
  });
  return { findings: [...w.findings, ...s.findings, ...crossFindings], wal: w.facts, snap: s.facts, cross };
}

export async function auditWalAndSnapDirs(
  dataDir: string,
  opts: { walDir?: string; signal?: AbortSignal } = {},
): Promise<WalAndSnapAudit> {
  const walDir = opts.walDir ?? path.join(dataDir, 'member', 'wal');
  const snapDir = path.join(dataDir, 'member', 'snap');
  const snap = await access(snapDir).then(
    () => openSnapDir(snapDir),
    () => ({ names: [], read: async () => Buffer.alloc(0) }) as SnapSource,
  );
  const wal = await access(walDir).then(
    () => openWalDir(walDir),
    () => ({ names: [], read: async () => Buffer.alloc(0) }) as WalSource,
  );
  return auditWalAndSnap(wal, snap, {
    walLabel: path.relative(dataDir, walDir) || walDir,
    snapLabel: 'member/snap',
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
}
