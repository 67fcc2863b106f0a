/**
 * The restore executor. It runs a plan step by step and journals every step (see journal.ts):
 *
 *  1. checks, before anything changes: the plan has no refusals, the facts observed now still give the
 *     same plan (dirs, old cluster health, control, tool, space), and the backup is fetched once and its
 *     sha256 verifies;
 *  2. stops every member, moves old data dirs aside (never deletes), writes every member's data dir with
 *     etcd's own restore tool IN PARALLEL (into a staging dir renamed into place, so a data dir is whole
 *     or absent), starts the members in plan order, waits for a quorum and a leader, then for everyone;
 *  3. verifies the new cluster (verify.ts).
 *
 * Each step is idempotent, so `resumeRestore` simply redoes whatever is not `done`. A failure throws a
 * DrError whose details say what was done, what was not, and how to roll back.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { systemClock } from '../core/clock.js';
import { DrError, toDrError } from '../core/errors.js';
import type { Manifest } from '../manifest/manifest.js';
import {
  context,
  type Ctx,
  type ExecuteDeps,
  type RestoreEvent,
  type SnapshotSource,
} from './execute-context.js';
import { removeUpload, runStep } from './execute-steps.js';
import { isPlannedScratch } from './plan-file.js';
import { gatherFacts } from './facts.js';
import { failure, refused } from './failure.js';
import { newJournal, readJournal, JournalWriter } from './journal.js';
import { planRestore, type PlanStep, type RestorePlan } from './plan.js';
import { createProbe, type ClusterProbe } from './probe.js';
import type { VerifyReport } from './verify.js';

export type { ExecuteDeps, RestoreEvent, SnapshotSource } from './execute-context.js';
export type { RestoreFailureReport } from './failure.js';
export { assertSnapshotIntact } from './snapshot-check.js';

export interface ExecuteOptions extends ExecuteDeps {
  /** the manifest of the backup the plan names */
  manifest: Manifest;
  source: SnapshotSource;
  journalFile: string;
  /** where the fetched snapshot is written (a backend source) @default dirname(journalFile) */
  workDir?: string;
}

export interface RestoreResult {
  ok: boolean;
  journalFile: string;
  plan: RestorePlan;
  verification: VerifyReport;
  /** steps skipped because an earlier run had done them */
  skipped: string[];
}

export async function executeRestore(plan: RestorePlan, opts: ExecuteOptions): Promise<RestoreResult> {
  const clock = opts.clock ?? systemClock;
  if (plan.refusals.length > 0) {
    throw refused(plan, 'the plan has refusals');
  }
  if (plan.backup.id !== opts.manifest.id || plan.backup.sha256 !== opts.manifest.snapshot.sha256) {
    throw new DrError(
      'USAGE',
      `restore: the plan is for backup ${plan.backup.id}, the manifest given is ${opts.manifest.id}`,
    );
  }
  const ctx = context(plan, opts);

  // Every check that can fail runs before the first change. The plan may be minutes old: look again.
  const facts = await gatherFacts(plan.target, {
    hostFor: (m) => ctx.hostFor(m),
    controlFor: (m) => ctx.controlFor(m),
    tls: ctx.tls,
    signal: opts.signal,
    backupVersion: opts.manifest.source.etcdVersion,
  });
  const again = planRestore({
    backup: opts.manifest,
    target: plan.target,
    token: plan.newCluster.token,
    now: new Date(plan.createdAt),
    facts,
    force: plan.force,
    snapshotFile: plan.snapshotFile,
    bumpRevision: plan.bump?.revision,
  });
  if (again.refusals.length > 0) throw refused(again, 'a check failed before any change');
  const changed = again.newCluster.members.filter((m, i) => {
    const p = plan.newCluster.members[i]!;
    return m.dataAside !== p.dataAside || m.walAside !== p.walAside;
  });
  if (changed.length > 0) {
    throw new DrError(
      'CONFIG_INVALID',
      `restore: the data dirs of ${changed.map((m) => m.name).join(', ')} changed since the plan was made; plan again`,
      {
        members: changed.map((m) => m.name),
      },
    );
  }

  // the reviewed plan is the plan that runs: the same tools, owners and every command, flag for flag
  const drift = planDrift(plan, again);
  if (drift.length > 0) {
    throw new DrError(
      'RESTORE_REFUSED',
      `restore refused: the plan would not run as reviewed (the facts it was made from changed): ${drift.join('; ')}; plan again`,
      { drift },
    );
  }

  // the fetched copy goes to a private dir: the plan's own scratch dir (created here, 0700, refused if it
  // already exists), else a mkdtemp one next to the journal
  let snapshotFile: string;
  if ('file' in opts.source) snapshotFile = path.resolve(opts.source.file);
  else if (isPlannedScratch(plan.snapshotFile, plan.backup.id)) {
    snapshotFile = plan.snapshotFile;
    await mkdir(path.dirname(path.dirname(snapshotFile)), { recursive: true });
    await mkdir(path.dirname(snapshotFile), { mode: 0o700 }).catch((err: NodeJS.ErrnoException) => {
      throw new DrError(
        'RESTORE_REFUSED',
        `restore: cannot create the plan's private scratch dir ${path.dirname(snapshotFile)}: ${err.code ?? err.message} (a plan runs once; plan again)`,
      );
    });
  } else {
    const work = opts.workDir ?? path.dirname(path.resolve(opts.journalFile));
    await mkdir(work, { recursive: true });
    const scratch = await mkdtemp(path.join(work, `.dr-restore-${plan.backup.id}-`));
    snapshotFile = path.join(scratch, `${plan.backup.id}.db`);
  }
  const journal = newJournal(plan, opts.manifest, snapshotFile, clock.now(), !('file' in opts.source));
  const writer = new JournalWriter(opts.journalFile, journal, () => clock.now());
  await writer.update(() => {});
  return run(writer, ctx, opts.source);
}

