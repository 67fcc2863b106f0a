import type { Command } from 'commander';
import { DrError, EXIT } from '../core/errors.js';
import { recordVerification } from '../jobs/record-verification.js';
import { verifyBackup } from '../pipeline/verify.js';
import {
  addIdentityOption,
  addJsonOption,
  addStorageOption,
  manifestTrust,
  openCatalog,
  openStorage,
  resolveIdentities,
} from './context.js';
import { printJson, printTable } from './output.js';
import { resolveBackup } from './resolve-backup.js';
import { action } from './run.js';

export function registerVerify(program: Command): void {
  const cmd = program
    .command('verify')
    .argument('[id]', 'backup id')
    .description(
      'read a backup back from storage: decompress, sha256, etcd trailer, bbolt meta pages (--deep: full tree walk)',
    );
  addStorageOption(cmd);
  addIdentityOption(cmd);
  addJsonOption(cmd);
  cmd
    .option('--latest', 'verify the newest backup (also one whose last verification failed)')
    .option('--cluster-name <name>', 'cluster the backup belongs to (with --latest: newest of this cluster)')
    .option(
      '--deep',
      'also walk the whole bbolt tree and compare hash, revision and key count with the manifest',
    )
    .action(
      action(
        async (
          ctx,
          id: string | undefined,
          opts: { latest?: boolean; clusterName?: string; deep?: boolean; json?: boolean },
        ) => {
          if (Boolean(id) === Boolean(opts.latest))
            throw new DrError('USAGE', 'verify: give a backup id or --latest (one of them)');
          const backend = await openStorage(ctx);
          const catalog = openCatalog(ctx);
          try {
            const manifest = await resolveBackup(
              backend,
              catalog,
              id ?? 'latest',
              opts.clusterName,
              await manifestTrust(ctx),
              { includeFailed: true },
            );
            const report = await verifyBackup(backend, manifest, {
              deep: opts.deep,
              identities: await resolveIdentities(ctx),
              signal: ctx.signal,
            });
            await recordVerification(
              { catalog, logger: ctx.logger },
              backend,
              manifest,
              report,
              ctx.clock.now(),
              ctx.signal,
            );
            if (opts.json) printJson(report);
            else {
              printTable(
                ['CHECK', 'RESULT', 'DETAIL'],
                report.checks.map((c) => [
                  c.check,
                  c.ok === null ? 'skipped' : c.ok ? 'ok' : 'FAILED',
                  c.detail,
                ]),
              );
              process.stdout.write(
                `backup ${report.id}: ${report.ok ? 'OK' : 'VERIFICATION FAILED'}${report.storedOnly ? ' (stored object only: encrypted, no --identity)' : ''}\n`,
              );
            }
            return report.ok ? EXIT.OK : EXIT.BAD;
          } finally {
            catalog.close();
            await backend.close();
          }
        },
      ),
    );
}
