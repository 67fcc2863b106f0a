import type { Command } from 'commander';
import {
  addConfigOption,
  addJsonOption,
  addStorageOption,
  manifestTrust,
  openCatalog,
  openStorage,
} from './context.js';
import { printJson, printLines } from './output.js';
import { action } from './run.js';

export function registerCatalog(program: Command): void {
  const catalog = program.command('catalog').description('the local SQLite cache of manifests');
  const rebuild = catalog
    .command('rebuild')
    .description('forget the catalog rows of --storage and read them back from its manifests');
  addStorageOption(rebuild);
  addConfigOption(rebuild);
  addJsonOption(rebuild);
  rebuild.action(
    action(async (ctx, opts: { json?: boolean }) => {
      const backend = await openStorage(ctx);
      const cat = openCatalog(ctx);
      try {
        const result = await cat.rebuild(backend, { logger: ctx.logger, trust: await manifestTrust(ctx) });
        const count = cat.listBackups(backend.location).length;
        if (opts.json)
          printJson({
            storage: backend.location,
            catalog: cat.file,
            backups: count,
            invalid: result.invalid,
          });
        else {
          printLines([`catalog ${cat.file}: ${count} backups from ${backend.location}`]);
          for (const bad of result.invalid) process.stderr.write(`dr: warning: ${bad.error}\n`);
        }
      } finally {
        cat.close();
        await backend.close();
      }
    }),
  );
}