export interface ResumeOptions extends ExecuteDeps {
  /** needed only if the fetched snapshot is gone and must be fetched again */
  source?: SnapshotSource;
}

/** Continues a restore from its journal: done steps are skipped, a running or failed step is redone. */
export async function resumeRestore(journalFile: string, opts: ResumeOptions = {}): Promise<RestoreResult> {
  const journal = await readJournal(journalFile);
  const writer = new JournalWriter(journalFile, journal, () => (opts.clock ?? systemClock).now());
  const ctx = context(journal.plan, { ...opts, manifest: journal.manifest });
  await writer.update((j) => (j.status = 'running'));
  return run(writer, ctx, opts.source);
}

async function run(
  writer: JournalWriter,
  ctx: Ctx,
  source: SnapshotSource | undefined,
): Promise<RestoreResult> {
  const { plan } = ctx;
  const signal = ctx.deps.signal;
  const skipped: string[] = [];
  const emit = (e: RestoreEvent) => {
    ctx.log.info(e, 'restore step');
    ctx.deps.onEvent?.(e);
  };
  // group consecutive steps that share a parallelGroup
  const groups: PlanStep[][] = [];
  for (const s of plan.steps) {
    const last = groups.at(-1);
    if (last && s.parallelGroup && last[0]!.parallelGroup === s.parallelGroup) last.push(s);
    else groups.push([s]);
  }
  let probe: ClusterProbe | undefined;
  const getProbe = () =>
    (probe ??= (
      ctx.deps.probeFactory ??
      ((e, tls) =>
        createProbe({ endpoints: e, tls, etcdctl: plan.target.binaries.etcdctl, auth: ctx.deps.auth }))
    )(
      plan.newCluster.members.map((m) => m.clientURLs[0]!),
      ctx.tls,
    ));

  // the scratch copy of the snapshot (every Secret of the cluster) is needed only until the restore tool
  // and the offline hash have read it: it is removed then, while the members start (off the critical
  // path), not when the whole restore ends. A resume that must run those steps again fetches it again.
  const readers = plan.steps.filter((s) => s.kind === 'restore' || s.kind === 'hash-offline');
  let scratchGone: Promise<void> | undefined;
  const releaseScratch = () => {
    if (scratchGone || readers.length === 0) return;
    if (!readers.every((s) => writer.step(s.id).state === 'done')) return;
    if (writer.journal.snapshotIsScratch)
      ctx.log.info(
        { file: writer.journal.snapshotFile },
        'restore: removing the scratch copy of the snapshot (the restore tool and the offline hash are done with it)',
      );
    scratchGone = removeScratch(writer, ctx);
  };
  try {
    for (const group of groups) {
      const last = await stopLast(group, writer, ctx, getProbe);
      const runOne = async (step: PlanStep) => {
        const js = writer.step(step.id);
        if (js.state === 'done') {
          skipped.push(step.id);
          emit({ step: step.id, state: 'skipped', message: `${step.description} (done earlier)` });
          return;
        }
        signal?.throwIfAborted();
        await writer.update(() => {
          js.state = 'running';
          js.attempts += 1;
          js.startedAt = new Date().toISOString();
          delete js.error;
        });
        emit({ step: step.id, state: 'running', message: step.description });
        try {
          await runStep(step, ctx, writer, source, getProbe);
        } catch (err) {
          const e = toDrError(err, 'INTERNAL', `restore step ${step.id}`);
          await writer.update(() => {
            js.state = 'failed';
            js.endedAt = new Date().toISOString();
            js.error = { code: e.code, message: e.message };
          });
          emit({ step: step.id, state: 'failed', message: e.message });
          throw e;
        }
        await writer.update(() => {
          js.state = 'done';
          js.endedAt = new Date().toISOString();
        });
        emit({ step: step.id, state: 'done', message: step.description });
        await ctx.deps.afterStep?.(step.id);
      };
      const first = group.filter((s) => s !== last).map(runOne);
      const results = last
        ? [...(await Promise.allSettled(first)), ...(await Promise.allSettled([runOne(last)]))]
        : await Promise.allSettled(first);
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
      releaseScratch();
    }
  } catch (err) {
    await scratchGone;
    probe?.close();
    if (err instanceof SimulatedCrash) throw err;
    await writer.update((j) => (j.status = 'failed')).catch(() => {});
    await removeCopies(writer, ctx);
    throw failure(writer.journal, writer.file, err);
  }
  await scratchGone;
  probe?.close();
  await writer.update((j) => (j.status = 'done'));
  await removeCopies(writer, ctx);
  return { ok: true, journalFile: writer.file, plan, verification: writer.journal.verification!, skipped };
}

