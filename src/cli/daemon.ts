/**
 * `dr daemon --config FILE` (or `--sandbox`): scheduler + HTTP API + /metrics until SIGTERM/SIGINT.
 * SIGHUP reloads the config file. A bad config at start exits 2 with every error listed.
 */
import type { Command } from 'commander';
import { DrError } from '../core/errors.js';
import { createLogger } from '../core/logger.js';
import { bufferedSignal, runDaemon } from '../daemon/run-daemon.js';
import { prepareSandboxConfig } from '../daemon/sandbox-default.js';
import { action } from './run.js';

interface DaemonFlags {
  config?: string;
  sandbox?: boolean;
  sandboxDir?: string;
  gracePeriod: string;
  verifyEvery?: string;
  auditEvery?: string;
  retryBase: string;
  catchUp: boolean;
  logLevel: string;
}

function seconds(raw: string, flag: string, min = 0): number {
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min)
    throw new DrError('USAGE', `${flag}: "${raw}" is not a number of seconds >= ${min}`);
  return n;
}

export function registerDaemon(program: Command): void {
  program
    .command('daemon')
    .description(
      'run scheduled backups, retention and verification, with the HTTP API and /metrics (SIGHUP reloads, SIGTERM stops)',
    )
    .option('--config <file>', 'dr config file (YAML) with clusters, storage and policies')
    .option(
      '--sandbox',
      'the embedded default: start the local sandbox cluster and back it up every minute to <sandbox>/backups',
    )
    .option('--sandbox-dir <dir>', 'sandbox directory for --sandbox (default ./.sandbox)')
    .option(
      '--grace-period <seconds>',
      'on SIGTERM, how long running backups may take before they are aborted',
      '30',
    )
    .option(
      '--verify-every <seconds>',
      're-read and deep-verify the newest backup of every policy this often (default: never)',
    )
    .option(
      '--audit-every <seconds>',
      'run the online audit of every cluster this often (alarms, HashKV compared across members) and export it as metrics (default: never; --sandbox: 300)',
    )
    .option(
      '--retry-base <seconds>',
      'first retry delay after a failed attempt; doubles per retry, within the schedule window',
      '30',
    )
    .option(
      '--no-catch-up',
      'do not take a backup at start when the last success is older than the schedule interval',
    )
    .option(
      '--log-level <level>',
      'pino level of the JSON log on stderr (env DR_LOG_LEVEL)',
      process.env.DR_LOG_LEVEL ?? 'info',
    )
    .action(
      action(async (ctx, flags: DaemonFlags) => {
        // First, before anything slow: a SIGHUP from here on is a reload request, never the end.
        const onReload = bufferedSignal('SIGHUP');
        if (Boolean(flags.config) === Boolean(flags.sandbox)) {
          throw new DrError(
            'USAGE',
            'daemon: give --config FILE, or --sandbox for the embedded default (one of them)',
          );
        }
        const logger = createLogger(flags.logLevel);
        const graceMs = seconds(flags.gracePeriod, '--grace-period') * 1000;
        const verifyEvery =
          flags.verifyEvery === undefined ? null : seconds(flags.verifyEvery, '--verify-every', 1);
        const auditEvery =
          flags.auditEvery !== undefined
            ? seconds(flags.auditEvery, '--audit-every', 1)
            : flags.sandbox
              ? 300
              : null;
        const retryBaseMs = seconds(flags.retryBase, '--retry-base', 0.001) * 1000;
        let configFile = flags.config ?? '';
        let config;
        if (flags.sandbox) {
          const s = await prepareSandboxConfig({ dir: flags.sandboxDir, env: ctx.env, logger });
          configFile = s.file;
          config = s.config;
          process.stderr.write(
            `dr: sandbox daemon: config ${s.file}, API token in ${s.tokenFile}, metrics on http://${s.config.server.listen}/metrics\n`,
          );
        }
        await runDaemon({
          configFile,
          config,
          env: ctx.env,
          logger,
          signal: ctx.signal,
          graceMs,
          onReload,
          daemon: {
            verifyEverySeconds: verifyEvery,
            auditEverySeconds: auditEvery,
            retryBaseMs,
            catchUp: flags.catchUp,
          },
        });
      }),
    );
}
