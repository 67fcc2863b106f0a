/**
 * `dr inspect wal DIR | db FILE | keys FILE`: read-only views of a member's WAL, a db / snapshot file and
 * its key-values. Output streams (one WAL segment in memory at a time); with --json exactly one JSON
 * document whose big array is written as it is produced. Values are never printed unless --values.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { DrError, isDrError, toDrError, type ExitCode } from '../core/errors.js';
import { snapshotStatus } from '../formats/bbolt/snapshot-status.js';
import { openFileSource } from '../formats/file-byte-source.js';
import { dbInfo } from '../formats/mvcc/db-info.js';
import { membershipSource } from '../formats/mvcc/buckets.js';
import { offlineHashKV } from '../formats/mvcc/store.js';
import { hexId } from '../formats/raft/member-json.js';
import { openWalDir } from '../audit/wal/read-wal-dir.js';
import { fetchSnapshot } from '../pipeline/fetch.js';
import { resolveDbFile, resolveWalDir } from '../inspect/db-source.js';
import { JsonArrayStream, OutputClosedError, TextOut } from '../inspect/json-stream.js';
import { checkRevision, liveKeys, oldestRevision, openStore } from '../inspect/keys-view.js';
import {
  DEFAULT_VALUE_LIMIT,
  KEYS_TABLE_HEAD,
  WAL_TABLE_HEAD,
  keyValueJson,
  keyValueLine,
  walItemJson,
  walItemLine,
  type ValueDisplay,
} from '../inspect/render.js';
import { ENTRY_CATEGORIES, viewWal, type EntryCategory } from '../inspect/wal-view.js';
import { addJsonOption, addStorageOption, openCatalog, openStorage, type CommandContext } from './context.js';
import { formatBytes, printJson, printLines, printTable } from './output.js';
import { resolveBackup } from './resolve-backup.js';
import { action } from './run.js';

export function parseRevisionFlag(raw: string | undefined, flag: string): bigint | undefined {
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw)) throw new DrError('USAGE', `${flag}: "${raw}" is not a non-negative integer`);
  return BigInt(raw);
}

export function valueDisplay(opts: { values?: boolean; full?: boolean }): ValueDisplay {
  if (opts.full && !opts.values) throw new DrError('USAGE', '--full only applies with --values');
  return { values: opts.values === true, valueLimit: opts.full ? Infinity : DEFAULT_VALUE_LIMIT };
}

/** A db/snapshot file to read: a path, or a backup fetched to a temporary file (removed by close). */
export interface OpenedDbArg {
  file: string;
  /** what messages call it: the path, or "backup <id>" */
  label: string;
  backupId?: string;
  close(): Promise<void>;
}

/**
 * `ref` is a file / data dir path, or (with `asBackup`, or when no such path exists and --storage is
 * set) a backup id or "latest", fetched and verified into a temporary file first.
 */
export async function openDbArg(
  ctx: CommandContext,
  ref: string,
  opts: { asBackup?: boolean; clusterName?: string; what?: string },
): Promise<OpenedDbArg> {
  const what = opts.what ? `${opts.what}: ` : '';
  if (!opts.asBackup) {
    try {
      const file = resolveDbFile(ref);
      return { file, label: file, close: async () => undefined };
    } catch (err) {
      const storage = ctx.flags.storage ?? ctx.env.DR_STORAGE;
      // a path-looking argument that does not exist is a typo, not a backup id
      if (ref.includes('/') || !storage)
        throw new DrError(
          'USAGE',
          `${what}${(err as Error).message}${storage ? '' : ' (and no --storage to look it up as a backup id)'}`,
        );
    }
  }
  const backend = await openStorage(ctx);
  const catalog = openCatalog(ctx);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'dr-inspect-'));
  try {
    const manifest = await resolveBackup(backend, catalog, ref, opts.clusterName);
    const file = path.join(dir, `${manifest.id}.db`);
    await fetchSnapshot(backend, manifest, file, { signal: ctx.signal });
    return {
      file,
      label: `backup ${manifest.id}`,
      backupId: manifest.id,
      close: () => rm(dir, { recursive: true, force: true }),
    };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  } finally {
    catalog.close();
    await backend.close();
  }
}

/** A command body whose reader may go away early (`| head`): that ends it quietly with exit 0. */
export function untilReaderCloses<A extends unknown[]>(
  body: (ctx: CommandContext, ...args: A) => Promise<ExitCode>,
): (ctx: CommandContext, ...args: A) => Promise<ExitCode> {
  return async (ctx, ...args) => {
    try {
      return await body(ctx, ...args);
    } catch (err) {
      if (err instanceof OutputClosedError) return 0;
      throw err;
    }
  };
}

/**
 * Runs the body of a streaming JSON command whose document has begun. From then on a failure cannot be printed as a second
 * document: it closes the document with `ok: false` and the error instead, and the exit code says so.
 */
