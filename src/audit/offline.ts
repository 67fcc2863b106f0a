/**
 * Offline audits (`dr audit --data-dir | --snapshot | --backup`): strictly read-only. Files are opened
 * O_RDONLY and read once each (the WAL and snap files one at a time, the db page by page); nothing in the
 * audited directory is created, renamed or written.
 *
 * A data dir is: the WAL + snap audit (src/audit/wal, src/audit/snap), the db audit of member/snap/db and any
 * *.snap.db (src/audit/db, in a worker thread so it runs beside the WAL audit), then the cross-checks between
 * them (cross-checks.ts). A snapshot file is: the db audit, etcd's sha256 trailer when present, and what
 * `etcdctl snapshot status` would print (hash, revision, total keys).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { access, open, stat } from 'node:fs/promises';
import path from 'node:path';
import { DrError } from '../core/errors.js';
import { openFileSource } from '../formats/file-byte-source.js';
import { hexId } from '../formats/raft/member-json.js';
import { snapshotStatus, type SnapshotStatus } from '../formats/bbolt/snapshot-status.js';
import { membershipSource } from '../formats/mvcc/buckets.js';
import type { Manifest } from '../manifest/manifest.js';
import { finding } from './codes.js';
import { crossCheckDataDir } from './cross-checks.js';
import { auditDbFiles, type DbAuditJob } from './db-audit-job.js';
import { readDbFacts, type DbFacts } from './db-facts.js';
import type { Finding } from './finding.js';
import { makeReport, type AuditReport, type AuditTarget } from './report.js';
import { auditWalAndSnap } from './snap/audit-wal-and-snap.js';
import type { SnapSource } from './snap/audit-snap.js';
import { openSnapDir } from './snap/read-snap-dir.js';
import type { WalSource } from './wal/audit-wal.js';
import { openWalDir } from './wal/read-wal-dir.js';

export interface OfflineAuditOptions {
  /** the member's --wal-dir when it is not <dir>/member/wal */
  walDir?: string;
  /** run the db audit on this thread instead of a worker (slower on 2+ cores; same result) */
  inline?: boolean;
  signal?: AbortSignal;
}

const exists = (p: string): Promise<boolean> =>
  access(p).then(
    () => true,
    () => false,
  );

const emptySource = { names: [], read: async () => Buffer.alloc(0) };

/** The member directory of a data dir: <dir>/member, or dir itself when it holds wal/ and snap/. */
async function memberDir(dir: string): Promise<{ member: string; prefix: string }> {
  const st = await stat(dir).catch((err: NodeJS.ErrnoException) => {
    throw new DrError('USAGE', `audit: cannot read data dir ${dir}: ${err.code ?? err.message}`);
  });
  if (!st.isDirectory()) throw new DrError('USAGE', `audit: ${dir} is not a directory`);
  if (await exists(path.join(dir, 'member'))) return { member: path.join(dir, 'member'), prefix: 'member/' };
  if ((await exists(path.join(dir, 'snap'))) || (await exists(path.join(dir, 'wal'))))
    return { member: dir, prefix: '' };
  throw new DrError(
    'USAGE',
    `audit: ${dir} is not an etcd data dir (no member/ directory, and no wal/ or snap/ in it)`,
  );
}

const idHex = (ids: readonly bigint[]): string[] => ids.map(hexId);

function dbFactsJson(d: DbFacts | null): Record<string, unknown> | null {
  if (!d) return null;
  return {
    ...d,
    members: d.members.map((m) => ({ ...m, id: hexId(m.id) })),
    removedMembers: idHex(d.removedMembers),
  };
}

