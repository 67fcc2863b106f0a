/**
 * `dr log follow`: the revision log writer in the foreground (src/revlog/follow-log.ts) until SIGTERM or
 * SIGINT, which end the watch and commit the open segment. Exit 0 after a clean stop, 1 when this run
 * recorded a gap (the log it wrote is not continuous), 2/3 as every command.
 */
import type { Command } from 'commander';
import { DrError, type ExitCode } from '../core/errors.js';
import { createEtcdClient } from '../etcd/client.js';
import { validateClusterName } from '../manifest/layout.js';
import { takeBackup } from '../pipeline/backup.js';
import { followRevisionLog } from '../revlog/follow-log.js';
import { countingObserver } from '../revlog/revlog-metrics.js';
import {
  manifestSigningKey,
  addBreakLeaseOption,
  addClusterNameOption,
  addConnectionOptions,
  addJsonOption,
  openStorageUnbound,
  resolveClusterName,
  leaseOwner,
  resolveEtcdOptions,
  type CommandContext,
} from './context.js';
import { printJson, printLines } from './output.js';
import { collect, recipientsOf } from './recipients.js';
import { action } from './run.js';

interface FollowFlags {
  clusterName?: string;
  segmentSeconds: string;
  segmentMaxBytes: string;
  checkpointEvery: string;
  fromRev?: string;
  encryptTo: string[];
  encryptToFile: string[];
  policy?: string;
  breakLease?: boolean;
  /** commander's --no-backup-on-gap */
  backupOnGap?: boolean;
  json?: boolean;
}

function positive(raw: string, flag: string, allowZero = false): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || (n === 0 && !allowZero))
    throw new DrError(
      'USAGE',
      `${flag}: "${raw}" is not a ${allowZero ? 'non-negative' : 'positive'} integer`,
    );
  return n;
}