/**
 * Of a group of stop steps still to run, the one whose member leads the running cluster: it is stopped
 * after the others. etcd stopped with SIGTERM hands its leadership to a connected peer first, and waits up
 * to its request timeout (5 s + 2 election timeouts: 9 s with a 2 s election timeout) for that peer to take
 * over; when the peers are stopping too, it waits the whole time. A leader stopped last has no peer left to
 * hand over to, and stops at once. Asked of each member's client URL, 2 s at most; when no member
 * answers, or none leads, every stop runs at once as before.
 */
async function stopLast(
  group: PlanStep[],
  writer: JournalWriter,
  ctx: Ctx,
  getProbe: () => ClusterProbe,
): Promise<PlanStep | undefined> {
  const pending = group.filter((s) => s.kind === 'stop' && writer.step(s.id).state !== 'done');
  if (pending.length < 2 || pending.length !== group.length) return undefined;
  // each member's answer on its own, under one shared cap: a member that hangs does not hide the others'
  const cap = new Promise<null>((resolve) => setTimeout(resolve, 2000, null).unref());
  const answers = await Promise.all(
    pending.map((s) =>
      Promise.race([
        getProbe()
          .status(ctx.member(s.member!).clientURLs[0]!)
          .then((st) => ({ step: s, st }))
          .catch(() => null),
        cap,
      ]),
    ),
  );
  const leader = answers.find((a) => a !== null && a.st.leaderId !== 0n && a.st.leaderId === a.st.memberId);
  if (leader) ctx.log.info({ member: leader.step.member }, 'restore: stopping the leader after the others');
  return leader?.step;
}

/**
 * When a restore ends, success or failure: every copy of the snapshot dr made is removed: the uploaded
 * copies the journal still lists (a resume removes those of the run it continues), and dr's scratch dir.
 * The operator's own file stays. A failed run's resume fetches the backup again (pass the storage).
 */
async function removeCopies(writer: JournalWriter, ctx: Ctx): Promise<void> {
  const warn = (file: string) => (err: unknown) =>
    ctx.log.warn({ file, err: String(err) }, 'could not remove a copy of the snapshot');
  for (const js of writer.journal.steps) {
    const uploaded = js.detail?.uploaded;
    if (typeof uploaded !== 'string' || !js.id.startsWith('restore:')) continue;
    const host = ctx.hostFor(ctx.member(js.id.slice('restore:'.length)));
    await removeUpload(writer, js.id, host).catch(warn(uploaded));
  }
  await removeScratch(writer, ctx);
}

/** dr's own scratch copy of the snapshot, if it made one (the operator's own file stays) */
async function removeScratch(writer: JournalWriter, ctx: Ctx): Promise<void> {
  const j = writer.journal;
  if (!j.snapshotIsScratch) return;
  // a private dir dr made (.dr-restore-<id>-XXXXXX), or, in journals from before it, the file alone
  const dir = path.dirname(j.snapshotFile);
  const mine = path.basename(dir).startsWith(`.dr-restore-${j.manifest.id}-`);
  await rm(mine ? dir : j.snapshotFile, { recursive: mine, force: true }).catch((err: unknown) =>
    ctx.log.warn({ file: j.snapshotFile, err: String(err) }, 'could not remove a copy of the snapshot'),
  );
}

/** What differs between the reviewed plan and the plan the facts give now ([]: nothing). */
export function planDrift(reviewed: RestorePlan, now: RestorePlan): string[] {
  const out: string[] = [];
  reviewed.newCluster.members.forEach((r, i) => {
    const n = now.newCluster.members[i];
    if (!n || n.name !== r.name) return void out.push(`member ${r.name} is not in the plan made now`);
    const tool = (t: typeof r.tool) => (t ? `${t.kind} ${t.version}` : 'none');
    if (tool(r.tool) !== tool(n.tool))
      out.push(`member ${r.name}: restore tool ${tool(r.tool)} in the plan, ${tool(n.tool)} now`);
    if (r.owner !== n.owner || r.walOwner !== n.walOwner)
      out.push(`member ${r.name}: owner ${r.owner} in the plan, ${n.owner} now`);
  });
  const ids = (p: RestorePlan) => p.steps.map((s) => s.id).join(',');
  if (ids(reviewed) !== ids(now)) out.push(`steps ${ids(reviewed)} in the plan, ${ids(now)} now`);
  else
    reviewed.steps.forEach((s, i) => {
      const c = now.steps[i]!.commands;
      if (JSON.stringify(s.commands) !== JSON.stringify(c))
        out.push(`step ${s.id}: "${s.commands.join(' && ')}" in the plan, "${c.join(' && ')}" now`);
    });
  return out;
}

/** Thrown by a test's afterStep hook to stop the executor dead, journal untouched, as a crash would. */
export class SimulatedCrash extends Error {
  constructor() {
    super('simulated crash');
  }
}
