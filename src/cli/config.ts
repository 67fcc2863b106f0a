/**
 * `dr config validate FILE`: every error of a config file, each with file:line:column and the field,
 * or a summary of what the file defines. Exit 2 when it is invalid.
 */
import type { Command } from 'commander';
import { formatConfigError, loadConfig, policySummary, type ConfigError } from '../config/load.js';
import { EXIT, isDrError } from '../core/errors.js';
import { redactUrl } from '../core/redact.js';
import { addJsonOption } from './context.js';
import { printJson, printLines } from './output.js';
import { action } from './run.js';

export function registerConfig(program: Command): void {
  const config = program.command('config').description('dr configuration files');
  const validate = config
    .command('validate')
    .argument('<file>', 'config file (YAML)')
    .description('check a config file; lists every error with file, line and field')
    .option(
      '--offline',
      'check structure and references only: read no password, token or TLS file and no environment variable',
    );
  addJsonOption(validate);
  validate.action(
    action(async (ctx, file: string, opts: { offline?: boolean; json?: boolean }) => {
      let errors: ConfigError[];
      try {
        const c = loadConfig(file, { env: ctx.env, offline: Boolean(opts.offline) });
        const summary = {
          ok: true,
          file: c.file,
          clusters: c.clusters.map((x) => ({ name: x.name, endpoints: x.endpoints.map(redactUrl) })),
          storage: c.storage.map((s) => ({ name: s.name, url: redactUrl(s.url) })),
          policies: c.policies.map(policySummary),
          server: { listen: c.server.listen, token: c.server.token ? c.server.token.source : null },
          catalog: c.catalog.path,
        };
        if (opts.json) printJson(summary);
        else
          printLines([
            `${c.file}: valid`,
            `  clusters  ${summary.clusters.map((x) => x.name).join(', ')}`,
            `  storage   ${summary.storage.map((s) => `${s.name} (${s.url})`).join(', ')}`,
            ...summary.policies.map(
              (p) =>
                `  policy    ${p.name}: ${p.cluster}, "${p.schedule}" ${p.timezone}, every ${p.expectedIntervalSeconds}s at most, stale after ${p.staleAfterSeconds}s -> ${p.storage.join(', ')}`,
            ),
            `  server    ${summary.server.listen}${summary.server.token ? `, token from ${summary.server.token}` : ', no token (mutating endpoints refused)'}`,
            `  catalog   ${summary.catalog}`,
          ]);
        return EXIT.OK;
      } catch (err) {
        if (!isDrError(err, 'CONFIG_INVALID')) throw err;
        errors = (err.details.errors as ConfigError[] | undefined) ?? [];
        if (errors.length === 0) throw err;
      }
      if (opts.json)
        printJson({
          ok: false,
          error: { code: 'CONFIG_INVALID', message: `${errors.length} error(s)` },
          errors,
        });
      else
        process.stderr.write(
          `${errors.map(formatConfigError).join('\n')}\n${errors.length} error${errors.length === 1 ? '' : 's'}\n`,
        );
      return EXIT.USAGE;
    }),
  );
}
