import type { Command } from 'commander';
import {
  addConfigOption,
  addJsonOption,
  addStorageOption,
  openCatalog,
  openStorage,
  manifestTrust,
} from './context.js';
import { printJson } from './output.js';
import { resolveBackup } from './resolve-backup.js';
import { action } from './run.js';

export function registerShow(program: Command): void {
  const cmd = program
    .command('show')
    .argument('<id>', 'backup id, or "latest"')
    .description('print one manifest');
  addStorageOption(cmd);
  addConfigOption(cmd);
  addJsonOption(cmd);
  cmd.option('--cluster-name <name>', 'cluster the backup belongs to (speeds up the lookup)').action(
    action(async (ctx, id: string, opts: { clusterName?: string }) => {
      const backend = await openStorage(ctx);
      const catalog = openCatalog(ctx);
      try {
        // The manifest is the whole answer; it is JSON for people and machines alike.
        printJson(await resolveBackup(backend, catalog, id, opts.clusterName, await manifestTrust(ctx)));
      } finally {
        catalog.close();
        await backend.close();
      }
    }),
  );
}
