import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import { DrError } from '../core/errors.js';
import type { Manifest } from '../manifest/manifest.js';
import {
  defaultToken,
  executeRestore,
  loadMembersFile,
  prepareRestore,
  renderPlan,
  resumeRestore,
  type MembersFile,
  type Prompt,
  type RestoreEvent,
  type RestoreResult,
} from '../restore/index.js';
import type { Backend } from '../storage/backend.js';
import {
  addJsonOption,
  addIdentityOption,
  addAuthOptions,
  addStorageOption,
  resolveAuth,
  resolveIdentities,
  catalogPath,
  openCatalog,
  openStorage,
  type CommandContext,
  manifestTrust,
} from './context.js';
import { printJson, printLines, printTable } from './output.js';
import { checkPlanFile, readPlanFile, writePlanFile, type PlanFile } from '../restore/plan-file.js';
import { isGoodBackup } from '../catalog/catalog.js';
import { findManifest } from '../manifest/manifest-store.js';
import { resolveBackup } from './resolve-backup.js';
import { action } from './run.js';
import { addBumpOptions, bumpOf, type BumpFlags } from './bump-flags.js';
import {
  addPointInTimeOptions,
  buildPointInTime,
  describePointInTime,
  pointInTimeOf,
  type PointInTimeFlags,
} from './point-in-time.js';
import type { PointInTime } from '../replay/point-in-time.js';

interface RestoreFlags extends BumpFlags, PointInTimeFlags {
  to?: string;
  backup?: string;
  before?: string;
  members?: string;
  clusterName?: string;
  dryRun?: boolean;
  yes?: boolean;
  force?: boolean;
  token?: string;
  journal?: string;
  resume?: string;
  json?: boolean;
  out?: string;
  plan?: string;
}

/** Reads one line from the terminal (manual members and the confirmation ask through it). */
const terminalPrompt: Prompt = async (message, signal) => {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return await rl.question(`${message}\n> `, { signal });
  } finally {
    rl.close();
  }
};

/** The restore target of one cluster of a dr config file (`restore:`, or the short form `members:`). */
async function restoreTargetFromConfig(
  file: string,
  name: string,
  env: NodeJS.ProcessEnv,
): Promise<MembersFile> {
  const { loadConfig } = await import('../config/load.js');
  // offline: the target needs no password, and the TLS files are checked on the member hosts
  const config = loadConfig(file, { env, offline: true });
  const cluster = config.clusters.find((c) => c.name === name);
  if (!cluster)
    throw new DrError(
      'CLUSTER_NOT_FOUND',
      `restore: ${file} has no cluster "${name}" (clusters: ${config.clusters.map((c) => c.name).join(', ')})`,
    );
  if (!cluster.restoreTarget)
    throw new DrError(
      'CONFIG_INVALID',
      `restore: cluster "${name}" in ${file} has no restore target: add restore: { members: [...] } (or members:) to it, as in policies/systemd-mtls-3-member.yaml`,
    );
  return cluster.restoreTarget;
}

async function pickBackup(ctx: CommandContext, backend: Backend, o: RestoreFlags): Promise<Manifest> {
  const catalog = openCatalog(ctx);
  try {
    if (o.before) {
      const t = new Date(o.before);
      if (Number.isNaN(t.getTime()))
        throw new DrError(
          'USAGE',
          `--before: "${o.before}" is not a date/time (ISO 8601, e.g. 2026-11-20T03:00:00Z)`,
        );
      const trust = await manifestTrust(ctx);
      await catalog.sync(backend, { cluster: o.clusterName, trust });
      const hit = catalog
        .listBackups(backend.location, { cluster: o.clusterName })
        .find((b) => new Date(b.manifest.createdAt) < t && isGoodBackup(b));
      if (!hit)
        throw new DrError(
          'BACKUP_NOT_FOUND',
          `no backup taken before ${t.toISOString()} in ${backend.location}`,
        );
      return findManifest(backend, hit.manifest.id, hit.manifest.clusterName, trust);
    }
    return await resolveBackup(backend, catalog, o.backup!, o.clusterName, await manifestTrust(ctx));
  } finally {
    catalog.close();
  }
}

function printEvent(e: RestoreEvent): void {
  process.stderr.write(`restore: ${e.step.padEnd(24)} ${e.state.padEnd(8)} ${e.message}\n`);
}