export async function streamJson(
  json: JsonArrayStream,
  out: TextOut,
  body: () => Promise<{ tail: Record<string, unknown>; code: ExitCode }>,
): Promise<ExitCode> {
  try {
    const { tail, code } = await body();
    json.end({ ok: true, ...tail });
    await out.flush();
    return code;
  } catch (err) {
    if (err instanceof OutputClosedError) return 0;
    const e = toDrError(err);
    json.end({ ok: false, error: e.toJSON() });
    await out.flush();
    process.stderr.write(`dr: error ${e.code}: ${e.message}\n`);
    return e.exitCode;
  }
}

interface WalOpts {
  fromIndex?: string;
  toIndex?: string;
  prefix?: string;
  type?: string;
  values?: boolean;
  full?: boolean;
  json?: boolean;
}

function parseTypes(raw: string | undefined): Set<EntryCategory> | undefined {
  if (raw === undefined) return undefined;
  const out = new Set<EntryCategory>();
  for (const t of raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    if (!(ENTRY_CATEGORIES as readonly string[]).includes(t))
      throw new DrError('USAGE', `--type: "${t}" is not one of ${ENTRY_CATEGORIES.join(', ')}`);
    out.add(t as EntryCategory);
  }
  return out;
}

async function inspectWal(ctx: CommandContext, dir: string, opts: WalOpts): Promise<ExitCode> {
  const show = valueDisplay(opts);
  const fromIndex = parseRevisionFlag(opts.fromIndex, '--from-index');
  const toIndex = parseRevisionFlag(opts.toIndex, '--to-index');
  if (fromIndex !== undefined && toIndex !== undefined && fromIndex > toIndex)
    throw new DrError('USAGE', `--from-index ${fromIndex} is after --to-index ${toIndex}`);
  const types = parseTypes(opts.type);
  const prefix = opts.prefix !== undefined ? Buffer.from(opts.prefix) : undefined;
  const walDir = resolveWalDir(dir);
  const src = await openWalDir(walDir);
  const out = new TextOut(process.stdout);
  const filter = {
    ...(fromIndex !== undefined ? { fromIndex } : {}),
    ...(toIndex !== undefined ? { toIndex } : {}),
    ...(prefix !== undefined ? { prefix } : {}),
    ...(types ? { types } : {}),
  };
  const run = (onItem: Parameters<typeof viewWal>[1]['onItem']) =>
    viewWal(src, { ...filter, onItem, afterSegment: () => out.flush(), signal: ctx.signal });

  if (opts.json) {
    const json = new JsonArrayStream(out);
    json.begin(
      {
        kind: 'wal',
        dir: walDir,
        filter: {
          fromIndex: fromIndex ?? null,
          toIndex: toIndex ?? null,
          prefix: opts.prefix ?? null,
          types: types ? [...types] : null,
        },
        values: show.values,
      },
      'records',
    );
    return streamJson(json, out, async () => {
      const summary = await run((item) => json.item(walItemJson(item, show)));
      return { tail: { summary }, code: 0 };
    });
  }
  out.write(`${WAL_TABLE_HEAD}\n`);
  const summary = await run((item) => out.write(`${walItemLine(item, show)}\n`));
  const range =
    summary.firstIndex !== undefined ? `, indexes ${summary.firstIndex}..${summary.lastIndex}` : '';
  out.write(
    `-- ${summary.shown} record(s) shown; ${summary.entries} entries in ${summary.segments} segment(s) (${formatBytes(summary.bytesRead)})${range}${summary.skippedSegments ? `, ${summary.skippedSegments} segment(s) below --from-index skipped` : ''}; ${summary.problems} problem(s)${summary.problems ? ' (run dr audit for a verdict)' : ''}\n`,
  );
  await out.flush();
  return 0;
}

interface DbOpts {
  backup?: string;
  clusterName?: string;
  json?: boolean;
  /** the revision of the HashKV shown (default: the file's current revision) */
  rev?: string;
}

