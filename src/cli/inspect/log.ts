/**
 * `dr inspect log --cluster C`: every change the revision log holds (revision, time, type, key; values
 * only with --values), filtered by key or prefix and by revision or time. The manifests are checked
 * first (each against its key, the chains), each segment read is checked against its manifest, and a
 * gap, a broken chain or a refused manifest in the range asked for makes the exit code 1.
 */
import type { Command } from 'commander';
import { DrError, type ExitCode } from '../../core/errors.js';
import { keyMissing } from '../../crypto/age-header.js';
import { JsonArrayStream, TextOut, streamJson, untilReaderCloses } from '../../inspect/json-stream.js';
import {
  eventMatches,
  LOG_TABLE_HEAD,
  logChangeJson,
  logChangeLine,
  type KeyFilter,
} from '../../inspect/log-view.js';
import { parseRevisionFlag, valueDisplay } from '../../inspect/options.js';
import { DEFAULT_VALUE_LIMIT } from '../../inspect/render.js';
import { validateClusterName } from '../../manifest/layout.js';
import { problemInRange, type LogProblem } from '../../revlog/chain-check.js';
import {
  listLog,
  readSegmentRecords,
  recordInRange,
  segmentsInRange,
  type RecordRange,
} from '../../revlog/log-reader.js';
import type { LogEvent, RevisionRecord } from '../../revlog/segment-format.js';
import {
  addIdentityOption,
  addJsonOption,
  addStorageOption,
  manifestTrust,
  openStorage,
  resolveIdentities,
  type CommandContext,
} from '../context.js';
import { action } from '../run.js';

interface LogOpts {
  cluster?: string;
  clusterName?: string;
  key?: string;
  prefix?: string;
  fromRev?: string;
  toRev?: string;
  fromTime?: string;
  toTime?: string;
  values?: boolean;
  full?: boolean;
  json?: boolean;
}

function parseTime(raw: string | undefined, flag: string): number | undefined {
  if (raw === undefined) return undefined;
  const t = Date.parse(raw);
  if (Number.isNaN(t))
    throw new DrError('USAGE', `${flag}: "${raw}" is not a time (ISO 8601, e.g. 2026-12-03T10:00:00Z)`);
  return t;
}

function problemLine(p: LogProblem): string {
  return `PROBLEM ${p.code} at revision ${p.revision}${p.lastRevision !== undefined && p.lastRevision !== p.revision ? `..${p.lastRevision}` : ''}: ${p.message}`;
}

function discontinuous(cluster: string, problems: LogProblem[]): DrError {
  return new DrError(
    'REVLOG_DISCONTINUOUS',
    `revision log of ${cluster}: ${problems.length} problem(s) in the revisions asked for (${[...new Set(problems.map((p) => p.code))].join(', ')}); each is listed above`,
    { problems: problems.length },
  );
}

