#!/usr/bin/env node
/**
 * dr: the etcd-dr command line. Exit codes: 0 ok, 1 the thing checked is bad, 2 usage or configuration
 * error, 3 runtime failure. This is the only module that ends the process.
 */
import { Command, CommanderError } from 'commander';
import { TOOL_VERSION } from '../core/version.js';
import { EXIT } from '../core/errors.js';
import { registerBackup } from './backup.js';
import { registerList } from './list.js';
import { registerShow } from './show.js';
import { registerFetch } from './fetch.js';
import { registerVerify } from './verify.js';
import { registerCatalog } from './catalog.js';
import { registerGc } from './gc.js';
import { registerSandbox } from './sandbox.js';
import { registerRestore } from './restore.js';
import { registerDaemon } from './daemon.js';
import { registerPrune } from './prune.js';
import { registerConfig } from './config.js';

export function buildProgram(): Command {
  const program = new Command('dr')
    .description('etcd-dr: backups, disaster recovery and forensics for etcd clusters')
    .version(TOOL_VERSION)
    .showHelpAfterError()
    .exitOverride();
  program.configureOutput({ writeErr: (s) => process.stderr.write(s) });
  for (const register of [
    registerBackup,
    registerList,
    registerShow,
    registerFetch,
    registerVerify,
    registerCatalog,
    registerGc,
    registerPrune,
    registerRestore,
    registerDaemon,
    registerConfig,
    registerSandbox,
  ]) {
    register(program);
  }
  for (const cmd of program.commands) cmd.exitOverride();
  return program;
}

async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
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