async function follow(ctx: CommandContext, opts: FollowFlags): Promise<ExitCode> {
  const segmentSeconds = positive(opts.segmentSeconds, '--segment-seconds');
  const segmentMaxBytes = positive(opts.segmentMaxBytes, '--segment-max-bytes');
  const checkpointEverySeconds = positive(opts.checkpointEvery, '--checkpoint-every', true);
  if (opts.fromRev !== undefined && !/^\d+$/.test(opts.fromRev))
    throw new DrError('USAGE', `--from-rev: "${opts.fromRev}" is not a revision`);
  const recipients = await recipientsOf(ctx, opts);
  const clusterName = validateClusterName(resolveClusterName(ctx, opts.clusterName));
  const conn = await resolveEtcdOptions(ctx);
  const backend = await openStorageUnbound(ctx);
  const etcd = createEtcdClient(conn, { logger: ctx.logger });
  const counting = countingObserver(() => ctx.clock.now());
  const signKey = await manifestSigningKey(ctx);
  // A gap ends what the log can replay: a full backup now is the base the new chain replays from
  // (docs/revision-log.md §5). One at a time; the command waits for it before it returns.
  const backups: Promise<unknown>[] = [];
  const backupIds: string[] = [];
  let backingUp = false;
  // a gap recorded while that backup runs may start a chain after its revision: one more backup then
  let again = false;
  const backupAfterGap = (): void => {
    if (opts.backupOnGap === false) return;
    if (backingUp) {
      again = true;
      return;
    }
    backingUp = true;
    const done = takeBackup(
      { etcd, backend, logger: ctx.logger, clock: ctx.clock },
      { clusterName, policy: opts.policy ?? null, encryptTo: recipients, signKey, signal: ctx.signal },
    ).then(
      (m) => {
        backupIds.push(m.id);
        ctx.logger.warn(
          { backup: m.id, revision: m.snapshot.revision },
          'revision log: full backup taken after a gap',
        );
      },
      (err: unknown) =>
        ctx.logger.error(
          { err: (err as Error).message },
          'revision log: the full backup after a gap failed: take one by hand (dr backup)',
        ),
    );
    backups.push(
      done.finally(() => {
        backingUp = false;
        if (again) {
          again = false;
          backupAfterGap();
        }
      }),
    );
  };
  const observer = {
    ...counting,
    gapRecorded: (g: Parameters<typeof counting.gapRecorded>[0]) => {
      counting.gapRecorded(g);
      backupAfterGap();
    },
  };
  try {
    const r = await followRevisionLog(
      { etcd, backend, logger: ctx.logger, clock: ctx.clock, observer, owner: leaseOwner('dr log follow') },
      {
        clusterName,
        segmentSeconds,
        segmentMaxBytes,
        checkpointEverySeconds,
        recipients,
        signKey,
        fromRevision: opts.fromRev === undefined ? undefined : BigInt(opts.fromRev),
        signal: ctx.signal,
        ...(opts.breakLease ? { breakLease: true } : {}),
      },
    );
    // a backup may start another as it ends (a gap while it ran): wait for each in turn
    for (let b = backups.shift(); b; b = backups.shift()) await b;
    const k = counting.counters;
    if (opts.json)
      printJson({
        ok: r.gaps.length === 0,
        cluster: clusterName,
        storage: backend.location,
        chainId: r.chainId,
        startedAt: r.startedAt,
        committedRevision: r.committedRevision,
        segments: k.segments,
        revisions: k.revisions,
        events: k.events,
        storedBytes: k.storedBytes,
        checkpoints: k.checkpoints,
        gaps: r.gaps,
        backupsAfterGap: backupIds,
      });
    else
      printLines([
        `revision log of ${clusterName} stopped: ${k.segments} segment(s) committed (${k.revisions} revisions, ${k.events} events) from revision ${r.startedAt}${r.committedRevision !== null ? ` to ${r.committedRevision}` : ''}, chain ${r.chainId}`,
        ...r.gaps.map(
          (g) =>
            `GAP (${g.cause}) from revision ${g.lostFrom}, a new chain from ${g.resumedFrom}: ${g.message}`,
        ),
        ...backupIds.map(
          (id) => `full backup ${id} taken after the gap: the base the new chain replays from`,
        ),
      ]);
    return r.gaps.length ? 1 : 0;
  } finally {
    etcd.close();
    await backend.close();
  }
}

export function registerLog(program: Command): void {
  const log = program.command('log').description('the revision log: every change to etcd, continuously');
  const cmd = log
    .command('follow')
    .description(
      'watch every key and write the revision log to storage until SIGTERM/SIGINT (the open segment is committed)',
    );
  addConnectionOptions(cmd);
  addClusterNameOption(cmd);
  addJsonOption(cmd);
  addBreakLeaseOption(cmd);
  cmd
    .option(
      '--storage <url>',
      "file:///abs/dir, 's3://bucket/prefix?...' or 'azblob://container/prefix?account=NAME' (env DR_STORAGE)",
    )
    .option('--segment-seconds <n>', 'close a segment this many seconds after its first revision', '5')
    .option('--segment-max-bytes <n>', 'close a segment early at this many plain bytes', String(4 << 20))
    .option('--checkpoint-every <seconds>', 'HashKV checkpoint period (0: none)', '300')
    .option(
      '--from-rev <n>',
      'where a new log starts when the cluster has none (default: one after the newest full backup)',
    )
    .option(
      '--encrypt-to <recipient>',
      'encrypt segments with age to this recipient; repeatable',
      collect,
      [],
    )
    .option('--encrypt-to-file <file>', 'age recipients file; repeatable', collect, [])
    .option(
      '--no-backup-on-gap',
      'do not take a full backup when a gap is recorded (by default one is taken at once: the base the new chain replays from)',
    )
    .option(
      '--sign-key <file>',
      "Ed25519 private key (PKCS#8 PEM, mode 0600): sign every segment manifest (env DR_SIGN_KEY, or --config's manifests.signKeyFile)",
    )
    .option(
      '--policy <name>',
      "with --config and without --encrypt-to: encrypt to this policy's recipients, as its backups are",
    )
    .action(action(follow));
}
