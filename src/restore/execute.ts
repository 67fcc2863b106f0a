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
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { systemClock, type Clock } from '../core/clock.js';
import { DrError, toDrError } from '../core/errors.js';
import { silentLogger, type Logger } from '../core/logger.js';
import type { Manifest } from '../manifest/manifest.js';
import { fetchSnapshot } from '../pipeline/fetch.js';
import type { Backend } from '../storage/backend.js';
import type { MemberControl, Prompt } from './control/types.js';
import { gatherFacts } from './facts.js';
import { localHost, type MemberHost } from './host.js';
import { memberAccess } from './access.js';
import { offlineHashInWorker } from './offline-hash.js';
import { newJournal, readJournal, JournalWriter, type Journal } from './journal.js';
import type { TargetMember } from './members-file.js';
import { compactTimestamp, planRestore, type PlanStep, type RestorePlan } from './plan.js';
import { clientTlsFor, createProbe, type ClusterProbe, type ClientTls } from './probe.js';
import { findRestoreTool, restoreArgv, RESTORE_TOOL_ENV, type RestoreTool } from './tool.js';
import { verifyRestore, type VerifyReport } from './verify.js';

/** Where the backup comes from: a stored backup (fetched and verified once) or a plain snapshot file. */
export type SnapshotSource = { backend: Backend } | { file: string };

export interface RestoreEvent {
  step: string;
  state: 'running' | 'done' | 'failed' | 'skipped';
  message: string;
}

export interface ExecuteDeps {
  /** asked by `manual` members; the CLI reads a line from stdin */
  prompt?: Prompt;
  logger?: Logger;
  clock?: Clock;
  signal?: AbortSignal;
  onEvent?: (e: RestoreEvent) => void;
  /** @default { quorumMs: 120000, allMs: 300000 } */
  timeouts?: { quorumMs?: number; allMs?: number };
  /** overrides for tests */
  probeFactory?: (endpoints: string[], tls: ClientTls | undefined) => ClusterProbe;
  hostFor?: (m: TargetMember) => MemberHost;
  /** called after a step is journaled done; a throw here behaves like dr dying at that point */
  afterStep?: (stepId: string) => void | Promise<void>;
}

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
    hostFor: ctx.hostFor,
    controlFor: ctx.controlFor,
    tls: ctx.tls,
    signal: opts.signal,
  });
  const again = planRestore({
    backup: opts.manifest,
    target: plan.target,
    token: plan.newCluster.token,
    now: new Date(plan.createdAt),
    facts,
    force: plan.force,
    snapshotFile: plan.snapshotFile,
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

  const snapshotFile =
    'file' in opts.source
      ? path.resolve(opts.source.file)
      : path.join(opts.workDir ?? path.dirname(path.resolve(opts.journalFile)), `${plan.backup.id}.db`);
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

interface Ctx {
  plan: RestorePlan;
  manifest: Manifest;
  log: Logger;
  deps: ExecuteDeps;
  tls: ClientTls | undefined;
  hostFor(m: TargetMember): MemberHost;
  controlFor(m: TargetMember): MemberControl;
  member(name: string): TargetMember;
  tools: Map<MemberHost, Promise<RestoreTool>>;
  /**
   * The snapshot file was checked against the manifest by this process (the fetch step ran in this run,
   * not in an earlier one before a crash that may have lost unsynced pages of the scratch copy).
   */
  snapshotChecked: boolean;
}

function context(plan: RestorePlan, opts: ExecuteDeps & { manifest: Manifest }): Ctx {
  const target = plan.target;
  const access = memberAccess(target, {
    token: plan.newCluster.token,
    initialCluster: plan.newCluster.initialCluster,
    prompt: opts.prompt,
    hostFor: opts.hostFor,
  });
  return {
    plan,
    manifest: opts.manifest,
    log: (opts.logger ?? silentLogger).child({ component: 'restore' }),
    deps: opts,
    tls: clientTlsFor(target),
    ...access,
    member: (name) => target.members.find((m) => m.name === name)!,
    tools: new Map(),
    snapshotChecked: false,
  };
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
      ((e, tls) => createProbe({ endpoints: e, tls, etcdctl: plan.target.binaries.etcdctl }))
    )(
      plan.newCluster.members.map((m) => m.clientURLs[0]!),
      ctx.tls,
    ));

  try {
    for (const group of groups) {
      const results = await Promise.allSettled(
        group.map(async (step) => {
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
        }),
      );
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    }
  } catch (err) {
    probe?.close();
    if (err instanceof SimulatedCrash) throw err;
    await writer.update((j) => (j.status = 'failed')).catch(() => {});
    throw failure(writer.journal, writer.file, err);
  }
  probe?.close();
  await writer.update((j) => (j.status = 'done'));
  // the scratch copy has served (the journal keeps the backup's id and sha256); the operator's own file stays
  if (writer.journal.snapshotIsScratch) {
    await rm(writer.journal.snapshotFile, { force: true }).catch((err: unknown) =>
      ctx.log.warn(
        { file: writer.journal.snapshotFile, err: String(err) },
        'could not remove the scratch snapshot',
      ),
    );
  }
  return { ok: true, journalFile: writer.file, plan, verification: writer.journal.verification!, skipped };
}

