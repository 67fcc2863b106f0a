import path from 'node:path';
import type { Command } from 'commander';
import { DrError } from '../core/errors.js';
import { refuseExisting } from '../core/safe-file.js';
import type { PointInTime } from '../replay/point-in-time.js';
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
import {
  addPointInTimeOptions,
  buildPointInTime,
  describePointInTime,
  pointInTimeOf,
  type PointInTimeFlags,
} from './point-in-time.js';
import { resolveBackup } from './resolve-backup.js';
import { action } from './run.js';

export function registerFetch(program: Command): void {
  const cmd = program
    .command('fetch')
    .argument('[id]', 'backup id, or "latest" (none with --revision or --time)')
    .description(
      'write the plain snapshot file, byte-identical to `etcdctl snapshot save`, checked against the manifest',
    );
  addStorageOption(cmd);
  addIdentityOption(cmd);
  addJsonOption(cmd);
  cmd
    .requiredOption('--out <file>', 'output file (must not exist)')
    .option('--cluster-name <name>', 'cluster the backup belongs to (required with --revision / --time)');
  addPointInTimeOptions(cmd);
  cmd.action(
    action(
      async (
        ctx,
        id: string | undefined,
        opts: PointInTimeFlags & { out: string; clusterName?: string; json?: boolean },
      ) => {
        const pit = pointInTimeOf('fetch', opts);
        if (pit && id !== undefined)
          throw new DrError('USAGE', 'fetch: give a backup id, or --revision / --time, not both');
        if (!pit && id === undefined)
          throw new DrError('USAGE', 'fetch: give a backup id (or latest), or --revision / --time');
        if (pit && !opts.clusterName)
          throw new DrError('USAGE', 'fetch: --revision / --time need --cluster-name (whose log to replay)');
        const out = path.resolve(opts.out);
        // before any replay: the output must not exist
        await refuseExisting(out, 'fetch');
        const backend = await openStorage(ctx);
        const catalog = openCatalog(ctx);
        const progress = createProgress('fetch');
        let built: PointInTime | undefined;
        try {
          if (pit)
            built = await buildPointInTime(ctx, backend, opts.clusterName!, pit, {
              quiet: opts.json,
              etcdBinDirs: opts.etcdBinDir,
            });
          const manifest =
            built?.manifest ??
            (await resolveBackup(backend, catalog, id!, opts.clusterName, await manifestTrust(ctx)));
          const result = await fetchSnapshot(built?.backend ?? backend, manifest, out, {
            signal: ctx.signal,
            identities: built ? null : await resolveIdentities(ctx),
            onProgress: (n) => progress.update(n, manifest.snapshot.size),
          });
          progress.stop();
          if (opts.json)
            printJson({
              id: built ? null : manifest.id,
              ...result,
              revision: manifest.snapshot.revision,
              totalKeys: manifest.snapshot.totalKeys,
              hash: manifest.snapshot.hash,
              ...(built ? { pointInTime: built.report } : {}),
            });
          else
            printLines([
              ...(built ? describePointInTime(built.report) : []),
              `wrote ${out} (${formatBytes(result.size)}, sha256 ${result.sha256}, revision ${manifest.snapshot.revision})`,
            ]);
        } finally {
          progress.stop();
          catalog.close();
          await built?.cleanup();
          await backend.close();
        }
      },
    ),
  );
}
