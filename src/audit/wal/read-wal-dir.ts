/**
 * The only I/O of the WAL audit: list a WAL directory and read one segment at a time. Strictly
 * read-only (evidence is never modified).
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { anyLocked } from '../live.js';
import { auditWal, type WalAuditOptions, type WalAuditResult, type WalSource } from './audit-wal.js';

export async function openWalDir(dir: string): Promise<WalSource> {
  const names = (await readdir(dir, { withFileTypes: true })).filter((d) => d.isFile()).map((d) => d.name);
  // a running etcd locks its last segment and the preallocated next one
  const held = [
    ...names
      .filter((n) => n.endsWith('.wal'))
      .sort()
      .slice(-2),
    ...names.filter((n) => n.endsWith('.tmp')),
  ];
  const live = await anyLocked(held.map((n) => path.join(dir, n)));
  return { names, read: (name) => readFile(path.join(dir, name)), live };
}

/** Audits `dir` (a member's wal directory, or --wal-dir). */
export async function auditWalDir(dir: string, opts: WalAuditOptions = {}): Promise<WalAuditResult> {
  return auditWal(await openWalDir(dir), opts);
}
