/**
 * `dr diff A B`: keys added, removed and changed between two snapshot / db files or backups, each read as of
 * its latest revision (or --rev-a / --rev-b). A merge join over both sides in key order, streamed. Values
 * are told apart by a sha256 prefix and only printed with --values. Exits 0 whether or not they differ,
 * like `git diff`; --exit-code makes a difference exit 1.
 */
import type { Command } from 'commander';
import type { ExitCode } from '../core/errors.js';
import { diffKeys, type DiffSummary } from '../diff/diff-keys.js';
import { openFileSource } from '../formats/file-byte-source.js';
import { JsonArrayStream, TextOut, streamJson, untilReaderCloses } from '../inspect/json-stream.js';
import { parseRevisionFlag, valueDisplay } from '../inspect/options.js';
import {
  checkRevision,
  liveKeys,
  oldestRevision,
  openStore,
  type OpenedStore,
} from '../inspect/keys-view.js';
import { keyChangeJson, keyChangeLine } from '../inspect/render.js';
import { addIdentityOption, addJsonOption, addStorageOption, type CommandContext } from './context.js';
import { openDbArg, type OpenedDbArg } from './db-arg.js';
import { addEtcdBinDirOption } from './point-in-time.js';
import { action } from './run.js';

interface DiffOpts {
  revA?: string;
  revB?: string;
  prefix?: string;
  values?: boolean;
  full?: boolean;
  exitCode?: boolean;
  clusterName?: string;
  etcdBinDir?: string[];
  json?: boolean;
}

interface Side {
  arg: OpenedDbArg;
  src: ReturnType<typeof openFileSource>;
  store: OpenedStore;
  revision: bigint;
}

async function openSide(
  ctx: CommandContext,
  ref: string,
  rawRev: string | undefined,
  flag: string,
  name: string,
  clusterName: string | undefined,
  etcdBinDirs: string[] | undefined,
): Promise<Side> {
  const rev = parseRevisionFlag(rawRev, flag) ?? 0n;
  const arg = await openDbArg(ctx, ref, { clusterName, what: name, etcdBinDirs });
  try {
    const src = openFileSource(arg.file);
    try {
      const store = openStore(src, arg.label);
      return { arg, src, store, revision: checkRevision(store.revisions, rev, `${name} (${arg.label})`) };
    } catch (err) {
      src.close();
      throw err;
    }
  } catch (err) {
    await arg.close();
    throw err;
  }
}

async function closeSide(s: Side | undefined): Promise<void> {
  if (!s) return;
  s.src.close();
  await s.arg.close();
}

function sideJson(s: Side): Record<string, unknown> {
  return {
    source: s.arg.label,
    ...(s.arg.backupId ? { backupId: s.arg.backupId } : {}),
    revision: s.revision,
    currentRevision: s.store.revisions.current,
    oldestRevision: oldestRevision(s.store.revisions),
  };
}

async function runDiff(ctx: CommandContext, refA: string, refB: string, opts: DiffOpts): Promise<ExitCode> {
  const show = valueDisplay(opts);
  // check both revision flags before fetching anything
  parseRevisionFlag(opts.revA, '--rev-a');
  parseRevisionFlag(opts.revB, '--rev-b');
  const prefix = opts.prefix !== undefined ? Buffer.from(opts.prefix) : undefined;
  let a: Side | undefined;
  let b: Side | undefined;
  try {
    a = await openSide(ctx, refA, opts.revA, '--rev-a', 'A', opts.clusterName, opts.etcdBinDir);
    b = await openSide(ctx, refB, opts.revB, '--rev-b', 'B', opts.clusterName, opts.etcdBinDir);
    const keysA = liveKeys(a.store, { rev: a.revision, ...(prefix ? { prefix } : {}) });
    const keysB = liveKeys(b.store, { rev: b.revision, ...(prefix ? { prefix } : {}) });
    const out = new TextOut(process.stdout);
    const codeFor = (s: DiffSummary): ExitCode => (opts.exitCode && !s.equal ? 1 : 0);
    // the join is synchronous; output is flushed (with backpressure) between batches of keys
    const step = () => ctx.signal.throwIfAborted();
    if (opts.json) {
      const json = new JsonArrayStream(out);
      json.begin(
        { a: sideJson(a), b: sideJson(b), prefix: opts.prefix ?? null, values: show.values },
        'changes',
      );
      return await streamJson(
        json,
        out,
        async () => {
          const summary = diffKeys(keysA, keysB, (c) => json.item(keyChangeJson(c, show)), step);
          return { tail: { summary }, code: codeFor(summary) };
        },
        process.stderr,
      );
    }
    out.write(
      `--- A ${a.arg.label} at revision ${a.revision}\n+++ B ${b.arg.label} at revision ${b.revision}\n`,
    );
    const summary = diffKeys(keysA, keysB, (c) => out.write(`${keyChangeLine(c, show)}\n`), step);
    out.write(
      `-- ${summary.added} added, ${summary.removed} removed, ${summary.changed} changed${opts.prefix !== undefined ? ` under prefix ${JSON.stringify(opts.prefix)}` : ''}; ${summary.rewritten} rewritten with the same value, ${summary.unchanged} unchanged (A ${summary.keysA} keys, B ${summary.keysB} keys)\n`,
    );
    await out.flush();
    return codeFor(summary);
  } finally {
    await closeSide(a);
    await closeSide(b);
  }
}

export function registerDiff(program: Command): void {
  const cmd = program
    .command('diff')
    .argument(
      '<a>',
      'snapshot / db file, data dir, backup id, or rev:R / time:T (a point in time; with --storage and --cluster-name)',
    )
    .argument('<b>', 'as <a>')
    .description(
      'keys added, removed and changed from A to B (values compared by sha256, shown only with --values)',
    );
  addStorageOption(cmd);
  addIdentityOption(cmd);
  addJsonOption(cmd);
  // for rev:R / time:T sides: the throwaway member's etcd
  addEtcdBinDirOption(cmd);
  cmd
    .option('--rev-a <n>', 'read A as of this revision (default: its latest)')
    .option('--rev-b <n>', 'read B as of this revision (default: its latest)')
    .option('--prefix <p>', 'only keys starting with p')
    .option('--values', 'print values (they may hold secrets), cut to 200 bytes')
    .option('--full', 'with --values: print whole values')
    .option('--exit-code', 'exit 1 when A and B differ (default: 0 either way, like git diff)')
    .option('--cluster-name <name>', 'cluster the backups belong to')
    .action(action(untilReaderCloses(runDiff)));
}
