/**
 * `dr inspect db FILE | --backup ID`: buckets, pages and fill, revisions, compaction, consistent index,
 * members, leases, auth, alarms, `etcdctl snapshot status` and the offline HashKV.
 */
import type { Command } from 'commander';
import { DrError, isDrError, type ExitCode } from '../../core/errors.js';
import { snapshotStatus } from '../../formats/bbolt/snapshot-status.js';
import { openFileSource } from '../../formats/file-byte-source.js';
import { dbInfo } from '../../formats/mvcc/db-info.js';
import { membershipSource } from '../../formats/mvcc/buckets.js';
import { offlineHashKV } from '../../formats/mvcc/store.js';
import { hexId } from '../../formats/raft/member-json.js';
import { addIdentityOption, addJsonOption, addStorageOption, type CommandContext } from '../context.js';
import { openDbSource } from '../db-arg.js';
import { addEtcdBinDirOption } from '../point-in-time.js';
import { formatBytes, printJson, printLines, printTable } from '../output.js';
import { action } from '../run.js';

interface DbOpts {
  backup?: string;
  clusterName?: string;
  etcdBinDir?: string[];
  json?: boolean;
  /** the revision of the HashKV shown (default: the file's current revision) */
  rev?: string;
}

async function inspectDb(ctx: CommandContext, file: string | undefined, opts: DbOpts): Promise<ExitCode> {
  if (opts.rev !== undefined && !/^\d+$/.test(opts.rev))
    throw new DrError('USAGE', `--rev: "${opts.rev}" is not a revision (a non-negative integer)`);
  const hashRev = opts.rev === undefined ? 0n : BigInt(opts.rev);
  const arg = await openDbSource(ctx, file, opts);
  try {
    const src = openFileSource(arg.file);
    try {
      const info = dbInfo(src);
      let status: ReturnType<typeof snapshotStatus> | null = null;
      let statusError: string | undefined;
      try {
        status = snapshotStatus(src);
      } catch (err) {
        statusError = (err as Error).message;
      }
      // HashKV as `etcdctl endpoint hashkv --rev` asks it of a member holding this data (formats/mvcc/store.ts)
      let hashKV: { hash: number; revision: bigint; compactRevision: bigint } | { error: string };
      try {
        hashKV = offlineHashKV(src, hashRev);
      } catch (err) {
        if (hashRev !== 0n && isDrError(err, 'USAGE')) throw err; // a compacted or future --rev
        hashKV = { error: (err as Error).message };
      }
      const doc = {
        file: arg.label,
        ...(arg.backupId ? { backupId: arg.backupId } : {}),
        status: status
          ? {
              hash: status.hash,
              revision: status.revision,
              totalKey: status.totalKey,
              totalSize: status.totalSize,
            }
          : { error: statusError },
        revision: {
          current: info.key.maxRevision ?? 0n,
          oldest: info.key.minRevision ?? 0n,
          compacted: info.meta.finishedCompactRev ?? 0n,
          scheduledCompact: info.meta.scheduledCompactRev ?? 0n,
        },
        consistentIndex: info.meta.consistentIndex,
        membershipFrom: membershipSource(info.meta.schema),
        hashKV,
        ...info,
        members: info.members.map((m) => ({ ...m, id: hexId(m.id) })),
        alarms: info.alarms.map((a) => ({ ...a, memberID: hexId(a.memberID) })),
      };
      if (opts.json) {
        printJson(doc);
        return 0;
      }
      const lines = [
        `file            ${arg.label}`,
        `size            ${formatBytes(info.fileSize)} (db ${formatBytes(info.dbSize)}: ${info.pgid} pages of ${info.pageSize} B, ${info.reachablePages} in use, ${info.freePages} free)`,
        `snapshot status ${status ? `hash ${status.hash}, revision ${status.revision}, total keys ${status.totalKey}, total size ${status.totalSize}` : `unreadable: ${statusError}`}`,
        `hashkv          ${'error' in hashKV ? `unreadable: ${hashKV.error}` : `hash ${hashKV.hash} at revision ${hashKV.revision} (compact revision ${hashKV.compactRevision}), as etcdctl endpoint hashkv --rev ${hashKV.revision} would answer`}`,
        `revisions       ${info.key.minRevision ?? '-'}..${info.key.maxRevision ?? '-'} (${info.key.revisions} in the key bucket, ${info.key.tombstones} tombstones)`,
        `compaction      finished ${info.meta.finishedCompactRev ?? 'none'}, scheduled ${info.meta.scheduledCompactRev ?? 'none'}`,
        `consistent idx  ${info.meta.consistentIndex ?? 'absent'}${info.meta.term !== null ? ` (term ${info.meta.term})` : ''}; schema ${info.meta.schema}${info.meta.storageVersion !== null ? ` (storage version ${info.meta.storageVersion})` : ''}${info.clusterVersion ? `; cluster version ${info.clusterVersion}` : ''}`,
        `members         (${membershipSource(info.meta.schema) === 'members-bucket' ? 'what etcd 3.6+ starts from' : 'a copy: etcd 3.4/3.5 start from the v2 store'}) ${info.members.map((m) => `${hexId(m.id)} ${m.name || '(unstarted)'} ${m.peerURLs.join(',')}${m.isLearner ? ' learner' : ''}`).join('; ') || 'none'}${info.removedMembers.length ? ` (removed: ${info.removedMembers.join(', ')})` : ''}`,
        `leases          ${info.leases}`,
        `auth            ${info.auth.enabled ? 'enabled' : 'disabled'} (${info.auth.users} users, ${info.auth.roles} roles${info.auth.revision !== null ? `, auth revision ${info.auth.revision}` : ''})`,
        `alarms          ${info.alarms.map((a) => `${a.alarm} on ${hexId(a.memberID)}`).join('; ') || 'none'}`,
      ];
      if (info.problems.length)
        lines.push(`problems        ${info.problems.length} structural problem(s): run dr audit --snapshot`);
      printLines(lines);
      printTable(
        ['BUCKET', 'KEYS', 'BRANCH', 'LEAF', 'OVERFLOW', 'FILL'],
        info.buckets.map((b) => [
          b.name,
          b.keys,
          b.inline ? 'inline' : b.branchPages,
          b.inline ? '' : b.leafPages,
          b.inline ? '' : b.overflowPages,
          b.fill === null ? '' : `${(b.fill * 100).toFixed(0)}%`,
        ]),
      );
      return 0;
    } finally {
      src.close();
    }
  } finally {
    await arg.close();
  }
}

export function registerInspectDb(inspect: Command): void {
  const db = inspect
    .command('db')
    .argument('[file]', 'db file, snapshot file, or data dir (member/snap/db)')
    .description(
      'buckets, pages and fill, revisions, compaction, consistent index, members, leases, auth, alarms',
    );
  addStorageOption(db);
  addIdentityOption(db);
  addJsonOption(db);
  addEtcdBinDirOption(db);
  db.option('--backup <id>', 'inspect a stored backup (id or "latest"; needs --storage)')
    .option('--cluster-name <name>', 'cluster the backup belongs to')
    .option('--rev <n>', 'the revision of the HashKV shown (default: the latest in the file)')
    .action(action(async (ctx, file: string | undefined, opts: DbOpts) => inspectDb(ctx, file, opts)));
}
