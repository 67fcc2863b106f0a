/**
 * Wraps a command's action: builds its context, turns every failure into the documented exit code and a
 * message without a stack trace, and prints errors as JSON under --json.
 */
import { setMaxListeners } from 'node:events';
import type { Command } from 'commander';
import { EXIT, toDrError, type ExitCode } from '../core/errors.js';
import { makeContext, type CommandContext, type GlobalFlags } from './context.js';
import { printError } from './output.js';

const controller = new AbortController();
// Every child process and request a command runs listens on this one signal while it runs: a restore
// checks tools and members of every host at once (a dozen concurrent listeners on a 3-member restore,
// each removed when its process exits). Node's default limit of 10 would print a leak warning.
setMaxListeners(100, controller.signal);
let signalled = 0;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    signalled++;
    if (signalled > 1) process.exit(130);
    process.stderr.write(`dr: ${sig} received, stopping (again to force)\n`);
    controller.abort(new Error(sig));
  });
}

export type CommandBody<A extends unknown[]> = (ctx: CommandContext, ...args: A) => Promise<ExitCode | void>;

export function action<A extends unknown[]>(body: CommandBody<A>): (...args: unknown[]) => Promise<void> {
  return async (...args: unknown[]) => {
    const cmd = args[args.length - 1] as Command;
    const flags = cmd.optsWithGlobals<GlobalFlags>();
    let ctx: CommandContext | undefined;
    try {
      ctx = makeContext(flags, controller.signal);
      const code = await body(ctx, ...(args.slice(0, -1) as A));
      process.exitCode = code ?? EXIT.OK;
    } catch (err) {
      const e = toDrError(err);
      if (e.code === 'INTERNAL') ctx?.logger.error({ err }, 'internal error');
      printError(e, Boolean(flags.json));
      process.exitCode = e.exitCode;
    }
  };
}
