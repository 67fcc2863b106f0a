/**
 * `dr prune [--dry-run]`: applies retention and prints every backup with its reasons to stay or the
 * reason it goes. Either every policy of --config (each on each of its storage targets), or one
 * --storage URL and --cluster-name with --keep-* flags.
 */
import type { Command } from 'commander';
import { Catalog } from '../catalog/catalog.js';
import { loadConfig } from '../config/load.js';
import { isValidTimezone } from '../config/cron.js';
import { DrError, EXIT } from '../core/errors.js';
import { storageUrlOf } from '../config/connection.js';
import { prune, pruneScopesFromConfig, type PruneItem } from '../jobs/prune.js';
import type { RetentionReport } from '../jobs/retention-run.js';
import { validateClusterName } from '../manifest/layout.js';
import { parseDuration } from '../retention/duration.js';
import type { RetentionPolicy } from '../retention/apply-retention.js';
import { openBackend } from '../storage/open-backend.js';
import {
  addBreakLeaseOption,
  addJsonOption,
  addStorageOption,
  catalogPath,
  leaseOwner,
  manifestTrust,
  storageUrl,
} from './context.js';
import { printJson, printTable } from './output.js';
import { action } from './run.js';

interface PruneFlags {
  dryRun?: boolean;
  config?: string;
  policy?: string;
  clusterName?: string;
  storage?: string;
  catalog?: string;
  timezone: string;
  keepLast?: string;
  keepHourly?: string;
  keepDaily?: string;
  keepWeekly?: string;
  keepMonthly?: string;
  keepYearly?: string;
  keepWithin?: string;
  breakLease?: boolean;
  json?: boolean;
}

const KEEP_FLAGS = [
  ['keepLast', '--keep-last'],
  ['keepHourly', '--keep-hourly'],
  ['keepDaily', '--keep-daily'],
  ['keepWeekly', '--keep-weekly'],
  ['keepMonthly', '--keep-monthly'],
  ['keepYearly', '--keep-yearly'],
] as const;

/** The --keep-* flags as a retention policy; null when none is given. */
export function rulesFromFlags(f: PruneFlags): RetentionPolicy | null {
  const rules: RetentionPolicy = {};
  let any = false;
  for (const [field, flag] of KEEP_FLAGS) {
    const raw = f[field];
    if (raw === undefined) continue;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < -1)
      throw new DrError('USAGE', `${flag}: "${raw}" is not a count (-1 = unlimited)`);
    rules[field] = n;
    any = true;
  }
  if (f.keepWithin !== undefined) {
    if (parseDuration(f.keepWithin) === null)
      throw new DrError(
        'USAGE',
        `--keep-within: "${f.keepWithin}" is not a duration such as 7d, 36h or 1y6m`,
      );
    rules.keepWithin = f.keepWithin;
    any = true;
  }
  return any ? rules : null;
}

