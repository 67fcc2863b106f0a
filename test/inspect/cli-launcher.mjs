// Runs `dr inspect` / `dr diff` from dist without src/cli/main.ts, for the tests of this folder while the
// commands are not yet registered there (see inspect.test.ts). Mirrors main.ts: usage errors exit 2.
import { Command, CommanderError } from 'commander';
import { registerInspect } from '../../dist/cli/inspect/index.js';
import { registerDiff } from '../../dist/cli/diff.js';

const program = new Command('dr').exitOverride();
registerInspect(program);
registerDiff(program);
try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    const ok = err.code === 'commander.helpDisplayed' || err.code === 'commander.help';
    if (!ok && process.argv.includes('--json'))
      process.stdout.write(
        JSON.stringify({ ok: false, error: { code: 'USAGE', message: err.message } }) + '\n',
      );
    process.exitCode = ok ? 0 : 2;
  } else {
    process.stderr.write(`dr: error INTERNAL: ${err.message}\n`);
    process.exitCode = 3;
  }
}