/** Thrown by a test's afterStep hook to stop the executor dead, journal untouched, as a crash would. */
export class SimulatedCrash extends Error {
  constructor() {
    super('simulated crash');
  }
}

async function runStep(
  step: PlanStep,
  ctx: Ctx,
  writer: JournalWriter,
  source: SnapshotSource | undefined,
  getProbe: () => ClusterProbe,
): Promise<void> {
  const signal = ctx.deps.signal;
  const j = writer.journal;
  switch (step.kind) {
    case 'fetch':
      await fetchStep(j, source, signal);
      ctx.snapshotChecked = true;
      return;
    case 'stop':
      return ctx.controlFor(ctx.member(step.member!)).stop(signal);
    case 'start':
      return ctx.controlFor(ctx.member(step.member!)).start(signal);
    case 'move-aside': {
      const host = ctx.hostFor(ctx.member(step.member!));
      for (const [from, to] of step.params.moves as [string, string][]) {
        const [hasFrom, hasTo] = await Promise.all([host.exists(from), host.exists(to)]);
        if (hasTo && !hasFrom) continue; // moved by an earlier run
        if (hasTo)
          throw new DrError(
            'CONFIG_INVALID',
            `restore: both ${from} and ${to} exist; move one of them away by hand`,
          );
        if (!hasFrom)
          throw new DrError('CONFIG_INVALID', `restore: ${from} disappeared before it could be moved aside`);
        await host.rename(from, to);
      }
      return;
    }
    case 'restore':
      return restoreStep(step, ctx, writer);
    case 'hash-offline': {
      // a resumed run did not check the (unsynced) scratch copy itself: a torn file would give a wrong
      // expected hash, so it is checked against the manifest first
      if (!ctx.snapshotChecked) await assertSnapshotIntact(j.snapshotFile, j.manifest, signal);
      const r = await offlineHashInWorker(j.snapshotFile, BigInt(j.plan.backup.revision));
      await writer.update((x) => (x.offlineHashKV = { hash: r.hash, revision: r.revision.toString() }));
      return;
    }
    case 'wait-quorum':
      return waitQuorum(
        ctx,
        getProbe(),
        (step.params.members as string[]).map((n) => ctx.member(n)),
      );
    case 'wait-all':
      return waitAll(ctx, getProbe());
    case 'verify': {
      const report = await verifyRestore(
        getProbe(),
        {
          members: j.plan.newCluster.members.map((m) => ({
            name: m.name,
            memberId: m.memberId,
            clientURL: m.clientURLs[0]!,
          })),
          clusterId: j.plan.newCluster.clusterId,
          oldClusterId: j.plan.backup.oldClusterId,
          revision: BigInt(j.plan.backup.revision),
          liveKeys: j.manifest.snapshot.liveKeys ?? undefined,
          totalKeys: j.manifest.snapshot.totalKeys,
          offlineHash: j.offlineHashKV?.hash,
        },
        signal,
      );
      await writer.update((x) => (x.verification = report));
      if (!report.ok) {
        const bad = report.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.message}`);
        throw new DrError(
          'VERIFY_FAILED',
          `restore: the new cluster failed verification: ${bad.join('; ')}`,
          { checks: report.checks },
        );
      }
      return;
    }
  }
}

async function sha256File(file: string, signal?: AbortSignal): Promise<string> {
  const h = createHash('sha256');
  await pipeline(createReadStream(file), h, { signal });
  return h.digest('hex');
}

/** The snapshot file still has the manifest's sha256 (a resumed run re-checks the unsynced scratch copy). */
export async function assertSnapshotIntact(
  file: string,
  manifest: Manifest,
  signal?: AbortSignal,
): Promise<void> {
  const have = await sha256File(file, signal).catch(() => null);
  if (have !== manifest.snapshot.sha256) {
    throw new DrError(
      'VERIFY_FAILED',
      `restore: snapshot ${file} ${have === null ? 'is missing' : `has sha256 ${have}`}, the backup ${manifest.id} says ${manifest.snapshot.sha256}; remove it and resume with the storage to fetch it again`,
      { check: 'snapshot-sha256' },
    );
  }
}

async function fetchStep(
  j: Journal,
  source: SnapshotSource | undefined,
  signal?: AbortSignal,
): Promise<void> {
  const want = j.manifest.snapshot.sha256;
  const have = await sha256File(j.snapshotFile, signal).catch(() => null);
  if (have === want) return;
  if (have !== null && source && 'file' in source) {
    throw new DrError(
      'VERIFY_FAILED',
      `restore: snapshot ${j.snapshotFile} has sha256 ${have}, the backup ${j.manifest.id} says ${want}`,
      {
        check: 'snapshot-sha256',
      },
    );
  }
  if (!source || !('backend' in source)) {
    throw new DrError(
      have === null ? 'USAGE' : 'VERIFY_FAILED',
      have === null
        ? `restore: snapshot ${j.snapshotFile} is missing; pass the storage to fetch backup ${j.manifest.id} again`
        : `restore: snapshot ${j.snapshotFile} has sha256 ${have}, the backup ${j.manifest.id} says ${want}`,
    );
  }
  if (have !== null) await localHost.removeOwnTree(j.snapshotFile); // our own earlier, bad fetch
  await mkdir(path.dirname(j.snapshotFile), { recursive: true });
  // a scratch copy: a crash before the restores re-hashes it on resume, and etcd's restore checks its trailer
  await fetchSnapshot(source.backend, j.manifest, j.snapshotFile, { signal, durable: false });
}

async function restoreStep(step: PlanStep, ctx: Ctx, writer: JournalWriter): Promise<void> {
  const m = ctx.member(step.member!);
  const host = ctx.hostFor(m);
  const js = writer.step(step.id);
  const renames = step.params.renames as [string, string][];
  const state = await Promise.all(
    renames.map(async ([s, f]) => ({ s, f, hasS: await host.exists(s), hasF: await host.exists(f) })),
  );
  if (state.every((x) => x.hasF && !x.hasS)) return; // complete
  const toolDone = js.detail?.toolDone === true;
  const renamesOnly = toolDone && state.every((x) => x.hasF !== x.hasS);
  if (!renamesOnly) {
    // a half-done attempt: its output is ours but is kept aside (dr deletes nothing a member ran on)
    for (const x of state) {
      if (x.hasF) await host.rename(x.f, `${x.f}.dr-partial-${compactTimestamp(new Date())}`);
      if (x.hasS) await host.removeOwnTree(x.s);
    }
    let tools = ctx.tools.get(host);
    if (!tools) {
      tools = findRestoreTool({
        host,
        etcdutl: ctx.plan.target.binaries.etcdutl,
        etcdctl: ctx.plan.target.binaries.etcdctl,
        signal: ctx.deps.signal,
      });
      ctx.tools.set(host, tools);
    }
    const tool = await tools;
    const snapshot = await host.upload(writer.journal.snapshotFile, ctx.deps.signal);
    const p = ctx.plan.newCluster.members.find((x) => x.name === m.name)!;
    // the plan allows it (not for an uploaded copy; absent in journals from before the parameter), and
    // this run checked the file itself
    const skipHashCheck = step.params.skipHashCheck === true && ctx.snapshotChecked;
    const argv = restoreArgv(tool, {
      skipHashCheck,
      snapshotFile: snapshot,
      name: m.name,
      initialCluster: ctx.plan.newCluster.initialCluster,
      token: ctx.plan.newCluster.token,
      peerURLs: p.peerURLs,
      dataDir: renames[0]![0],
      walDir: renames[1]?.[0],
    });
    const r = await host.run(argv, { signal: ctx.deps.signal, env: RESTORE_TOOL_ENV });
    if (r.code !== 0) {
      throw new DrError(
        'ETCD_REQUEST_FAILED',
        `restore: ${tool.kind} snapshot restore for ${m.name} failed (exit ${r.code}): ${(r.stderr || r.stdout).trim().slice(-2000)}`,
      );
    }
    await writer.update(
      () =>
        (js.detail = {
          ...js.detail,
          toolDone: true,
          tool: `${tool.kind} ${tool.version}`,
          // who checked the snapshot's sha256 right before this member's restore
          snapshotCheckedBy: skipHashCheck ? 'dr (fetch step, this run)' : tool.kind,
        }),
    );
  }
  for (const [s, f] of renames) {
    if (await host.exists(s)) await host.rename(s, f);
  }
}

async function poll<T>(
  what: string,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  attempt: () => Promise<T | null>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    signal?.throwIfAborted();
    try {
      const v = await attempt();
      if (v !== null) return v;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) {
      throw new DrError(
        'ETCD_UNREACHABLE',
        `restore: ${what} within ${timeoutMs} ms${last ? ` (${last})` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, 300));
  }
}

