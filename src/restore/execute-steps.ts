/** What each kind of plan step does when it runs (each idempotent: a resume redoes it). */
import { chmod, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { DrError } from '../core/errors.js';
import { fetchSnapshot } from '../pipeline/fetch.js';
import type { Ctx, SnapshotSource } from './execute-context.js';
import { localHost, type MemberHost } from './host.js';
import { inUseFacts, processesNaming } from './in-use.js';
import { inUseProblems } from './in-use-problems.js';
import type { Journal, JournalWriter } from './journal.js';
import { offlineHashInWorker } from './offline-hash.js';
import { compactTimestamp, type PlanStep } from './plan.js';
import type { ClusterProbe } from './probe.js';
import { assertSnapshotIntact, sha256File } from './snapshot-check.js';
import { restoreArgv } from './restore-argv.js';
import { findRestoreTool, RESTORE_TOOL_ENV } from './tool.js';
import { verifyRestore } from './verify.js';
import { waitAll, waitQuorum } from './waits.js';

export async function runStep(
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
          // a bumped store answers at the bumped revision, compacted there: the backup's own HashKV
          // (at the backup's revision) cannot be asked for, so the members are compared with each other
          revision: j.plan.bump ? BigInt(j.plan.bump.toRevision) : BigInt(j.plan.backup.revision),
          liveKeys: j.manifest.snapshot.liveKeys ?? undefined,
          totalKeys: j.manifest.snapshot.totalKeys,
          offlineHash: j.plan.bump ? undefined : j.offlineHashKV?.hash,
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
  // dr's private scratch dir (mkdtemp, 0700), made again on a resume after it was removed
  await mkdir(path.dirname(j.snapshotFile), { recursive: true, mode: 0o700 });
  // a scratch copy: a crash before the restores re-hashes it on resume, and etcd's restore checks its trailer
  await fetchSnapshot(source.backend, j.manifest, j.snapshotFile, {
    signal,
    durable: false,
    identities: source.identities,
  });
  await chmod(j.snapshotFile, 0o600);
}

/**
 * Waits until no process on the host names one of the staging dirs on its command line (an earlier,
 * killed run's restore tool still writing there); RESTORE_REFUSED naming it when it is still there after
 * the wait (default 300 s).
 */
async function waitForWriters(ctx: Ctx, host: MemberHost, staging: string[]): Promise<void> {
  const timeoutMs = ctx.deps.timeouts?.writersMs ?? 300_000;
  const deadline = Date.now() + timeoutMs;
  let told = false;
  for (;;) {
    const ps = await processesNaming(host, staging, ctx.deps.signal);
    if (ps.length === 0) return;
    const who = ps.map((p) => `pid ${p.pid} (${p.command.slice(0, 300)})`).join(', ');
    if (Date.now() >= deadline)
      throw new DrError(
        'RESTORE_REFUSED',
        `restore: ${who} on ${host.label} still runs on ${staging.join(' and ')} after ${Math.round(timeoutMs / 1000)} s (a restore tool of an earlier run that was killed?); stop it, then run dr restore --resume again`,
        { processes: ps },
      );
    if (!told)
      ctx.log.warn(
        { processes: ps, staging },
        'restore: waiting for a process that still runs on the staging dir (a restore tool of an earlier run that was killed?)',
      );
    told = true;
    await new Promise((r) => setTimeout(r, 250));
    ctx.deps.signal?.throwIfAborted();
  }
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
    // a run killed mid-step (SIGKILL, OOM) leaves its restore tool running: it is waited for, so that it
    // does not write into the staging dir this run is about to clear and write
    await waitForWriters(
      ctx,
      host,
      renames.map(([s]) => s),
    );
    // the member was stopped: nothing may hold its ports or its dirs now (a manual member's operator, a
    // unit that restarted, another etcd on the same dir)
    const problems = inUseProblems(m, await inUseFacts(m, host, ctx.deps.signal), false);
    if (problems.length > 0)
      throw new DrError(
        'RESTORE_REFUSED',
        `restore: ${problems.join('; ')}; stop it before ${m.name}'s data dir is written`,
        { member: m.name, problems },
      );
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
        // the same refusal as at plan time: a tool older than the etcd that wrote the backup never runs
        backupVersion: ctx.plan.backup.etcdVersion,
      });
      ctx.tools.set(host, tools);
    }
    const tool = await tools;
    const snapshot = await host.upload(writer.journal.snapshotFile, ctx.deps.signal);
    // an uploaded copy is journaled at once, so that this run's end, or a resume's, removes it
    if (host.remote) await writer.update(() => (js.detail = { ...js.detail, uploaded: snapshot }));
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
      bumpRevision: typeof step.params.bumpRevision === 'number' ? step.params.bumpRevision : undefined,
    });
    const r = await host
      .run(argv, { signal: ctx.deps.signal, env: RESTORE_TOOL_ENV })
      .finally(() => (host.remote ? removeUpload(writer, step.id, host) : undefined));
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
  // the owner and mode of the dirs they replace (or owner:), 0700 as etcd expects; absent in journals
  // from before the parameter: dr's user, 0700
  const owners = (step.params.owners as (string | null)[] | undefined) ?? [];
  for (const [i, [s, f]] of renames.entries()) {
    if (!(await host.exists(s))) continue;
    await host.setOwner(s, owners[i] ?? null, 0o700);
    await host.rename(s, f);
  }
}

/** Removes a member's uploaded snapshot copy and clears it from the journal. */
export async function removeUpload(writer: JournalWriter, stepId: string, host: MemberHost): Promise<void> {
  const js = writer.step(stepId);
  const uploaded = js.detail?.uploaded;
  if (typeof uploaded !== 'string') return;
  await host.removeOwnTree(uploaded);
  await writer.update(() => {
    const { uploaded: _, ...rest } = js.detail ?? {};
    js.detail = { ...rest, uploadRemoved: uploaded };
  });
}
