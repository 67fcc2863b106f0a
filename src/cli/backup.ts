import type { Command } from 'commander';
import { createEtcdClient } from '../etcd/client.js';
import { takeBackup } from '../pipeline/backup.js';
import { DEFAULT_COMPRESSION_LEVEL } from '../pipeline/compression.js';
import { DrError } from '../core/errors.js';
import type { Manifest } from '../manifest/manifest.js';
import type { CommandContext } from './context.js';
import {
  addClusterNameOption,
  addConnectionOptions,
  addJsonOption,
  addStorageOption,
  manifestSigningKey,
  openCatalog,
  openStorage,
  resolveClusterName,
  resolveEtcdOptions,
} from './context.js';
import { formatBytes, formatHash, printJson, printLines } from './output.js';
import { createProgress } from './progress.js';
import { collect, recipientsOf } from './recipients.js';
import { action } from './run.js';
import { policyLock } from '../jobs/policy-lock.js';
import { parseDuration } from '../retention/duration.js';
import { longestSpanMs, retainUntil } from '../retention/lock-period.js';
import { withObjectLock, type ObjectLockPolicy } from '../storage/object-lock.js';

export function registerBackup(program: Command): void {
  const cmd = program.command('backup').description('take one backup now and print its manifest');
  addConnectionOptions(cmd);
  addStorageOption(cmd);
  addClusterNameOption(cmd);
  addJsonOption(cmd);
  cmd
    .option('--policy <name>', 'policy name recorded in the manifest')
    .option(
      '--compression-level <n>',
      'zstd level 1..19, 0 = uncompressed',
      String(DEFAULT_COMPRESSION_LEVEL),
    )
    .option('--snapshot-from <which>', 'follower | leader | any', 'follower')
    .option(
      '--encrypt-to <recipient>',
      'encrypt the backup with age to this recipient (age1..., a public key); repeatable',
      collect,
      [],
    )
    .option(
      '--encrypt-to-file <file>',
      'age recipients file (one age1... per line, # comments); repeatable',
      collect,
      [],
    )
    .option(
      '--sign-key <file>',
      "Ed25519 private key (PKCS#8 PEM, mode 0600): sign the manifest (env DR_SIGN_KEY, or --config's manifests.signKeyFile)",
    )
    .option(
      '--object-lock <mode>',
      "S3 Object Lock on the backup: governance | compliance (with --lock-for; with --config, --policy takes the policy's objectLock)",
    )
    .option('--lock-for <duration>', 'retain-until = now + this duration (30d, 2w, 1y)')
    .action(
      action(
        async (
          ctx,
          opts: {
            clusterName?: string;
            policy?: string;
            compressionLevel: string;
            snapshotFrom: string;
            encryptTo: string[];
            encryptToFile: string[];
            objectLock?: string;
            lockFor?: string;
            json?: boolean;
          },
        ) => {
          const recipients = await recipientsOf(ctx, opts);
          const level = Number(opts.compressionLevel);
          if (!Number.isInteger(level) || level < 0 || level > 19)
            throw new DrError('USAGE', `--compression-level: "${opts.compressionLevel}" is not 0..19`);
          if (!['follower', 'leader', 'any'].includes(opts.snapshotFrom))
            throw new DrError(
              'USAGE',
              `--snapshot-from: "${opts.snapshotFrom}" is not follower, leader or any`,
            );
          const lock = await backupLock(ctx, opts);
          const conn = await resolveEtcdOptions(ctx);
          const clusterName = resolveClusterName(ctx, opts.clusterName);
          const signKey = await manifestSigningKey(ctx);
          const opened = await openStorage(ctx);
          const locked = lock ? withObjectLock(opened, lock) : null;
          const backend = locked ?? opened;
          if (locked) {
            try {
              // before etcd is asked for anything: a target that cannot lock gets no unlocked backup
              await locked.verifyLock({ signal: ctx.signal });
            } catch (err) {
              await opened.close();
              throw err;
            }
          }
          const etcd = createEtcdClient(conn, { logger: ctx.logger });
          const progress = createProgress('backup');
          const startedAt = ctx.clock.now();
          try {
            const manifest = await takeBackup(
              { etcd, backend, logger: ctx.logger, clock: ctx.clock },
              {
                clusterName,
                policy: opts.policy ?? null,
                compressionLevel: level,
                snapshotFrom: opts.snapshotFrom as 'follower' | 'leader' | 'any',
                encryptTo: recipients,
                signKey,
                signal: ctx.signal,
                onProgress: (n, total) => progress.update(n, total),
              },
            );
            progress.stop();
            recordAttempt(
              ctx,
              {
                cluster: clusterName,
                policy: opts.policy ?? null,
                storage: backend.location,
                startedAt,
                result: 'success',
                backupId: manifest.id,
              },
              manifest,
            );
            if (opts.json) printJson(manifest);
            else
              printLines([
                `backup ${manifest.id} committed`,
                `  cluster   ${manifest.clusterName} (etcd cluster id ${manifest.source.clusterId}, from ${manifest.source.endpoint}${manifest.source.isLeader ? ', leader' : ''})`,
                `  revision  ${manifest.snapshot.revision}   keys ${manifest.snapshot.totalKeys}   hash ${formatHash(manifest.snapshot.hash)}`,
                `  size      ${formatBytes(manifest.snapshot.size)} plain, ${formatBytes(manifest.stored.size)} stored (${manifest.stored.compression}${manifest.stored.encryption ? `, age to ${manifest.stored.encryption.recipients.join(', ')}` : ''})`,
                `  sha256    ${manifest.snapshot.sha256}`,
                `  stored at ${backend.location.replace(/\/$/, '')}/${manifest.stored.key}`,
              ]);
          } catch (err) {
            progress.stop();
            recordAttempt(ctx, {
              cluster: clusterName,
              policy: opts.policy ?? null,
              storage: backend.location,
              startedAt,
              result: 'failure',
              error: err,
            });
            throw err;
          } finally {
            etcd.close();
            await opened.close();
          }
        },
      ),
    );
}

