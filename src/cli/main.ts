#!/usr/bin/env -S node --max-semi-space-size=1 --semi-space-growth-factor=1
/**
 * The V8 flags above are given at process start (V8 flags set after start-up behave unpredictably): a
 * snapshot arrives as hundreds of thousands of short-lived buffers, and V8's default young generation
 * (semi-spaces of up to 16 MiB, growing) lets tens of MB of that garbage pile up between scavenges. A
 * fixed small semi-space scavenges sooner: a 270 MB `dr backup` to file:// peaks at ~95 MB instead of
 * ~130 MB with 2 MiB, for no more CPU; 1 MiB keeps a 1 GiB backup to S3 (with its part buffers) at
 * ~140 MB where 2 MiB gave 150-185 MB, in the same time (docs/benchmarks.md, session 11). Run `dr` as its bin (`./dist/cli/dr.js`: this module bundled by
 * scripts/bundle.mjs, which keeps this line); `node dist/cli/dr.js` works too, without them.
 * test/helpers/dr.ts spawns with the same flags.
 *
 * dr: the etcd-dr command line. Exit codes: 0 ok, 1 the thing checked is bad, 2 usage or configuration
 * error, 3 runtime failure. This is the only module that ends the process.
 */
import { Command, CommanderError } from 'commander';

// Third-party notices that say nothing to an operator and would otherwise land on every command's stderr:
// the AWS SDK's Node 20 end-of-support notice, and Node's DEP0123 (grpc-js sets the TLS server name to an
// IP endpoint, grpc/grpc-node#1919). Every other warning is still printed.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
process.removeAllListeners('warning');
process.on('warning', (w: Error & { code?: string }) => {
  if (w.code !== 'DEP0123') process.stderr.write(`dr: warning: ${w.name}: ${w.message}\n`);
});
import { TOOL_VERSION } from '../core/version.js';
import { EXIT } from '../core/errors.js';
/**
 * Each command's module is loaded only when that command runs (or for the overview help): a backup does
 * not pay for fastify, the AWS SDK or prom-client at start-up.
 */
type Register = (program: Command) => void;
const COMMANDS: Record<string, () => Promise<Register>> = {
  backup: async () => (await import('./backup.js')).registerBackup,
  list: async () => (await import('./list.js')).registerList,
  show: async () => (await import('./show.js')).registerShow,
  fetch: async () => (await import('./fetch.js')).registerFetch,
  verify: async () => (await import('./verify.js')).registerVerify,
  catalog: async () => (await import('./catalog.js')).registerCatalog,
  gc: async () => (await import('./gc.js')).registerGc,
  prune: async () => (await import('./prune.js')).registerPrune,
  restore: async () => (await import('./restore.js')).registerRestore,
  drill: async () => (await import('./drill.js')).registerDrill,
  daemon: async () => (await import('./daemon.js')).registerDaemon,
  config: async () => (await import('./config.js')).registerConfig,
  audit: async () => (await import('./audit.js')).registerAudit,
  inspect: async () => (await import('./inspect/index.js')).registerInspect,
  log: async () => (await import('./log.js')).registerLog,
  diff: async () => (await import('./diff.js')).registerDiff,
  sandbox: async () => (await import('./sandbox.js')).registerSandbox,
};

/** The first word that is not an option names the command. */
function commandIn(argv: string[]): string | undefined {
  return argv.slice(2).find((a) => !a.startsWith('-'));
}

export async function buildProgram(argv: string[] = process.argv): Promise<Command> {
  const program = new Command('dr')
    .description('etcd-dr: backups, disaster recovery and forensics for etcd clusters')
    .version(TOOL_VERSION)
    .showHelpAfterError()
    .exitOverride();
  program.configureOutput({ writeErr: (s) => process.stderr.write(s) });
  const named = commandIn(argv);
  // `dr --version` needs no command; help without a command lists them all
  const versionOnly = !named && argv.slice(2).some((a) => a === '-V' || a === '--version');
  const wanted = named && named in COMMANDS ? [named] : versionOnly ? [] : Object.keys(COMMANDS);
  for (const register of await Promise.all(wanted.map((n) => COMMANDS[n]!()))) register(program);
  for (const cmd of program.commands) cmd.exitOverride();
  return program;
}

async function main(argv: string[]): Promise<void> {
  const program = await buildProgram(argv);
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      const ok =
        err.code === 'commander.helpDisplayed' ||
        err.code === 'commander.version' ||
        err.code === 'commander.help';
      if (!ok && argv.includes('--json')) {
        process.stdout.write(
          JSON.stringify({ ok: false, error: { code: 'USAGE', message: err.message } }) + '\n',
        );
      }
      process.exitCode = ok ? EXIT.OK : EXIT.USAGE;
      return;
    }
    process.stderr.write(`dr: error INTERNAL: ${(err as Error).message}\n`);
    process.exitCode = EXIT.RUNTIME;
  }
}

await main(process.argv);