function printResult(r: RestoreResult, json: boolean): void {
  if (json) return printJson(r);
  printTable(
    ['CHECK', 'RESULT', 'DETAIL'],
    r.verification.checks.map((c) => [
      c.name,
      c.decided === false ? 'undecided' : c.ok ? 'ok' : 'FAILED',
      c.message,
    ]),
  );
  printLines([
    r.ok
      ? `restore complete: cluster ${r.verification.clusterId} at revision ${r.verification.revision}, leader ${r.verification.leader}`
      : 'restore finished but verification FAILED (see the checks above)',
    `journal: ${r.journalFile}`,
  ]);
}

export function registerRestore(program: Command): void {
  const cmd = program
    .command('restore')
    .description('rebuild every member of a cluster from a backup, with a new cluster ID and ordered starts');
  addStorageOption(cmd);
  addIdentityOption(cmd);
  addJsonOption(cmd);
  cmd
    .option('--to <target>', 'what to restore to: new-cluster')
    .option('--backup <id>', 'backup id, or "latest"')
    .option('--before <time>', 'the newest backup taken before this time (ISO 8601)')
    .option(
      '--members <file>',
      'members file (YAML): names, URLs, data dirs and how each member is controlled',
    )
    .option('--cluster-name <name>', "take the backup from this cluster's backups")
    .option(
      '--config <file>',
      "dr config file: the cluster's restore target (restore: or members:), its storage target and catalog",
    )
    .option('--cluster <name>', 'the cluster in --config whose restore target is rebuilt')
    .option('--dry-run', 'print the plan and the refusals; change nothing')
    .option('--yes', 'execute without asking')
    .option('--force', 'restore even though the old cluster still answers and is healthy')
    .option('--token <token>', 'initial cluster token of the new cluster (default: dr-<backup id>-<random>)')
    .option('--journal <file>', 'journal file (default under the state dir, printed at start)')
    .option('--resume <journal>', 'continue an interrupted restore from its journal')
    .option('--out <file>', 'with --dry-run: write the plan to this file, to run later with --plan')
    .option(
      '--plan <file>',
      'run exactly this plan (from --dry-run --out); refused if the backup, the members file or dr changed',
    );
  addAuthOptions(
    cmd,
    "etcd user for the restored cluster's verification, when the backup has etcd auth enabled (its users)",
  );
  addBumpOptions(cmd);
  addPointInTimeOptions(cmd);
  cmd.action(
    action(async (ctx, o: RestoreFlags) => {
      const pit = pointInTimeOf('restore', o);
      const auth = resolveAuth(ctx);
      if (o.resume) {
        const backend = ctx.flags.storage || ctx.env.DR_STORAGE ? await openStorage(ctx) : undefined;
        try {
          const r = await resumeRestore(path.resolve(o.resume), {
            source: backend ? { backend, identities: await resolveIdentities(ctx) } : undefined,
            auth,
            prompt: terminalPrompt,
            logger: ctx.logger,
            signal: ctx.signal,
            onEvent: o.json ? undefined : printEvent,
          });
          printResult(r, Boolean(o.json));
          return r.ok ? 0 : 1;
        } finally {
          await backend?.close();
        }
      }
      // a reviewed plan runs as written: its backup, token, force and bump come from it
      let planDoc: PlanFile | undefined;
      if (o.plan) {
        if (o.backup || o.before || o.token || o.force || o.dryRun || o.bumpRevision || o.markCompacted)
          throw new DrError(
            'USAGE',
            'restore: --plan runs the plan as written: --backup, --before, --token, --force, --bump-revision, --mark-compacted and --dry-run come from it',
          );
        if (pit)
          throw new DrError(
            'USAGE',
            'restore: a point-in-time restore (--revision / --time) cannot run a saved plan: its backup is built for the run and removed after it',
          );
        planDoc = await readPlanFile(path.resolve(o.plan));
        o.backup = planDoc.backup.id;
        o.to ??= 'new-cluster';
      }
      if (o.out && !o.dryRun) throw new DrError('USAGE', 'restore: --out goes with --dry-run');
      if (o.to !== 'new-cluster')
        throw new DrError('USAGE', `restore: --to ${o.to ?? '(missing)'}: the only target is new-cluster`);
      const fromConfig = ctx.flags.config !== undefined || ctx.flags.cluster !== undefined;
      if (o.members && fromConfig)
        throw new DrError('USAGE', 'restore: give --members FILE or --config FILE --cluster NAME, not both');
      if (fromConfig && (!ctx.flags.config || !ctx.flags.cluster))
        throw new DrError('USAGE', 'restore: --config and --cluster go together');
      if (!o.members && !fromConfig)
        throw new DrError('USAGE', 'restore: --members FILE (or --config FILE --cluster NAME) is required');
      // backups are grouped by cluster name: the config's cluster is the default group
      if (fromConfig) o.clusterName ??= ctx.flags.cluster;
      if ([o.backup, o.before, pit].filter(Boolean).length !== 1)
        throw new DrError(
          'USAGE',
          'restore: give --backup ID|latest, --before TIME, or a point in time (--revision REV / --time TIME): one of them',
        );
      if (pit && !o.clusterName)
        throw new DrError(
          'USAGE',
          'restore: --revision / --time need --cluster-name (or --config with --cluster): whose log to replay',
        );
      if (pit && o.out)
        throw new DrError(
          'USAGE',
          'restore: --out cannot save a point-in-time plan: its backup is built for the run and removed after it',
        );
      if (o.dryRun && o.yes) throw new DrError('USAGE', 'restore: --dry-run and --yes exclude each other');
      const bumpRevision = bumpOf('restore', o);
      const target = o.members
        ? await loadMembersFile(path.resolve(o.members))
        : await restoreTargetFromConfig(ctx.flags.config!, ctx.flags.cluster!, ctx.env);
      const backend = await openStorage(ctx);
      let built: PointInTime | undefined;
      // a failed point-in-time restore keeps its backup, so that --resume can read it
      let keepBuilt = false;
      try {
        if (pit) {
          built = await buildPointInTime(ctx, backend, o.clusterName!, pit, {
            quiet: o.json,
            etcdBinDirs: o.etcdBinDir,
          });
          if (!o.json) process.stderr.write(describePointInTime(built.report).join('\n') + '\n');
        }
        const manifest = built?.manifest ?? (await pickBackup(ctx, backend, o));
        const source = built
          ? { backend: built.backend, identities: null }
          : { backend, identities: await resolveIdentities(ctx) };
        const plan = planDoc
          ? checkPlanFile(planDoc, path.resolve(o.plan!), { manifest, target })
          : await prepareRestore({
              manifest,
              target,
              now: ctx.clock.now(),
              token: o.token ?? defaultToken(manifest.id, randomBytes(3)),
              force: Boolean(o.force),
              bumpRevision,
              prompt: terminalPrompt,
              signal: ctx.signal,
              // the plan names the real private scratch path of the fetched backup
              scratchDir: path.join(path.dirname(catalogPath(ctx)), 'restores'),
            });
        if (o.dryRun) {
          if (o.out) await writePlanFile(path.resolve(o.out), plan);
          if (o.json) printJson(built ? { ...plan, pointInTime: built.report } : plan);
          else process.stdout.write(renderPlan(plan) + '\n');
          return plan.refusals.length ? 2 : 0;
        }
        if (!o.json) process.stderr.write(renderPlan(plan) + '\n');
        if (!o.yes) {
          if (!process.stdin.isTTY)
            throw new DrError(
              'USAGE',
              'restore: not a terminal; pass --dry-run to see the plan or --yes to execute it',
            );
          const answer = await terminalPrompt('Type "restore" to execute this plan:', ctx.signal);
          if (answer.trim() !== 'restore')
            throw new DrError('ABORTED', 'restore: not confirmed; nothing was changed');
        }
        const journalFile = o.journal
          ? path.resolve(o.journal)
          : path.join(
              path.dirname(catalogPath(ctx)),
              'restores',
              `${manifest.id}-${ctx.clock.now().toISOString().replace(/[:.]/g, '')}.journal.json`,
            );
        mkdirSync(path.dirname(journalFile), { recursive: true });
        if (!o.json)
          process.stderr.write(
            `restore: journal ${journalFile} (resume with: dr restore --resume ${journalFile})\n`,
          );
        keepBuilt = true;
        const r = await executeRestore(plan, {
          manifest,
          source,
          journalFile,
          auth,
          prompt: terminalPrompt,
          logger: ctx.logger,
          clock: ctx.clock,
          signal: ctx.signal,
          onEvent: o.json ? undefined : printEvent,
        });
        keepBuilt = false;
        printResult(r, Boolean(o.json));
        return r.ok ? 0 : 1;
      } finally {
        if (built && keepBuilt)
          process.stderr.write(
            `restore: the point-in-time backup ${built.manifest.id} stays in ${built.backend.location} for --resume (add --storage ${built.backend.location}); remove it when done\n`,
          );
        else await built?.cleanup();
        await backend.close();
      }
    }),
  );
}