/**
 * The backup's Object Lock: --object-lock with --lock-for, or the objectLock of --policy in --config.
 * null when neither asks for one.
 */
async function backupLock(
  ctx: CommandContext,
  opts: { policy?: string; objectLock?: string; lockFor?: string },
): Promise<ObjectLockPolicy | null> {
  if (opts.objectLock !== undefined || opts.lockFor !== undefined) {
    if (opts.objectLock !== 'governance' && opts.objectLock !== 'compliance')
      throw new DrError(
        'USAGE',
        `--object-lock: "${opts.objectLock ?? ''}" is not governance or compliance (give it with --lock-for)`,
      );
    const d = opts.lockFor === undefined ? null : parseDuration(opts.lockFor);
    if (!d || longestSpanMs(d) === 0)
      throw new DrError(
        'USAGE',
        `--lock-for: "${opts.lockFor ?? ''}" is not a duration such as 30d, 2w or 1y`,
      );
    const ms = longestSpanMs(d);
    return {
      mode: opts.objectLock,
      retainUntil: (at) => retainUntil(at, { ms, reason: `--lock-for ${opts.lockFor}` }),
      now: () => ctx.clock.now(),
    };
  }
  if (!ctx.flags.config || opts.policy === undefined) return null;
  const { loadConfig } = await import('../config/load.js');
  const policy = loadConfig(ctx.flags.config, { env: ctx.env, offline: true }).policies.find(
    (p) => p.name === opts.policy,
  );
  return policy ? policyLock(policy, ctx.clock) : null;
}

/** The catalog is a cache: failing to update it never fails a backup that is committed in storage. */
function recordAttempt(
  ctx: CommandContext,
  a: {
    cluster: string;
    policy: string | null;
    storage: string;
    startedAt: Date;
    result: 'success' | 'failure';
    backupId?: string;
    error?: unknown;
  },
  manifest?: Manifest,
): void {
  try {
    const catalog = openCatalog(ctx);
    try {
      if (manifest) catalog.upsertBackup(a.storage, manifest);
      const e = a.error instanceof DrError ? a.error : undefined;
      catalog.recordAttempt({
        cluster: a.cluster,
        policy: a.policy,
        storage: a.storage,
        startedAt: a.startedAt,
        finishedAt: ctx.clock.now(),
        result: a.result,
        backupId: a.backupId ?? null,
        errorCode: e?.code ?? (a.error ? 'INTERNAL' : null),
        errorMessage: a.error ? (a.error as Error).message : null,
      });
    } finally {
      catalog.close();
    }
  } catch (err) {
    ctx.logger.warn({ err: (err as Error).message }, 'catalog not updated');
  }
}
