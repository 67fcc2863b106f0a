/** The only I/O of the snap audit: list member/snap and read one file at a time, read-only. */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { auditSnap, type SnapAuditOptions, type SnapFacts, type SnapSource } from './audit-snap.js';
import type { Finding } from '../finding.js';

export async function openSnapDir(dir: string): Promise<SnapSource> {
  const names = (await readdir(dir, { withFileTypes: true })).filter((d) => d.isFile()).map((d) => d.name);
  return { names, read: (name) => readFile(path.join(dir, name)) };
}

export async function auditSnapDir(
  dir: string,
  opts: SnapAuditOptions = {},
): Promise<{ findings: Finding[]; facts: SnapFacts }> {
  return auditSnap(await openSnapDir(dir), opts);
}