export function registerPrune(program: Command): void {
  const cmd = program
    .command('prune')
    .description(
      "apply retention: every policy of --config, or --storage with --cluster-name and --keep-* flags; lists each backup's reasons",
    );
  addStorageOption(cmd);
  addJsonOption(cmd);
  addBreakLeaseOption(cmd);
  cmd
    .option('--dry-run', 'decide and print, delete nothing (takes no lease)')
    .option('--config <file>', 'dr config file: prune every policy on each of its storage targets')
    .option(
      '--policy <name>',
      'only this policy (with --config), or only backups made by it (with --storage)',
    )
    .option('--cluster-name <name>', 'only this cluster (required with --storage)')
    .option('--timezone <zone>', 'IANA zone of the calendar buckets (with --storage)', 'UTC')
    .option('--keep-last <n>', 'keep the n newest backups')
    .option('--keep-hourly <n>', 'keep the newest backup of each of the n newest hours that have one')
    .option('--keep-daily <n>', 'keep the newest backup of each of the n newest days that have one')
    .option('--keep-weekly <n>', 'keep the newest backup of each of the n newest ISO weeks that have one')
    .option('--keep-monthly <n>', 'keep the newest backup of each of the n newest months that have one')
    .option('--keep-yearly <n>', 'keep the newest backup of each of the n newest years that have one')
    .option(
      '--keep-within <duration>',
      'keep every backup within this duration of the newest (7d, 36h, 1y6m)',
    )
    .action(
      action(async (ctx, f: PruneFlags) => {
        const flagRules = rulesFromFlags(f);
        const items: PruneItem[] = [];
        let catalogFile: string;
        const backends: { close(): Promise<void> }[] = [];
        try {
          if (f.config) {
            if (flagRules || f.storage)
              throw new DrError(
                'USAGE',
                'prune: --config takes its retention and storage from the file; drop --keep-* and --storage',
              );
            const config = loadConfig(f.config, { env: ctx.env, offline: true });
            catalogFile = f.catalog ?? config.catalog.path;
            const scopes = pruneScopesFromConfig(config, { cluster: f.clusterName, policy: f.policy });
            if (scopes.length === 0)
              throw new DrError(
                'USAGE',
                `prune: no policy in ${f.config} matches${f.policy ? ` --policy ${f.policy}` : ''}${f.clusterName ? ` --cluster-name ${f.clusterName}` : ''}`,
              );
            const opened = new Map<string, Awaited<ReturnType<typeof openBackend>>>();
            for (const { storage, scope } of scopes) {
              let backend = opened.get(storage);
              if (!backend) {
                backend = await openBackend(storageUrlOf(config.storage.find((s) => s.name === storage)!), {
                  logger: ctx.logger,
                  env: process.env,
                });
                opened.set(storage, backend);
                backends.push(backend);
              }
              items.push({ target: { name: storage, backend }, scope });
            }
          } else {
            if (!flagRules)
              throw new DrError(
                'USAGE',
                'prune: give --config FILE, or --storage URL --cluster-name NAME with at least one --keep-* rule',
              );
            if (!f.clusterName)
              throw new DrError('USAGE', 'prune: --cluster-name is required with --storage');
            validateClusterName(f.clusterName);
            if (!isValidTimezone(f.timezone))
              throw new DrError('USAGE', `--timezone: "${f.timezone}" is not an IANA time zone`);
            const backend = await openBackend(storageUrl(ctx), { logger: ctx.logger, env: process.env });
            backends.push(backend);
            catalogFile = catalogPath(ctx);
            items.push({
              target: { name: backend.location, backend },
              scope: {
                cluster: f.clusterName,
                policy: f.policy ?? null,
                rules: flagRules,
                timezone: f.timezone,
              },
            });
          }
          const catalog = Catalog.open(catalogFile);
          let reports: RetentionReport[];
          try {
            const lease = { owner: leaseOwner('dr prune'), ...(f.breakLease ? { breakLease: true } : {}) };
            reports = await prune({ catalog, logger: ctx.logger, clock: ctx.clock, lease }, items, {
              dryRun: Boolean(f.dryRun),
              signal: ctx.signal,
              trust: await manifestTrust(ctx),
            });
          } finally {
            catalog.close();
          }
          const failed = reports.some((r) => [...r.remove, ...r.log.remove].some((x) => x.error));
          if (f.json) printJson({ ok: !failed, dryRun: Boolean(f.dryRun), reports });
          else printReports(reports, Boolean(f.dryRun));
          return failed ? EXIT.RUNTIME : EXIT.OK;
        } finally {
          for (const b of backends) await b.close().catch(() => undefined);
        }
      }),
    );
}

function printReports(reports: RetentionReport[], dryRun: boolean): void {
  for (const r of reports) {
    process.stdout.write(
      `\n${r.cluster}${r.policy ? ` / policy ${r.policy}` : ''} on ${r.storage}: keep ${r.keep.length}, ${dryRun ? 'would remove' : 'remove'} ${r.remove.length}\n`,
    );
    if (r.suspended) process.stdout.write(`  removal suspended: ${r.suspended}\n`);
    const rows: (string | number)[][] = [
      ...r.keep.map((k) => [k.id, k.createdAt, 'keep', k.reasons.join('; ')]),
      ...r.remove.map((x) => [
        x.id,
        x.createdAt,
        x.error ? `FAILED: ${x.error}` : x.removed ? 'removed' : 'would remove',
        x.reason,
      ]),
    ].sort((a, b) => String(b[1]).localeCompare(String(a[1])));
    printTable(['BACKUP', 'CREATED', 'ACTION', 'WHY'], rows);
    if (r.log.remove.length > 0) {
      process.stdout.write(
        `  revision log: keep ${r.log.kept}, ${dryRun ? 'would remove' : 'remove'} ${r.log.remove.length} object(s)\n`,
      );
      printTable(
        ['LOG OBJECT', 'REVISIONS', 'ACTION', 'WHY'],
        r.log.remove.map((x) => [
          x.key,
          x.kind === 'gap' ? x.first : `${x.first}-${x.last}`,
          x.error ? `FAILED: ${x.error}` : x.removed ? 'removed' : 'would remove',
          x.reason,
        ]),
      );
    }
  }
}