async function waitQuorum(ctx: Ctx, probe: ClusterProbe, started: TargetMember[]): Promise<void> {
  const need = ctx.plan.newCluster.quorum;
  await poll(
    `no leader among ${started.map((m) => m.name).join(', ')}`,
    ctx.deps.timeouts?.quorumMs ?? 120_000,
    ctx.deps.signal,
    async () => {
      const st = await Promise.all(started.map((m) => probe.status(m.clientURLs[0]!).catch(() => null)));
      const withLeader = st.filter((s) => s && s.leaderId !== 0n);
      const leaders = new Set(withLeader.map((s) => s!.leaderId));
      return withLeader.length >= need && leaders.size === 1 ? true : null;
    },
  );
}

async function waitAll(ctx: Ctx, probe: ClusterProbe): Promise<void> {
  const members = ctx.plan.target.members;
  let target: bigint | null = null;
  await poll(
    'not every member joined and caught up',
    ctx.deps.timeouts?.allMs ?? 300_000,
    ctx.deps.signal,
    async () => {
      const st = await Promise.all(members.map((m) => probe.status(m.clientURLs[0]!)));
      const leaderId = st[0]!.leaderId;
      if (leaderId === 0n || st.some((s) => s.leaderId !== leaderId)) return null;
      const leader = st.find((s) => s.memberId === leaderId);
      if (!leader) return null;
      // caught up: everyone has applied what the leader had committed when we first looked
      target ??= leader.raftIndex;
      if (st.some((s) => s.raftAppliedIndex < target!)) return null;
      const list = await probe.memberList();
      return list.length === members.length && list.every((x) => x.name !== '') ? true : null;
    },
  );
}

