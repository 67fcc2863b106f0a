import type { Command } from 'commander';
import { DrError } from '../core/errors.js';
import { leasedGc } from '../jobs/leased.js';
import { addBreakLeaseOption, addJsonOption, addStorageOption, leaseOwner, openStorage } from './context.js';
import { formatBytes, printJson, printTable } from './output.js';
import { action } from './run.js';

export function registerGc(program: Command): void {
  const cmd = program
    .command('gc')
    .description('remove data objects that have no manifest, and incomplete uploads');
  addStorageOption(cmd);
  addJsonOption(cmd);
  addBreakLeaseOption(cmd);
  cmd
    .option('--dry-run', 'list what would be removed (takes no lease)')
    .option('--cluster-name <name>', 'only this cluster')
    .option(
      '--min-age <seconds>',
      'leave leftovers younger than this alone (a backup may still be running)',
      '3600',
    )
    .action(
      action(
        async (
          ctx,
          opts: {
            dryRun?: boolean;
            clusterName?: string;
            minAge: string;
            breakLease?: boolean;
            json?: boolean;
          },
        ) => {
          const minAge = Number(opts.minAge);
          if (!Number.isFinite(minAge) || minAge < 0)
            throw new DrError('USAGE', `--min-age: "${opts.minAge}" is not a number of seconds`);
          const backend = await openStorage(ctx);
          try {
            const r = await leasedGc(backend, {
              clock: ctx.clock,
              logger: ctx.logger,
              lease: { owner: leaseOwner('dr gc'), ...(opts.breakLease ? { breakLease: true } : {}) },
              minAgeMs: minAge * 1000,
              dryRun: Boolean(opts.dryRun),
              cluster: opts.clusterName,
              signal: ctx.signal,
            });
            if (opts.json) printJson({ dryRun: Boolean(opts.dryRun), ...r });
            else {
              printTable(
                ['OBJECT WITHOUT MANIFEST', 'SIZE', 'MODIFIED', 'ACTION'],
                r.orphans.map((o) => [
                  o.key,
                  formatBytes(o.size),
                  o.lastModified,
                  o.lockedUntil
                    ? `kept: locked until ${o.lockedUntil}`
                    : o.removed
                      ? 'removed'
                      : o.saved
                        ? 'kept (its manifest appeared)'
                        : opts.dryRun
                          ? 'would remove'
                          : 'kept (too young)',
                ]),
              );
              if (!opts.dryRun)
                process.stdout.write(`incomplete uploads removed: ${r.incompleteUploadsRemoved}\n`);
            }
          } finally {
            await backend.close();
          }
        },
      ),
    );
}
