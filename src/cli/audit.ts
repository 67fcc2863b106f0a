/**
 * `dr audit`: is this member's data (or this snapshot, backup, live cluster) intact, and if not, where and what
 * to do. Exactly one target. Exit 0 when no finding is an error (warnings and infos allowed), 1 otherwise.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { DrError, EXIT, isDrError } from '../core/errors.js';
import { createEtcdClient } from '../etcd/client.js';
import { finding } from '../audit/codes.js';
import { auditDataDir, auditSnapshotFile, checkAgainstManifest } from '../audit/offline.js';
import { auditCluster, compareBackupWithCluster, DEFAULT_QUOTA_BYTES } from '../audit/online.js';
import { openFileSource } from '../formats/file-byte-source.js';
import { offlineHashKV } from '../formats/mvcc/store.js';
import { formatReport, makeReport, type AuditReport, type AuditTarget } from '../audit/report.js';
import { fetchSnapshot } from '../pipeline/fetch.js';
import { redactUrl } from '../core/redact.js';
import {
  addConnectionOptions,
  addJsonOption,
  addIdentityOption,
  addStorageOption,
  resolveIdentities,
  openCatalog,
  openStorage,
  resolveEtcdOptions,
  type CommandContext,
  manifestTrust,
} from './context.js';
import { formatBytes, formatHash, printJson } from './output.js';
import { resolveBackup } from './resolve-backup.js';
import { action } from './run.js';

interface AuditFlags {
  dataDir?: string;
  walDir?: string;
  snapshot?: string;
  backup?: string;
  clusterName?: string;
  tmpDir?: string;
  quotaBytes?: string;
  json?: boolean;
}

export function registerAudit(program: Command): void {
  const cmd = program
    .command('audit')
    .description(
      'check a data dir, snapshot file, backup or live cluster for corruption; every finding names the file, ' +
        'location and runbook (exit 1 when an error is found)',
    )
    .option('--data-dir <dir>', "a member's data dir (read-only: nothing in it is modified)")
    .option('--wal-dir <dir>', "with --data-dir: the member's --wal-dir, when not <data-dir>/member/wal")
    .option('--snapshot <file>', 'a snapshot file (etcdctl snapshot save, dr fetch) or a bare bbolt db')
    .option(
      '--backup <id>',
      'a stored backup (an id or "latest"; needs --storage); with --endpoints, its HashKV is also compared with the cluster\'s',
    )
    .option('--cluster-name <name>', 'with --backup latest: newest backup of this cluster')
    .option('--tmp-dir <dir>', 'with --backup: where the snapshot is fetched to (deleted afterwards)')
    .option(
      '--quota-bytes <n>',
      "online: the members' --quota-backend-bytes, for the db size check",
      DEFAULT_QUOTA_BYTES.toString(),
    );
  addConnectionOptions(cmd);
  addStorageOption(cmd);
  addIdentityOption(cmd);
  addJsonOption(cmd);
  cmd.action(
    action(async (ctx, opts: AuditFlags) => {
      const online = Boolean(ctx.flags.endpoints || ctx.flags.config || ctx.flags.cluster);
      // --backup with --endpoints: the backup's audit, then its HashKV compared with the live cluster's
      const chosen = [
        opts.dataDir && '--data-dir',
        opts.snapshot && '--snapshot',
        opts.backup && '--backup',
        online && !opts.backup && '--endpoints/--config',
      ].filter(Boolean);
      if (chosen.length !== 1)
        throw new DrError(
          'USAGE',
          chosen.length === 0
            ? 'audit: give one target: --data-dir DIR, --snapshot FILE, --backup ID, or --endpoints (online)'
            : `audit: give exactly one target, not ${chosen.join(' and ')}`,
        );
      if (opts.walDir && !opts.dataDir) throw new DrError('USAGE', 'audit: --wal-dir goes with --data-dir');

      let report: AuditReport;
      if (opts.dataDir)
        report = await auditDataDir(opts.dataDir, { walDir: opts.walDir, signal: ctx.signal });
      else if (opts.snapshot) report = await auditSnapshotFile(opts.snapshot, { signal: ctx.signal });
      else if (opts.backup) report = await auditBackup(ctx, opts.backup, opts, online);
      else report = await auditOnline(ctx, opts);

      if (opts.json) printJson(report);
      else process.stdout.write(formatReport(report, factLines(report)));
      return report.ok ? EXIT.OK : EXIT.BAD;
    }),
  );
}

function quotaOf(raw: string | undefined): bigint {
  if (raw === undefined) return DEFAULT_QUOTA_BYTES;
  if (!/^\d+$/.test(raw) || BigInt(raw) === 0n)
    throw new DrError('USAGE', `--quota-bytes: "${raw}" is not a positive number of bytes`);
  return BigInt(raw);
}

async function auditOnline(ctx: CommandContext, opts: AuditFlags): Promise<AuditReport> {
  const quotaBytes = quotaOf(opts.quotaBytes);
  const client = createEtcdClient(await resolveEtcdOptions(ctx), { logger: ctx.logger });
  try {
    return await auditCluster(client, { quotaBytes, signal: ctx.signal });
  } finally {
    client.close();
  }
}

async function auditBackup(
  ctx: CommandContext,
  ref: string,
  opts: AuditFlags,
  againstCluster: boolean,
): Promise<AuditReport> {
  const backend = await openStorage(ctx);
  const catalog = openCatalog(ctx);
  let tmp: string | undefined;
  try {
    const manifest = await resolveBackup(backend, catalog, ref, opts.clusterName, await manifestTrust(ctx));
    const target: AuditTarget = {
      kind: 'backup',
      id: manifest.id,
      cluster: manifest.clusterName,
      storage: redactUrl(backend.location),
    };
    const manifestFacts = {
      id: manifest.id,
      revision: manifest.snapshot.revision,
      hash: manifest.snapshot.hash,
      totalKeys: manifest.snapshot.totalKeys,
      sha256: manifest.snapshot.sha256,
    };
    tmp = await mkdtemp(path.join(opts.tmpDir ?? os.tmpdir(), 'dr-audit-'));
    const label = `${manifest.id}.db`;
    const file = path.join(tmp, label);
    try {
      await fetchSnapshot(backend, manifest, file, {
        signal: ctx.signal,
        identities: await resolveIdentities(ctx),
      });
    } catch (err) {
      if (!isDrError(err, 'VERIFY_FAILED')) throw err;
      return makeReport(
        target,
        [finding('BACKUP_FETCH_FAILED', err.message, { file: manifest.stored.key })],
        { manifest: manifestFacts },
      );
    }
    const report = await auditSnapshotFile(file, { label, target, signal: ctx.signal });
    const extra = checkAgainstManifest(report, manifest, label);
    const findings = [...report.findings, ...extra];
    const facts: Record<string, unknown> = { ...report.facts, manifest: manifestFacts };
    if (againstCluster) {
      const cmp = await backupAgainstCluster(ctx, file, BigInt(manifest.snapshot.revision));
      findings.push(...cmp.findings);
      facts.cluster = cmp.facts;
    }
    return makeReport(target, findings, facts);
  } finally {
    if (tmp) await rm(tmp, { recursive: true, force: true });
    catalog.close();
    await backend.close();
  }
}

/**
 * The backup's HashKV at its revision (computed offline from the fetched snapshot, as `dr inspect db` does)
 * against every member's. A backup whose data no longer reads (the audit above says why) is not compared.
 */
