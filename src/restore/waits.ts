/** The waits after the members are started: a quorum with one leader, then every member caught up. */
import { DrError } from '../core/errors.js';
import type { Ctx } from './execute-context.js';
import type { TargetMember } from '../config/members-file.js';
import type { ClusterProbe } from './probe.js';

/**
 * Throws at once when a started member has died (its process exited, its unit failed): naming it, its
 * exit status, where its log is and how the log ends. Waiting out the timeout would only hide that.
 */
export async function assertNoneDied(ctx: Ctx, members: TargetMember[]): Promise<void> {
  const deaths = await Promise.all(
    members.map(async (m) => {
      const d = await ctx
        .controlFor(m)
        .died?.(ctx.deps.signal)
        .catch(() => null);
      return d ? { member: m.name, ...d } : null;
    }),
  );
  const dead = deaths.filter((d) => d !== null);
  if (dead.length === 0) return;
  throw new DrError(
    'ETCD_REQUEST_FAILED',
    `restore: ${dead
      .map(
        (d) =>
          `member ${d.member} ${d.status} after it was started; its log (${d.log}) ends with:\n${
            d.tail ? d.tail.replace(/^/gm, '    ') : '    (empty)'
          }`,
      )
      .join('\n')}`,
    { dead },
  );
}

async function poll<T>(
  what: string,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  attempt: () => Promise<T | null>,
  check?: () => Promise<void>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (let polls = 1; ; polls++) {
    signal?.throwIfAborted();
    await check?.();
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
    // a restored member is usually up within a few seconds: look often then (a wait is part of the RTO),
    // then every 300 ms (each look asks every member and each control whether its member died)
    await new Promise((r) => setTimeout(r, polls <= 30 ? 100 : 300));
  }
}

export async function waitQuorum(ctx: Ctx, probe: ClusterProbe, started: TargetMember[]): Promise<void> {
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
    () => assertNoneDied(ctx, started),
  );
}

export async function waitAll(ctx: Ctx, probe: ClusterProbe): Promise<void> {
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
    () => assertNoneDied(ctx, members),
  );
}
