/** The restore plan for people: what `dr restore --dry-run` prints without --json. */
import type { RestorePlan } from './plan.js';

export function renderPlan(plan: RestorePlan): string {
  const b = plan.backup;
  const n = plan.newCluster;
  const out: string[] = [];
  out.push(`Restore plan (${plan.createdAt})`);
  out.push('');
  out.push(`Backup     ${b.id} of cluster ${b.clusterName}`);
  out.push(
    `           revision ${b.revision}, ${b.totalKeys} bbolt entries, ${b.size} bytes, taken ${b.createdAt} (${age(b.ageSeconds)} ago)`,
  );
  out.push(`           sha256 ${b.sha256}, etcd ${b.etcdVersion}, old cluster ID ${b.oldClusterId}`);
  out.push(`New        token ${n.token}`);
  out.push(`           cluster ID ${n.clusterId}; quorum ${n.quorum} of ${n.members.length}`);
  for (const m of n.members) {
    out.push(
      `           ${m.name.padEnd(12)} member ID ${m.memberId.padEnd(16)} ${m.peerURLs.join(',')}  ${m.dataDir}  (${m.control}${m.tool ? `, ${m.tool.kind} ${m.tool.version}` : ''})`,
    );
  }
  if (plan.bump) {
    out.push(
      `Bump       revision +${plan.bump.revision} (--bump-revision ${plan.bump.revision} --mark-compacted): ${plan.bump.why}`,
    );
  }
  out.push('');
  out.push('Steps');
  plan.steps.forEach((s, i) => {
    out.push(`  ${String(i + 1).padStart(2)}. ${s.description}${s.parallelGroup ? '   [in parallel]' : ''}`);
    for (const c of s.commands) out.push(`        $ ${c}`);
    out.push(`        rollback: ${s.rollback}`);
  });
  out.push('');
  out.push('Checks after the restore');
  for (const c of plan.checks) out.push(`  - ${c}`);
  if (plan.warnings.length) {
    out.push('');
    out.push('Warnings');
    for (const w of plan.warnings) out.push(`  ! ${w}`);
  }
  out.push('');
  if (plan.refusals.length) {
    out.push('REFUSED: nothing will be changed until these are fixed');
    for (const r of plan.refusals) out.push(`  x [${r.code}] ${r.message}`);
  } else {
    out.push('Ready: run again with --yes to execute.');
  }
  return out.join('\n') + '\n';
}

function age(s: number): string {
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} d`;
}
