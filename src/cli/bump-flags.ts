/**
 * `--bump-revision N --mark-compacted`, as `dr restore` and `dr drill` take them: etcd's restore tool starts
 * the store N revisions above the backup and compacts it there, so that Kubernetes watchers relist.
 */
import type { Command } from 'commander';
import { DrError } from '../core/errors.js';

export interface BumpFlags {
  bumpRevision?: string;
  markCompacted?: boolean;
}

export function addBumpOptions(cmd: Command): Command {
  return cmd
    .option(
      '--bump-revision <n>',
      'start the restored store n revisions above the backup (Kubernetes: 1000000000), with --mark-compacted',
    )
    .option(
      '--mark-compacted',
      'mark the bumped revision compacted, so that watchers from before it relist (with --bump-revision)',
    );
}

/** Both or neither (etcd's restore tool takes one only with the other); N a positive integer. */
export function bumpOf(command: string, o: BumpFlags): number | undefined {
  if (o.bumpRevision === undefined && !o.markCompacted) return undefined;
  if (o.bumpRevision === undefined || !o.markCompacted)
    throw new DrError(
      'USAGE',
      `${command}: --bump-revision N and --mark-compacted go together (etcd compacts at the bumped revision so that watchers relist; e.g. --bump-revision 1000000000 --mark-compacted)`,
    );
  const n = Number(o.bumpRevision);
  if (!/^\d+$/.test(o.bumpRevision) || !Number.isSafeInteger(n) || n <= 0)
    throw new DrError('USAGE', `${command}: --bump-revision "${o.bumpRevision}" is not a positive integer`);
  return n;
}
