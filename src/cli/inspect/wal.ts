/**
 * `dr inspect wal DIR`: every WAL record (entries with index, term, type and decoded request; state,
 * snapshot and metadata records), one segment in memory at a time.
 */
import type { Command } from 'commander';
import { DrError, type ExitCode } from '../../core/errors.js';
import { openWalDir } from '../../audit/wal/read-wal-dir.js';
import { resolveWalDir } from '../../inspect/db-source.js';
import { JsonArrayStream, TextOut, streamJson, untilReaderCloses } from '../../inspect/json-stream.js';
import { parseRevisionFlag, parseTypes, valueDisplay } from '../../inspect/options.js';
import { DEFAULT_VALUE_LIMIT, WAL_TABLE_HEAD, walItemJson, walItemLine } from '../../inspect/render.js';
import { ENTRY_CATEGORIES, viewWal } from '../../inspect/wal-view.js';
import { addJsonOption, type CommandContext } from '../context.js';
import { formatBytes } from '../output.js';
import { action } from '../run.js';

interface WalOpts {
  fromIndex?: string;
  toIndex?: string;
  prefix?: string;
  type?: string;
  values?: boolean;
  full?: boolean;
  json?: boolean;
}

async function inspectWal(ctx: CommandContext, dir: string, opts: WalOpts): Promise<ExitCode> {
  const show = valueDisplay(opts);
  const fromIndex = parseRevisionFlag(opts.fromIndex, '--from-index');
  const toIndex = parseRevisionFlag(opts.toIndex, '--to-index');
  if (fromIndex !== undefined && toIndex !== undefined && fromIndex > toIndex)
    throw new DrError('USAGE', `--from-index ${fromIndex} is after --to-index ${toIndex}`);
  const types = parseTypes(opts.type);
  const prefix = opts.prefix !== undefined ? Buffer.from(opts.prefix) : undefined;
  const walDir = resolveWalDir(dir);
  const src = await openWalDir(walDir);
  const out = new TextOut(process.stdout);
  const filter = {
    ...(fromIndex !== undefined ? { fromIndex } : {}),
    ...(toIndex !== undefined ? { toIndex } : {}),
    ...(prefix !== undefined ? { prefix } : {}),
    ...(types ? { types } : {}),
  };
  const run = (onItem: Parameters<typeof viewWal>[1]['onItem']) =>
    viewWal(src, { ...filter, onItem, afterSegment: () => out.flush(), signal: ctx.signal });

  if (opts.json) {
    const json = new JsonArrayStream(out);
    json.begin(
      {
        kind: 'wal',
        dir: walDir,
        filter: {
          fromIndex: fromIndex ?? null,
          toIndex: toIndex ?? null,
          prefix: opts.prefix ?? null,
          types: types ? [...types] : null,
        },
        values: show.values,
      },
      'records',
    );
    return streamJson(
      json,
      out,
      async () => {
        const summary = await run((item) => json.item(walItemJson(item, show)));
        return { tail: { summary }, code: 0 };
      },
      process.stderr,
    );
  }
  out.write(`${WAL_TABLE_HEAD}\n`);
  const summary = await run((item) => out.write(`${walItemLine(item, show)}\n`));
  const range =
    summary.firstIndex !== undefined ? `, indexes ${summary.firstIndex}..${summary.lastIndex}` : '';
  out.write(
    `-- ${summary.shown} record(s) shown; ${summary.entries} entries in ${summary.segments} segment(s) (${formatBytes(summary.bytesRead)})${range}${summary.skippedSegments ? `, ${summary.skippedSegments} segment(s) below --from-index skipped` : ''}; ${summary.problems} problem(s)${summary.problems ? ' (run dr audit for a verdict)' : ''}\n`,
  );
  await out.flush();
  return 0;
}

export function registerInspectWal(inspect: Command): void {
  const wal = inspect
    .command('wal')
    .argument('<dir>', 'data dir, member dir or wal dir')
    .description(
      'every WAL record: entries with index, term, type and decoded request; state, snapshot and metadata records',
    );
  addJsonOption(wal);
  wal
    .option('--from-index <n>', 'entries with raft index >= n')
    .option('--to-index <n>', 'entries with raft index <= n')
    .option('--prefix <p>', 'entries that put or delete a key starting with p')
    .option('--type <list>', `comma-separated entry types: ${ENTRY_CATEGORIES.join(', ')}`)
    .option('--values', `print values (they may hold secrets), cut to ${DEFAULT_VALUE_LIMIT} bytes`)
    .option('--full', 'with --values: print whole values')
    .action(action(untilReaderCloses(inspectWal)));
}
