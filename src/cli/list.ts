import type { Command } from 'commander';
import {
  addConfigOption,
  addJsonOption,
  addStorageOption,
  manifestTrust,
  openCatalog,
  openStorage,
} from './context.js';
import { formatAge, formatBytes, printJson, printTable } from './output.js';
import { action } from './run.js';

export function registerList(program: Command): void {
  const cmd = program
    .command('list')
    .description('backups in storage, newest first (the catalog is brought up to date first)');
  addStorageOption(cmd);
  addConfigOption(cmd);
  addJsonOption(cmd);
  cmd
    .option('--cluster-name <name>', 'only this cluster')
    .option('--policy <name>', 'only this policy')
    .action(
      action(async (ctx, opts: { clusterName?: string; policy?: string; json?: boolean }) => {
        const backend = await openStorage(ctx);
        const catalog = openCatalog(ctx);
        try {
          const sync = await catalog.sync(backend, {
            cluster: opts.clusterName,
            logger: ctx.logger,
            trust: await manifestTrust(ctx),
          });
          const backups = catalog.listBackups(backend.location, {
            cluster: opts.clusterName,
            policy: opts.policy,
          });
          if (opts.json) {
            printJson({
              storage: backend.location,
              backups: backups.map((b) => ({
                ...b.manifest,
                verifiedAt: b.verifiedAt,
                verifyOk: b.verifyOk,
              })),
              invalid: sync.invalid,
            });
            return;
          }
          const now = ctx.clock.now();
          printTable(
            ['ID', 'CLUSTER', 'POLICY', 'AGE', 'REVISION', 'KEYS', 'DB SIZE', 'STORED', 'VERIFIED'],
            backups.map(({ manifest: m, verifiedAt, verifyOk }) => [
              m.id,
              m.clusterName,
              m.policy ?? '-',
              formatAge(new Date(m.createdAt), now),
              m.snapshot.revision,
              m.snapshot.totalKeys,
              formatBytes(m.snapshot.dbSize),
              formatBytes(m.stored.size),
              verifiedAt ? `${verifyOk ? 'ok' : 'FAILED'} ${formatAge(new Date(verifiedAt), now)} ago` : '-',
            ]),
          );
          for (const bad of sync.invalid) process.stderr.write(`dr: warning: ${bad.error}\n`);
        } finally {
          catalog.close();
          await backend.close();
        }
      }),
    );
}