async function inspectDb(ctx: CommandContext, file: string | undefined, opts: DbOpts): Promise<ExitCode> {
  if (opts.rev !== undefined && !/^\d+$/.test(opts.rev))
    throw new DrError('USAGE', `--rev: "${opts.rev}" is not a revision (a non-negative integer)`);
  const hashRev = opts.rev === undefined ? 0n : BigInt(opts.rev);
  const arg = await openSource(ctx, file, opts);
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

async function openSource(
  ctx: CommandContext,
  file: string | undefined,
  opts: { backup?: string; clusterName?: string },
): Promise<OpenedDbArg> {
  if (file && opts.backup) throw new DrError('USAGE', 'give a FILE or --backup ID, not both');
  if (!file && !opts.backup)
    throw new DrError('USAGE', 'give a FILE (db, snapshot or data dir) or --backup ID');
  return opts.backup
    ? openDbArg(ctx, opts.backup, { asBackup: true, clusterName: opts.clusterName })
    : openDbArg(ctx, file!, { asBackup: false });
}

interface KeysOpts extends DbOpts {
  prefix?: string;
  rev?: string;
  limit?: string;
  values?: boolean;
  full?: boolean;
}

async function inspectKeys(ctx: CommandContext, file: string | undefined, opts: KeysOpts): Promise<ExitCode> {
  const show = valueDisplay(opts);
  const rev = parseRevisionFlag(opts.rev, '--rev') ?? 0n;
  let limit = Infinity;
  if (opts.limit !== undefined) {
    if (!/^\d+$/.test(opts.limit) || Number(opts.limit) === 0)
      throw new DrError('USAGE', `--limit: "${opts.limit}" is not a positive integer`);
    limit = Number(opts.limit);
  }
  const prefix = opts.prefix !== undefined ? Buffer.from(opts.prefix) : undefined;
  const arg = await openSource(ctx, file, opts);
  try {
    const src = openFileSource(arg.file);
    try {
      const store = openStore(src, arg.label);
      const target = checkRevision(store.revisions, rev, arg.label);
      const kvs = liveKeys(store, { rev: target, ...(prefix ? { prefix } : {}) });
      const out = new TextOut(process.stdout);
      let count = 0;
      let more = false;
      const each = async (f: (kv: import('../formats/mvcc/key-value.js').KeyValue) => void) => {
        for (const kv of kvs) {
          if (count >= limit) {
            more = true;
            break;
          }
          f(kv);
          count++;
          if (count % 1024 === 0) {
            ctx.signal.throwIfAborted();
            await out.flush();
          }
        }
      };
      const head = {
        file: arg.label,
        ...(arg.backupId ? { backupId: arg.backupId } : {}),
        revision: target,
        currentRevision: store.revisions.current,
        oldestRevision: oldestRevision(store.revisions),
        compactRevision: store.revisions.compacted,
        prefix: opts.prefix ?? null,
        values: show.values,
      };
      if (opts.json) {
        const json = new JsonArrayStream(out);
        json.begin(head, 'kvs');
        return await streamJson(json, out, async () => {
          await each((kv) => json.item(keyValueJson(kv, show)));
          return { tail: { count, more }, code: 0 };
        });
      }
      out.write(`${KEYS_TABLE_HEAD}\n`);
      await each((kv) => out.write(`${keyValueLine(kv, show)}\n`));
      out.write(
        `-- ${count} key(s)${more ? ` (more after --limit ${limit})` : ''} at revision ${target} of ${arg.label} (revisions ${oldestRevision(store.revisions)}..${store.revisions.current})\n`,
      );
      await out.flush();
      return 0;
    } finally {
      src.close();
    }
  } finally {
    await arg.close();
  }
}

export function registerInspect(program: Command): void {
  const inspect = program
    .command('inspect')
    .description('read-only views of a WAL, a db / snapshot file, or its key-values (forensics)');

  const wal = inspect
    .command('wal')
    .argument('<dir>', 'data dir, member dir or wal dir')
    .description(
      'every WAL record: entries with index, term, type and decoded request; state, snapshot and metadata records',
    );
  addJsonOption(wal);
  wal
    .option('--from-index <n>', 'entries with raft index >= n')
    .option('--to-index <n>', 'entries with raft index <= n')
    .option('--prefix <p>', 'entries that put or delete a key starting with p')
    .option('--type <list>', `comma-separated entry types: ${ENTRY_CATEGORIES.join(', ')}`)
    .option('--values', `print values (they may hold secrets), cut to ${DEFAULT_VALUE_LIMIT} bytes`)
    .option('--full', 'with --values: print whole values')
    .action(action(untilReaderCloses(inspectWal)));

  const db = inspect
    .command('db')
    .argument('[file]', 'db file, snapshot file, or data dir (member/snap/db)')
    .description(
      'buckets, pages and fill, revisions, compaction, consistent index, members, leases, auth, alarms',
    );
  addStorageOption(db);
  addJsonOption(db);
  db.option('--backup <id>', 'inspect a stored backup (id or "latest"; needs --storage)')
    .option('--cluster-name <name>', 'cluster the backup belongs to')
    .option('--rev <n>', 'the revision of the HashKV shown (default: the latest in the file)')
    .action(action(async (ctx, file: string | undefined, opts: DbOpts) => inspectDb(ctx, file, opts)));

  const keys = inspect
    .command('keys')
    .argument('[file]', 'db file, snapshot file, or data dir (member/snap/db)')
    .description('the live key-values as of a revision, like `etcdctl get --prefix --rev`');
  addStorageOption(keys);
  addJsonOption(keys);
  keys
    .option('--prefix <p>', 'keys starting with p')
    .option('--rev <n>', 'revision (default: the latest in the file)')
    .option('--limit <n>', 'at most n keys')
    .option('--values', `print values (they may hold secrets), cut to ${DEFAULT_VALUE_LIMIT} bytes`)
    .option('--full', 'with --values: print whole values')
    .option('--backup <id>', 'inspect a stored backup (id or "latest"; needs --storage)')
    .option('--cluster-name <name>', 'cluster the backup belongs to')
    .action(action(untilReaderCloses(inspectKeys)));
}