async function inspectLog(ctx: CommandContext, opts: LogOpts): Promise<ExitCode> {
  const name = opts.cluster ?? opts.clusterName;
  if (!name) throw new DrError('USAGE', 'inspect log: give the cluster with --cluster NAME');
  const cluster = validateClusterName(name, '--cluster');
  if (opts.key !== undefined && opts.prefix !== undefined)
    throw new DrError('USAGE', '--key and --prefix cannot be given together');
  const filter: KeyFilter = {
    ...(opts.key !== undefined ? { key: Buffer.from(opts.key) } : {}),
    ...(opts.prefix !== undefined ? { prefix: Buffer.from(opts.prefix) } : {}),
  };
  const range: RecordRange = {
    fromRevision: parseRevisionFlag(opts.fromRev, '--from-rev'),
    toRevision: parseRevisionFlag(opts.toRev, '--to-rev'),
    fromTime: parseTime(opts.fromTime, '--from-time'),
    toTime: parseTime(opts.toTime, '--to-time'),
  };
  const show = valueDisplay(opts);
  const backend = await openStorage(ctx);
  try {
    const identities = await resolveIdentities(ctx);
    const log = await listLog(backend, cluster, ctx.signal, await manifestTrust(ctx));
    if (log.segments.length === 0 && log.gaps.length === 0 && log.problems.length === 0)
      throw new DrError('REVLOG_NOT_FOUND', `no revision log for cluster ${cluster} in ${backend.location}`, {
        cluster,
      });
    const problems = log.problems.filter((p) => problemInRange(p, range.fromRevision, range.toRevision));
    const segments = segmentsInRange(log.segments, range);
    // a missing key is said before any output, as for backups
    for (const s of segments) {
      const enc = s.manifest.stored.encryption;
      if (enc && !identities?.fingerprints.some((f) => enc.recipients.includes(f)))
        throw keyMissing(`revision log segment ${s.key}`, enc.recipients, identities);
    }
    const out = new TextOut(process.stdout);
    let count = 0;
    const each = async (f: (rec: RevisionRecord, e: LogEvent) => void) => {
      for (const seg of segments)
        for await (const rec of readSegmentRecords(backend, seg, identities, ctx.signal)) {
          if (!recordInRange(rec, range)) continue;
          for (const e of rec.events) {
            if (!eventMatches(e, filter)) continue;
            f(rec, e);
            if (++count % 1024 === 0) await out.flush();
          }
        }
    };
    const code: ExitCode = problems.length ? 1 : 0;
    if (opts.json) {
      const json = new JsonArrayStream(out);
      json.begin(
        {
          cluster,
          storage: backend.location,
          key: opts.key ?? null,
          prefix: opts.prefix ?? null,
          fromRevision: range.fromRevision ?? null,
          toRevision: range.toRevision ?? null,
          fromTime: opts.fromTime ?? null,
          toTime: opts.toTime ?? null,
          values: show.values,
          chains: log.chains,
          problems,
        },
        'changes',
      );
      return await streamJson(
        json,
        out,
        async () => {
          await each((rec, e) => json.item(logChangeJson(rec, e, show)));
          return {
            tail: {
              ok: code === 0,
              count,
              segmentsRead: segments.length,
              ...(code ? { error: discontinuous(cluster, problems).toJSON() } : {}),
            },
            code,
          };
        },
        process.stderr,
      );
    }
    out.write(
      `revision log of ${cluster} in ${backend.location}: ${log.chains.length} chain(s), ${log.segments.length} segment(s)\n`,
    );
    for (const c of log.chains)
      out.write(
        `  chain ${c.chainId}: revisions ${c.firstRevision}..${c.lastRevision} (${c.segments} segment(s), ${c.firstTime} .. ${c.lastTime})\n`,
      );
    out.write(`${LOG_TABLE_HEAD}\n`);
    await each((rec, e) => out.write(`${logChangeLine(rec, e, show)}\n`));
    out.write(`-- ${count} change(s) from ${segments.length} segment(s)\n`);
    for (const p of problems) out.write(`${problemLine(p)}\n`);
    await out.flush();
    if (problems.length) throw discontinuous(cluster, problems);
    return code;
  } finally {
    await backend.close();
  }
}

export function registerInspectLog(inspect: Command): void {
  const cmd = inspect
    .command('log')
    .description('every change recorded by the revision log (dr log follow): revision, time, type, key');
  addStorageOption(cmd);
  addIdentityOption(cmd);
  addJsonOption(cmd);
  cmd
    .option('--cluster <name>', 'the cluster whose log to read (the name it is stored under)')
    .option('--cluster-name <name>', 'the same as --cluster')
    .option('--key <k>', 'changes to this key only')
    .option('--prefix <p>', 'changes to keys starting with p only')
    .option('--from-rev <n>', 'from this revision')
    .option('--to-rev <n>', 'up to this revision (inclusive)')
    .option('--from-time <iso>', 'changes received at or after this time')
    .option('--to-time <iso>', 'changes received at or before this time')
    .option('--values', `print values (they may hold secrets), cut to ${DEFAULT_VALUE_LIMIT} bytes`)
    .option('--full', 'with --values: print whole values')
    .action(action(untilReaderCloses(inspectLog)));
}
