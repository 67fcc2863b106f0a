/** The waits after the members are started: a quorum with one leader, then every member caught up. */
import { DrError } from '../core/errors.js';
import type { Ctx } from './execute-context.js';
import type { TargetMember } from './members-file.js';
import type { ClusterProbe } from './probe.js';

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
  );
}
