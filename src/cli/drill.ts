/**
 * `dr drill --backup ID|latest`: restore a backup into a throwaway cluster on loopback, verify it against
 * the backup, report the measured RTO, and remove everything (src/drill/drill.ts). The result is
 * recorded in the catalog. Exit 0: verified; 1: the backup did not restore to what it says; 2/3: the
 * drill could not run (no matching etcd, storage unreachable, ...).
 */
import type { Command } from 'commander';
import { DrError, EXIT } from '../core/errors.js';
import { drillError, runDrill, type DrillResult } from '../drill/drill.js';
import {
  addConfigOption,
  addIdentityOption,
  addJsonOption,
  addStorageOption,
  openCatalog,
  openStorage,
  resolveIdentities,
  manifestTrust,
} from './context.js';
import { printJson, printLines, printTable } from './output.js';
import {
  addPointInTimeOptions,
  buildPointInTime,
  describePointInTime,
  etcdBinDirsOf,
  pointInTimeOf,
  type PointInTimeFlags,
} from './point-in-time.js';
import type { PointInTime } from '../replay/point-in-time.js';
import { resolveBackup } from './resolve-backup.js';
import { action } from './run.js';
import { addBumpOptions, bumpOf, type BumpFlags } from './bump-flags.js';

interface DrillFlags extends BumpFlags, PointInTimeFlags {
  backup?: string;
  clusterName?: string;
  members?: string;
  workDir?: string;
  json?: boolean;
}

function printHuman(r: DrillResult): void {
  if (r.checks.length > 0) {
    printTable(
      ['CHECK', 'RESULT', 'DETAIL'],
      r.checks.map((c) => [c.name, c.decided === false ? 'undecided' : c.ok ? 'ok' : 'FAILED', c.message]),
    );
  }
  printLines([
    r.ok
      ? `drill of backup ${r.backupId}: OK, restored and verified in ${r.durationSeconds!.toFixed(1)} s (measured RTO) ` +
        `with etcd ${r.etcdVersion}, ${r.members} member${r.members === 1 ? '' : 's'}`
      : `drill of backup ${r.backupId}: FAILED: ${r.error?.message ?? 'verification failed'}`,
    ...(r.bump
      ? [
          `revision bumped by ${r.bump.revision} (--mark-compacted): backup ${r.bump.fromRevision} -> ${r.bump.toRevision}; ` +
            "a bumped store's HashKV cannot be compared with the backup's",
        ]
      : []),
    `revision ${r.found.revision ?? '-'} (${r.bump ? 'expected' : 'backup'} ${r.expected.revision}), keys ${r.found.keys ?? '-'} ` +
      `(backup ${r.expected.keys} ${r.expected.keysAre}), HashKV ${r.found.hashKV ?? '-'} (backup ${r.expected.hashKV ?? '-'})`,
    r.cleanedUp
      ? 'throwaway cluster stopped and removed'
      : 'WARNING: the throwaway cluster could not be removed completely (see the log)',
  ]);
}

export function registerDrill(program: Command): void {
  const cmd = program
    .command('drill')
    .description(
      'restore a backup into a throwaway local cluster, verify it against the backup, time it (RTO), remove it',
    );
  addStorageOption(cmd);
  addIdentityOption(cmd);
  addConfigOption(cmd);
  addJsonOption(cmd);
  cmd
    .option('--backup <id>', 'backup id, or "latest"')
    .option(
      '--cluster-name <name>',
      'with latest: the newest backup of this cluster; with --revision / --time: whose log to replay',
    )
    .option('--members <n>', 'members of the throwaway cluster: 1 or 3', '1')
    .option('--work-dir <dir>', 'where the temporary directory is made (default: the system temp dir)');
  addBumpOptions(cmd);
  addPointInTimeOptions(cmd);
  cmd.action(
    action(async (ctx, o: DrillFlags) => {
      const pit = pointInTimeOf('drill', o);
      if (pit && o.backup)
        throw new DrError('USAGE', 'drill: give --backup, or --revision / --time, not both');
      if (!pit && !o.backup)
        throw new DrError('USAGE', 'drill: --backup ID|latest (or --revision / --time) is required');
      if (pit && !o.clusterName)
        throw new DrError('USAGE', 'drill: --revision / --time need --cluster-name (whose log to replay)');
      if (o.members !== '1' && o.members !== '3')
        throw new DrError('USAGE', `drill: --members ${o.members}: 1 or 3`);
      const bumpRevision = bumpOf('drill', o);
      const backend = await openStorage(ctx);
      const catalog = openCatalog(ctx);
      let built: PointInTime | undefined;
      try {
        if (pit)
          built = await buildPointInTime(ctx, backend, o.clusterName!, pit, {
            quiet: o.json,
            etcdBinDirs: o.etcdBinDir,
            workDir: o.workDir,
          });
        const manifest =
          built?.manifest ??
          (await resolveBackup(backend, catalog, o.backup!, o.clusterName, await manifestTrust(ctx)));
        const r = await runDrill({
          manifest,
          backend: built?.backend ?? backend,
          identities: built ? null : await resolveIdentities(ctx),
          members: Number(o.members) as 1 | 3,
          workDir: o.workDir,
          etcdBinDirs: etcdBinDirsOf(ctx, o.etcdBinDir),
          ...(bumpRevision !== undefined ? { bumpRevision } : {}),
          pathEnv: process.env.PATH ?? '',
          logger: ctx.logger,
          clock: ctx.clock,
          signal: ctx.signal,
          onEvent: o.json
            ? undefined
            : (e) => process.stderr.write(`drill: ${e.step.padEnd(24)} ${e.state.padEnd(8)} ${e.message}\n`),
        });
        // a point-in-time drill tests a backup that exists only for it: the catalog records drills of
        // stored backups (their age and result feed the drill metrics)
        if (!built)
          try {
            catalog.recordDrill(r);
          } catch (err) {
            ctx.logger.warn({ err: (err as Error).message }, 'catalog not updated');
          }
        if (o.json) printJson(built ? { ...r, storage: backend.location, pointInTime: built.report } : r);
        else {
          if (built) printLines(describePointInTime(built.report));
          printHuman(r);
        }
        const e = drillError(r);
        return e ? e.exitCode : EXIT.OK;
      } finally {
        catalog.close();
        await built?.cleanup();
        await backend.close();
      }
    }),
  );
}