/** Audits a member's data dir. Throws DrError USAGE only when `dir` is not a data dir at all. */
export async function auditDataDir(dir: string, opts: OfflineAuditOptions = {}): Promise<AuditReport> {
  const { member, prefix } = await memberDir(dir);
  const walDir = opts.walDir ?? path.join(member, 'wal');
  const snapDir = path.join(member, 'snap');
  const walLabel = opts.walDir ? walDir : `${prefix}wal`;
  const snapLabel = `${prefix}snap`;
  const dbLabel = `${snapLabel}/db`;
  const target: AuditTarget = {
    kind: 'data-dir',
    path: dir,
    ...(opts.walDir ? { walDir: opts.walDir } : {}),
  };

  const snap: SnapSource = (await exists(snapDir)) ? await openSnapDir(snapDir) : emptySource;
  const hasDb = snap.names.includes('db');
  // the db's facts first, the WAL after: on a running member the WAL read is then at least as new as the db
  // (etcd writes entries to the WAL before it applies them), so the cross-checks compare like with like
  let db: DbFacts | null = null;
  if (hasDb) {
    try {
      const src = openFileSource(path.join(snapDir, 'db'));
      try {
        db = readDbFacts(src);
      } finally {
        src.close();
      }
    } catch {
      /* unreadable: the db audit reports it */
    }
  }
  const wal: WalSource = (await exists(walDir)) ? await openWalDir(walDir) : emptySource;
  const findings: Finding[] = [];
  const jobs: DbAuditJob[] = [];
  if (hasDb) jobs.push({ path: path.join(snapDir, 'db'), label: dbLabel });
  else
    findings.push(
      finding(
        'DB_MISSING',
        `${dbLabel} is missing: the member's key-value store is gone (etcd would start with an empty one and lose everything the snapshots cover)`,
        { file: dbLabel },
      ),
    );
  for (const n of [...snap.names].sort())
    if (n.endsWith('.snap.db')) jobs.push({ path: path.join(snapDir, n), label: `${snapLabel}/${n}` });

  // the db audit (worker thread) and the WAL + snap audit (this thread) run side by side
  const dbRun = auditDbFiles(jobs, { ...(opts.inline ? { inline: true } : {}), signal: opts.signal });
  const ws = await auditWalAndSnap(wal, snap, {
    walLabel,
    snapLabel,
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(db?.consistentIndex != null ? { appliedIndex: db.consistentIndex } : {}),
    ...(db ? { membershipSource: membershipSource(db.schema) } : {}),
  }).catch(async (err: unknown) => {
    await dbRun.catch(() => {});
    throw err;
  });
  const dbFindings = await dbRun;
  const loadable = ws.cross.loadable;
  const cross = crossCheckDataDir(
    {
      wal: ws.wal,
      snap: ws.snap,
      ...(loadable
        ? { loadable: { name: `${snapLabel}/${loadable.name}`, index: loadable.index, term: loadable.term } }
        : {}),
      membership: ws.cross.membership,
      db,
    },
    { db: dbLabel, snapDir: snapLabel },
  );
  if (ws.wal.live)
    for (const f of dbFindings.flat())
      if (f.code === 'DB_COMPACTION_INTERRUPTED') {
        f.severity = 'info';
        f.message += ' (the running member is compacting)';
      }
  findings.push(...ws.findings, ...dbFindings.flat(), ...cross);

  const w = ws.wal;
  const facts: Record<string, unknown> = {
    wal: {
      dir: walLabel,
      segments: w.segments.map((s) => ({ name: s.name, size: s.size, records: s.records, end: s.end })),
      bytes: w.bytesRead,
      entries: w.entryCount,
      firstIndex: w.firstIndex ?? null,
      lastIndex: w.lastIndex ?? null,
      tail: w.tail,
      lastIntactIndex: w.lastIntactIndex ?? null,
      live: w.live,
      ...(w.repairAt ? { repairAt: w.repairAt } : {}),
      nodeId: w.metadata ? hexId(w.metadata.nodeId) : null,
      clusterId: w.metadata ? hexId(w.metadata.clusterId) : null,
      hardState: w.lastHardState
        ? { term: w.lastHardState.term, vote: hexId(w.lastHardState.vote), commit: w.lastHardState.commit }
        : null,
      snapshotRecords: w.snapshotRecords.map((r) => ({ index: r.index, term: r.term })),
    },
    snap: {
      files: ws.snap.files.map((f) => ({ name: f.name, term: f.term, index: f.index, valid: f.valid })),
      loadable: loadable?.name ?? null,
      snapDbs: ws.snap.snapDbs,
    },
    membership: {
      voters: idHex(ws.cross.membership.voters),
      learners: idHex(ws.cross.membership.learners),
      fromSnapshot: ws.cross.membership.fromSnapshot ?? null,
    },
    db: dbFactsJson(db),
  };
  return makeReport(target, findings, facts);
}

export interface TrailerCheck {
  present: boolean;
  /** the trailer bytes (what etcd says the db hashes to) */
  expected?: string;
  actual?: string;
  ok?: boolean;
}

/** etcd's rule (`hasChecksum`): a snapshot with a trailer is 32 bytes past a 512-byte multiple. */
async function checkTrailer(file: string, size: number, signal?: AbortSignal): Promise<TrailerCheck> {
  if (size % 512 !== 32) return { present: false };
  const h = await open(file, 'r');
  let expected: string;
  try {
    const buf = Buffer.alloc(32);
    await h.read(buf, 0, 32, size - 32);
    expected = buf.toString('hex');
  } finally {
    await h.close();
  }
  const hash = createHash('sha256');
  if (size > 32) {
    const stream = createReadStream(file, {
      start: 0,
      end: size - 33,
      highWaterMark: 1 << 20,
      ...(signal ? { signal } : {}),
    });
    for await (const chunk of stream) hash.update(chunk as Buffer);
  }
  const actual = hash.digest('hex');
  return { present: true, expected, actual, ok: actual === expected };
}

