/** The planner's refusals about one member's directories: what may be moved aside, and what stops the plan. */
import type { DirFact } from './dir-facts.js';
import type { TargetMember } from '../config/members-file.js';
import type { Refusal } from './plan-types.js';

export function asideFor(
  m: TargetMember,
  kind: 'data' | 'wal',
  f: DirFact,
  stamp: string,
  refusals: Refusal[],
): string | null {
  const what = kind === 'data' ? 'data dir' : 'WAL dir';
  const dir = kind === 'data' ? m.dataDir : m.walDir!;
  switch (f.state) {
    case 'missing':
      return null;
    case 'not-a-directory':
      refusals.push({
        code: 'DATA_DIR_NOT_A_DIRECTORY',
        member: m.name,
        message: `member "${m.name}": ${what} ${dir} exists and is not a directory`,
        forceable: false,
      });
      return null;
    case 'empty':
    case 'non-empty':
      if (f.mountPoint) {
        // rename(2) cannot move a mount point, and etcdctl 3.4 wants the data dir absent
        refusals.push({
          code: 'DATA_DIR_MOUNT_POINT',
          member: m.name,
          message: `member "${m.name}": ${what} ${dir} is a mount point; point ${kind === 'data' ? 'dataDir' : 'walDir'} at a directory inside it`,
          forceable: false,
        });
        return null;
      }
      if (f.state === 'empty') return null;
      if (!f.looksLikeEtcd) {
        refusals.push({
          code: 'DATA_DIR_NOT_ETCD',
          member: m.name,
          message: `member "${m.name}": ${what} ${dir} is not empty and holds more than etcd's files (${f.entries.join(', ')}); dr will not move it aside: check the path`,
          forceable: false,
        });
        return null;
      }
      return `${dir}.dr-aside-${stamp}`;
  }
}

export function mib(n: number): string {
  return `${Math.round(n / (1024 * 1024))} MiB`;
}
