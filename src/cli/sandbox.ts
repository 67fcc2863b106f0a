import path from 'node:path';
import type { Command } from 'commander';
import { DrError } from '../core/errors.js';
import { defaultSandboxDir, sandboxDown, sandboxStatus, sandboxUp } from '../sandbox/sandbox.js';
import { addJsonOption } from './context.js';
import { printJson, printLines, printTable } from './output.js';
import { action } from './run.js';

function intOpt(raw: string | undefined, flag: string): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0)
    throw new DrError('USAGE', `${flag}: "${raw}" is not a positive integer`);
  return n;
}

export function registerSandbox(program: Command): void {
  const sandbox = program
    .command('sandbox')
    .description('a throwaway local etcd cluster to try everything on');
  const dirOpt = (c: Command) => c.option('--dir <dir>', 'sandbox directory (default ./.sandbox)');

  const up = sandbox.command('up').description('start a local 3-member cluster on loopback with sample data');
  dirOpt(up);
  addJsonOption(up);
  up.option('--size <n>', 'members (1..9)', '3')
    .option('--base-port <port>', 'first client port; peers use base+10..', '23790')
    .option('--no-sample-data', 'do not write the Kubernetes-like sample keys')
    .action(
      action(
        async (
          ctx,
          o: { dir?: string; size: string; basePort: string; sampleData: boolean; json?: boolean },
        ) => {
          const r = await sandboxUp({
            dir: o.dir ? path.resolve(o.dir) : defaultSandboxDir(process.cwd()),
            size: intOpt(o.size, '--size'),
            basePort: intOpt(o.basePort, '--base-port'),
            sampleData: o.sampleData,
            logger: ctx.logger,
          });
          if (o.json) return printJson(r);
          printLines([`sandbox ${r.outcome} in ${r.dir}`, `  endpoints ${r.endpoints.join(',')}`]);
          if (r.sampleData)
            printLines([
              `  sample data: ${r.sampleData.keys} keys, ${r.sampleData.leases} leases, revision ${r.sampleData.revision}`,
            ]);
          printLines([
            `try: dr backup --endpoints ${r.endpoints.join(',')} --storage file://${path.join(r.dir, 'backups')} --cluster-name sandbox`,
          ]);
        },
      ),
    );

  const down = sandbox.command('down').description('stop the sandbox members (followers first)');
  dirOpt(down);
  addJsonOption(down);
  down.option('--remove-data', "also delete the members' data").action(
    action(async (_ctx, o: { dir?: string; removeData?: boolean; json?: boolean }) => {
      const r = await sandboxDown({
        dir: o.dir ? path.resolve(o.dir) : defaultSandboxDir(process.cwd()),
        removeData: Boolean(o.removeData),
      });
      if (o.json) return printJson(r);
      if (!r.existed) return printLines([`no sandbox in ${r.dir}`]);
      printLines([
        `stopped ${r.stopped.length} member(s)${r.removedData ? ', data removed' : ', data kept'}`,
      ]);
    }),
  );

  const status = sandbox.command('status').description('members, health and leader');
  dirOpt(status);
  addJsonOption(status);
  status.action(
    action(async (ctx, o: { dir?: string; json?: boolean }) => {
      const r = await sandboxStatus({
        dir: o.dir ? path.resolve(o.dir) : defaultSandboxDir(process.cwd()),
        logger: ctx.logger,
      });
      if (o.json) return printJson(r);
      if (!r.exists) return printLines([`no sandbox in ${r.dir} (start one with: dr sandbox up)`]);
      printTable(
        ['MEMBER', 'ENDPOINT', 'RUNNING', 'HEALTHY', 'LEADER', 'REVISION', 'ERROR'],
        r.members.map((m) => [
          m.name,
          m.endpoint,
          m.running ? 'yes' : 'no',
          m.healthy ? 'yes' : 'no',
          m.isLeader ? 'yes' : '',
          m.revision?.toString() ?? '',
          m.error ?? '',
        ]),
      );
    }),
  );
}