function statusJson(s: SnapshotStatus | null): Record<string, unknown> | null {
  return s ? { hash: s.hash, revision: s.revision, totalKey: s.totalKey, totalSize: s.totalSize } : null;
}

/**
 * Audits a snapshot file (with or without etcd's 32-byte sha256 trailer) or any bbolt backend file.
 * `label` names the file in findings (default: its base name).
 */
export async function auditSnapshotFile(
  file: string,
  opts: OfflineAuditOptions & { label?: string; target?: AuditTarget } = {},
): Promise<AuditReport> {
  const st = await stat(file).catch((err: NodeJS.ErrnoException) => {
    throw new DrError('USAGE', `audit: cannot read snapshot file ${file}: ${err.code ?? err.message}`);
  });
  if (!st.isFile()) throw new DrError('USAGE', `audit: ${file} is not a file`);
  const label = opts.label ?? path.basename(file);
  const target: AuditTarget = opts.target ?? { kind: 'snapshot', path: file };
  const findings: Finding[] = [];

  const dbRun = auditDbFiles([{ path: file, label }], {
    ...(opts.inline ? { inline: true } : {}),
    signal: opts.signal,
  });
  const trailer = await checkTrailer(file, st.size, opts.signal).catch(async (err: unknown) => {
    await dbRun.catch(() => {});
    throw err;
  });
  if (!trailer.present)
    findings.push(
      finding(
        'SNAPSHOT_NO_TRAILER',
        `${label} has no sha256 trailer (size ${st.size} is not 32 bytes past a 512-byte multiple): a raw db copied from a data dir, not the output of \`etcdctl snapshot save\`; restoring it needs --skip-hash-check`,
        { file: label },
      ),
    );
  else if (!trailer.ok)
    findings.push(
      finding(
        'SNAPSHOT_TRAILER_MISMATCH',
        `${label}: the sha256 of the first ${st.size - 32} bytes is ${trailer.actual}, but the trailer says ${trailer.expected}: the file changed after etcd sent it; \`etcdctl snapshot restore\` refuses it`,
        { file: label, location: { offset: st.size - 32 } },
      ),
    );

  // runs while the worker audits the same file: the page cache serves the second reader
  const { status, statusError, db } = readStatusAndFacts(file);
  const dbFindings = (await dbRun).flat();
  findings.push(...dbFindings);
  if (statusError !== null && !dbFindings.some((f) => f.severity === 'error'))
    findings.push(
      finding('SNAPSHOT_STATUS_FAILED', `${label}: \`snapshot status\` would fail: ${statusError}`, {
        file: label,
      }),
    );
  return makeReport(target, findings, {
    file: label,
    size: st.size,
    trailer,
    status: statusJson(status),
    db: dbFactsJson(db),
  });
}

/** The checks `--backup` adds: the fetched snapshot must be what the manifest recorded. */
export function checkAgainstManifest(report: AuditReport, manifest: Manifest, label: string): Finding[] {
  const status = report.facts.status as { hash: number; revision: bigint; totalKey: number } | null;
  if (!status) return [];
  const out: Finding[] = [];
  const m = manifest.snapshot;
  if (status.hash !== m.hash)
    out.push(
      finding(
        'BACKUP_HASH_MISMATCH',
        `backup ${manifest.id}: snapshot hash is ${status.hash}, the manifest recorded ${m.hash}`,
        { file: label },
      ),
    );
  if (status.revision.toString() !== m.revision)
    out.push(
      finding(
        'BACKUP_REVISION_MISMATCH',
        `backup ${manifest.id}: snapshot revision is ${status.revision}, the manifest recorded ${m.revision}`,
        { file: label },
      ),
    );
  if (status.totalKey !== m.totalKeys)
    out.push(
      finding(
        'BACKUP_TOTAL_KEYS_MISMATCH',
        `backup ${manifest.id}: snapshot holds ${status.totalKey} keys across buckets, the manifest recorded ${m.totalKeys}`,
        { file: label },
      ),
    );
  return out;
}

function readStatusAndFacts(file: string): {
  status: SnapshotStatus | null;
  statusError: string | null;
  db: DbFacts | null;
} {
  const src = openFileSource(file);
  try {
    let status: SnapshotStatus | null = null;
    let statusError: string | null = null;
    try {
      status = snapshotStatus(src);
    } catch (err) {
      statusError = (err as Error).message;
    }
    return { status, statusError, db: readDbFacts(src) };
  } finally {
    src.close();
  }
}
