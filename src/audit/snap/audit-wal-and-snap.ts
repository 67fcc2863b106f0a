/**
 * The WAL and snap parts of `dr audit --data-dir` for one member: both audits plus their cross-check.
 * Reads `<dataDir>/member/wal` (or walDir) and `<dataDir>/member/snap` one file at a time, read-only.
 */
import { access } from 'node:fs/promises';
import path from 'node:path';
import type { Finding } from '../finding.js';
import { auditWal, type WalFacts, type WalSource } from '../wal/audit-wal.js';
import { openWalDir } from '../wal/read-wal-dir.js';
import {
  auditSnap,
  SNAP_FILE_DAMAGE,
  type SnapAuditOptions,
  type SnapFacts,
  type SnapSource,
} from './audit-snap.js';
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
  opts: {
    walLabel?: string;
    snapLabel?: string;
    signal?: AbortSignal;
    appliedIndex?: bigint;
    membershipSource?: SnapAuditOptions['membershipSource'];
  } = {},
): Promise<WalAndSnapAudit> {
  const w = await auditWal(wal, {
    dirLabel: opts.walLabel ?? 'member/wal',
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  const s = await auditSnap(snap, {
    dirLabel: opts.snapLabel ?? 'member/snap',
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.membershipSource ? { membershipSource: opts.membershipSource } : {}),
  });
  const { findings: crossFindings, ...cross } = crossCheckWalSnap(w.facts, s.facts, {
    walDir: opts.walLabel ?? 'member/wal',
    snapDir: opts.snapLabel ?? 'member/snap',
    ...(opts.appliedIndex !== undefined ? { appliedIndex: opts.appliedIndex } : {}),
  });
  // a damaged snap file newer than every WAL snapshot record: etcd saves the snap file before the WAL record,
  // so this is a file a crash tore (or, on a running member, the one being written); etcd never loads it
  const newestRecord = w.facts.snapshotRecords.reduce((m, r) => (r.index > m ? r.index : m), 0n);
  const snapDir = opts.snapLabel ?? 'member/snap';
  for (const f of s.findings) {
    const damage =
      SNAP_FILE_DAMAGE.has(f.code) || (f.code === 'SNAP_V2_JSON_INVALID' && f.severity === 'warning');
    if (!damage) continue;
    const file = s.facts.files.find((x) => `${snapDir}/${x.name}` === f.file);
    if (!file || file.index <= newestRecord) continue;
    f.severity = 'info';
    f.message += w.facts.live
      ? '; it is newer than every WAL snapshot record: the snap file the running member is writing'
      : '; it is newer than every WAL snapshot record (torn by a crash while etcd saved it?): etcd never loads it (3.4 sets it aside as .broken), nothing is lost';
  }
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
    () => ({ names: [], read: async () => Buffer.alloc(0) }),
  );
  const wal = await access(walDir).then(
    () => openWalDir(walDir),
    () => ({ names: [], read: async () => Buffer.alloc(0) }),
  );
  return auditWalAndSnap(wal, snap, {
    walLabel: path.relative(dataDir, walDir) || walDir,
    snapLabel: 'member/snap',
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
}