function refused(plan: RestorePlan, why: string): DrError {
  return new DrError(
    'RESTORE_REFUSED',
    `restore refused (${why}): ${plan.refusals.map((r) => r.message).join('; ')}`,
    {
      refusals: plan.refusals,
    },
  );
}

/** The report of a failed restore: what was done, what was not, how to roll back (newest first). */
export interface RestoreFailureReport {
  journalFile: string;
  failedStep: string | null;
  done: string[];
  notDone: string[];
  rollback: { step: string; how: string }[];
  resume: string;
}

function failure(j: Journal, file: string, err: unknown): DrError {
  const e = toDrError(err, 'INTERNAL', 'restore');
  const byId = new Map(j.plan.steps.map((s) => [s.id, s]));
  const done = j.steps.filter((s) => s.state === 'done').map((s) => s.id);
  const failedStep = j.steps.find((s) => s.state === 'failed' || s.state === 'running')?.id ?? null;
  const report: RestoreFailureReport = {
    journalFile: file,
    failedStep,
    done,
    notDone: j.steps.filter((s) => s.state !== 'done').map((s) => s.id),
    rollback: j.steps
      .filter((s) => s.state !== 'pending')
      .reverse()
      .map((s) => ({ step: s.id, how: byId.get(s.id)!.rollback })),
    resume: `dr restore --resume ${file}`,
  };
  return new DrError(
    e.code,
    `${e.message}\nrestore stopped${failedStep ? ` at step ${failedStep}` : ''}: done ${done.length}/${j.steps.length} steps; ` +
      `fix the cause and run "${report.resume}", or roll back (see the journal and the runbook).`,
    { ...e.details, ...report },
    { cause: err },
  );
}