async function backupAgainstCluster(ctx: CommandContext, file: string, revision: bigint) {
  const client = createEtcdClient(await resolveEtcdOptions(ctx), { logger: ctx.logger });
  const src = openFileSource(file);
  try {
    return await compareBackupWithCluster(
      client,
      revision,
      (compactRevision) => offlineHashKV(src, revision, { compactRevision }),
      { signal: ctx.signal },
    );
  } catch (err) {
    // the etcd side never throws (its failures are findings): this is the snapshot's data, or a cancel
    if (isDrError(err, 'ABORTED') || !(err instanceof DrError)) throw err;
    return {
      findings: [
        finding('BACKUP_CLUSTER_NOT_COMPARED', `the backup's HashKV could not be computed: ${err.message}`),
      ],
      facts: null,
    };
  } finally {
    client.close();
    src.close();
  }
}

/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-argument, @typescript-eslint/no-unsafe-call --
   the facts differ per target kind; this prints whichever are present. */
/** A few lines of facts under the report title. */
function factLines(r: AuditReport): string[] {
  const f = r.facts as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  const lines: string[] = [];
  if (r.target.kind === 'data-dir') {
    const w = f.wal;
    if (w)
      lines.push(
        `wal: ${w.segments.length} segment(s), ${formatBytes(w.bytes)}, entries ${w.firstIndex ?? '-'}..${w.lastIndex ?? '-'}, ` +
          `HardState ${w.hardState ? `term ${w.hardState.term} commit ${w.hardState.commit}` : 'none'}, tail ${w.tail}, member ${w.nodeId ?? '?'} of cluster ${w.clusterId ?? '?'}`,
      );
    if (f.snap)
      lines.push(`snap: ${f.snap.files.length} snap file(s), etcd loads ${f.snap.loadable ?? 'none'}`);
    if (f.db)
      lines.push(
        `db: ${formatBytes(f.db.dbSize)}, consistent index ${f.db.consistentIndex ?? '-'}, revision ${f.db.revision}, compacted at ${f.db.compactRevision}, schema ${f.db.schema}`,
      );
    if (f.membership) lines.push(`membership: voters [${f.membership.voters.join(', ')}]`);
  } else if (r.target.kind === 'snapshot' || r.target.kind === 'backup') {
    if (f.status)
      lines.push(
        `hash ${formatHash(f.status.hash)}, revision ${f.status.revision}, total keys ${f.status.totalKey}, total size ${f.status.totalSize}`,
      );
    if (f.trailer)
      lines.push(
        `sha256 trailer: ${!f.trailer.present ? 'absent' : f.trailer.ok ? 'present, matches' : 'present, DOES NOT MATCH'}`,
      );
    if (f.manifest)
      lines.push(
        `manifest: hash ${formatHash(f.manifest.hash)}, revision ${f.manifest.revision}, total keys ${f.manifest.totalKeys}`,
      );
    if (f.cluster) {
      lines.push(
        `HashKV at revision ${f.cluster.revision}: backup ${f.cluster.backupHash} (compact revision ${f.cluster.backupCompactRevision})`,
      );
      for (const m of f.cluster.members)
        lines.push(
          `  ${m.endpoint}${m.memberId ? `  member ${m.memberId}` : ''}  ` +
            (m.result === 'not-compared'
              ? 'NOT COMPARED'
              : `${m.hash} (compact ${m.compactRevision}; backup ${m.backupHash})  ${m.result === 'equal' ? 'equal' : 'DIFFERS'}`),
        );
    }
  } else {
    for (const m of f.members ?? [])
      lines.push(
        m.reachable
          ? `${m.endpoint}  member ${m.memberId}${m.memberId === f.leader ? ' (leader)' : ''}  revision ${m.revision}  raft ${m.raftIndex}/term ${m.raftTerm}  db ${formatBytes(Number(m.dbSize))}` +
              (m.hash !== undefined ? `  hash@${f.hashRevision} ${m.hash}` : '')
          : `${m.endpoint}  UNREACHABLE${m.memberId ? ` (member ${m.memberId})` : ''}`,
      );
  }
  return lines;
}
/* eslint-enable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-argument, @typescript-eslint/no-unsafe-call */
