import path from 'node:path';
import type { Command } from 'commander';
import { fetchSnapshot } from '../pipeline/fetch.js';
import {
  addIdentityOption,
  addJsonOption,
  addStorageOption,
  manifestTrust,
  openCatalog,
  openStorage,
  resolveIdentities,
} from './context.js';
import { formatBytes, printJson, printLines } from './output.js';
import { createProgress } from './progress.js';
import { resolveBackup } from './resolve-backup.js';
import { action } from './run.js';

export function registerFetch(program: Command): void {
  const cmd = program
    .command('fetch')
    .argument('<id>', 'backup id, or "latest"')
    .description(
      'write the plain snapshot file, byte-identical to `etcdctl snapshot save`, checked against the manifest',
    );
  addStorageOption(cmd);
  addIdentityOption(cmd);
  addJsonOption(cmd);
  cmd
    .requiredOption('--out <file>', 'output file (must not exist)')
    .option('--cluster-name <name>', 'cluster the backup belongs to')
    .action(
      action(async (ctx, id: string, opts: { out: string; clusterName?: string; json?: boolean }) => {
        const backend = await openStorage(ctx);
        const catalog = openCatalog(ctx);
        const progress = createProgress('fetch');
        try {
          const manifest = await resolveBackup(
            backend,
            catalog,
            id,
            opts.clusterName,
            await manifestTrust(ctx),
          );
          const out = path.resolve(opts.out);
          const result = await fetchSnapshot(backend, manifest, out, {
            signal: ctx.signal,
            identities: await resolveIdentities(ctx),
            onProgress: (n) => progress.update(n, manifest.snapshot.size),
          });
          progress.stop();
          if (opts.json)
            printJson({
              id: manifest.id,
              ...result,
              revision: manifest.snapshot.revision,
              totalKeys: manifest.snapshot.totalKeys,
              hash: manifest.snapshot.hash,
            });
          else
            printLines([
              `wrote ${out} (${formatBytes(result.size)}, sha256 ${result.sha256}, revision ${manifest.snapshot.revision})`,
            ]);
        } finally {
          progress.stop();
          catalog.close();
          await backend.close();
        }
      }),
    );
}
