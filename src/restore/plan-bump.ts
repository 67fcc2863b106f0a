/**
 * `--bump-revision N --mark-compacted`, for Kubernetes (and anything else that watches etcd).
 *
 * A restored cluster goes back to the backup's revision. Kubernetes' API servers, informers and watch caches
 * hold resourceVersions (etcd revisions) from the lost cluster that may be newer than the backup; after a
 * plain restore the new cluster hands out those revision numbers again for different data, and a cache keeps
 * serving what it had. With the store's revision bumped by N and marked compacted there, every watch and
 * list from an older resourceVersion gets "too old resource version" (410 Gone): clients relist and
 * rebuild their caches from the restored data. etcd maintainers suggest N >= 1,000,000,000 (OpenShift uses
 * 1e9 or 1.2 x the last raft index): N must exceed every revision the lost cluster wrote after the backup.
 *
 * etcdutl 3.5.10+ (and etcdctl 3.4.28+) know the flags; a member whose tool does not is a refusal, never a
 * silent restore without the bump.
 */
import type { MembersFile } from '../config/members-file.js';
import type { PlanInput, PlannedBump, Refusal } from './plan-types.js';

/** What etcd maintainers suggest as the smallest bump when nothing better is known. */
export const SUGGESTED_BUMP = 1_000_000_000;

export function planBump(
  input: Pick<PlanInput, 'backup' | 'facts' | 'bumpRevision'>,
  target: MembersFile,
  refusals: Refusal[],
  warnings: string[],
): PlannedBump | null {
  const n = input.bumpRevision;
  if (n === undefined) return null;
  const from = BigInt(input.backup.snapshot.revision);
  const to = from + BigInt(n);
  for (const m of target.members) {
    const tool = input.facts.members[m.name]?.tool;
    if (tool && !tool.supportsBumpRevision) {
      refusals.push({
        code: 'BUMP_UNSUPPORTED',
        member: m.name,
        message:
          `member "${m.name}": ${tool.kind} ${tool.version} cannot --bump-revision/--mark-compacted ` +
          '(etcdutl 3.5.10+ or etcdctl 3.4.28+ can): install one and point binaries.etcdutl at it, ' +
          'or restore without the bump',
        forceable: false,
      });
    }
  }
  if (n < SUGGESTED_BUMP) {
    warnings.push(
      `--bump-revision ${n} is below the ${SUGGESTED_BUMP} etcd maintainers suggest: it must exceed every revision the lost cluster wrote after the backup, or clients may keep caches from after revision ${from}`,
    );
  }
  return {
    revision: n,
    markCompacted: true,
    fromRevision: from.toString(),
    toRevision: to.toString(),
    why:
      `the store starts at revision ${to} (backup ${from} + ${n}), compacted there, so that Kubernetes ` +
      'informers and watch caches holding newer resourceVersions of the lost cluster get "too old resource ' +
      'version" and relist instead of serving stale objects',
  };
}
