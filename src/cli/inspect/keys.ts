/** `dr inspect keys FILE | --backup ID`: the live key-values as of a revision, like `etcdctl get --prefix --rev`. */
import type { Command } from 'commander';
import { DrError, type ExitCode } from '../../core/errors.js';
import { openFileSource } from '../../formats/file-byte-source.js';
import type { KeyValue } from '../../formats/mvcc/key-value.js';
import { JsonArrayStream, TextOut, streamJson, untilReaderCloses } from '../../inspect/json-stream.js';
import { checkRevision, liveKeys, oldestRevision, openStore } from '../../inspect/keys-view.js';
import { parseRevisionFlag, valueDisplay } from '../../inspect/options.js';
import { DEFAULT_VALUE_LIMIT, KEYS_TABLE_HEAD, keyValueJson, keyValueLine } from '../../inspect/render.js';
import { addIdentityOption, addJsonOption, addStorageOption, type CommandContext } from '../context.js';
import { openDbSource } from '../db-arg.js';
import { addEtcdBinDirOption } from '../point-in-time.js';
import { action } from '../run.js';

interface KeysOpts {
  backup?: string;
  clusterName?: string;
  etcdBinDir?: string[];
  json?: boolean;
  prefix?: string;
  rev?: string;
  limit?: string;
  values?: boolean;
  full?: boolean;
}

async function inspectKeys(ctx: CommandContext, file: string | undefined, opts: KeysOpts): Promise<ExitCode> {
  const show = valueDisplay(opts);
  const rev = parseRevisionFlag(opts.rev, '--rev') ?? 0n;
  let limit = Infinity;
  if (opts.limit !== undefined) {
    if (!/^\d+$/.test(opts.limit) || Number(opts.limit) === 0)
      throw new DrError('USAGE', `--limit: "${opts.limit}" is not a positive integer`);
    limit = Number(opts.limit);
  }
  const prefix = opts.prefix !== undefined ? Buffer.from(opts.prefix) : undefined;
  const arg = await openDbSource(ctx, file, opts);
  try {
    const src = openFileSource(arg.file);
    try {
      const store = openStore(src, arg.label);
      const target = checkRevision(store.revisions, rev, arg.label);
      const kvs = liveKeys(store, { rev: target, ...(prefix ? { prefix } : {}) });
      const out = new TextOut(process.stdout);
      let count = 0;
      let more = false;
      const each = async (f: (kv: KeyValue) => void) => {
        for (const kv of kvs) {
          if (count >= limit) {
            more = true;
            break;
          }
          f(kv);
          count++;
          if (count % 1024 === 0) {
            ctx.signal.throwIfAborted();
            await out.flush();
          }
        }
      };
      const head = {
        file: arg.label,
        ...(arg.backupId ? { backupId: arg.backupId } : {}),
        revision: target,
        currentRevision: store.revisions.current,
        oldestRevision: oldestRevision(store.revisions),
        compactRevision: store.revisions.compacted,
        prefix: opts.prefix ?? null,
        values: show.values,
      };
      if (opts.json) {
        const json = new JsonArrayStream(out);
        json.begin(head, 'kvs');
        return await streamJson(
          json,
          out,
          async () => {
            await each((kv) => json.item(keyValueJson(kv, show)));
            return { tail: { count, more }, code: 0 };
          },
          process.stderr,
        );
      }
      out.write(`${KEYS_TABLE_HEAD}\n`);
      await each((kv) => out.write(`${keyValueLine(kv, show)}\n`));
      out.write(
        `-- ${count} key(s)${more ? ` (more after --limit ${limit})` : ''} at revision ${target} of ${arg.label} (revisions ${oldestRevision(store.revisions)}..${store.revisions.current})\n`,
      );
      await out.flush();
      return 0;
    } finally {
      src.close();
    }
  } finally {
    await arg.close();
  }
}

export function registerInspectKeys(inspect: Command): void {
  const keys = inspect
    .command('keys')
    .argument('[file]', 'db file, snapshot file, or data dir (member/snap/db)')
    .description('the live key-values as of a revision, like `etcdctl get --prefix --rev`');
  addStorageOption(keys);
  addIdentityOption(keys);
  addJsonOption(keys);
  addEtcdBinDirOption(keys);
  keys
    .option('--prefix <p>', 'keys starting with p')
    .option('--rev <n>', 'revision (default: the latest in the file)')
    .option('--limit <n>', 'at most n keys')
    .option('--values', `print values (they may hold secrets), cut to ${DEFAULT_VALUE_LIMIT} bytes`)
    .option('--full', 'with --values: print whole values')
    .option('--backup <id>', 'inspect a stored backup (id or "latest"; needs --storage)')
    .option('--cluster-name <name>', 'cluster the backup belongs to')
    .action(action(untilReaderCloses(inspectKeys)));
}
