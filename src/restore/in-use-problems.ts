/**
 * What already uses a member's ports or dirs, as facts (gathered by in-use.ts on the member's host), and
 * which of them stop a restore. Pure, apart from the gathering, so that the planner decides its refusals
 * from facts without reaching sockets or /proc.
 */
import type { TargetMember } from '../config/members-file.js';

export interface InUseFacts {
  /** ports of the member's URLs that something listens on, with the pids holding them ([]: not visible) */
  ports: { port: number; url: string; pids: number[] }[];
  /** processes with a file open under the data or WAL dir */
  dirPids: { dir: string; pid: number }[];
  /** the pid of the member's own etcd, as its control knows it (local pid file, systemd MainPID) */
  ownPid: number | null;
  /** set when the host could not be asked (the checks from here still ran) */
  unknown?: string;
}

/**
 * What in these facts stops a restore of this member. `allowOwn`: before the stop step the member's own
 * etcd may hold its ports and dir (the stop step stops it); after it, nothing may.
 */
export function inUseProblems(m: TargetMember, f: InUseFacts, allowOwn: boolean): string[] {
  const own = (pid: number) => allowOwn && f.ownPid !== null && pid === f.ownPid;
  const out: string[] = [];
  for (const p of f.ports) {
    const others = p.pids.filter((pid) => !own(pid));
    if (p.pids.length > 0 && others.length === 0) continue;
    out.push(
      `member "${m.name}": port ${p.port} (${p.url}) is in use${others.length ? ` by pid ${others.join(', ')}` : ' (by a process dr cannot see)'}`,
    );
  }
  const byDir = new Map<string, number[]>();
  for (const d of f.dirPids) if (!own(d.pid)) byDir.set(d.dir, [...(byDir.get(d.dir) ?? []), d.pid]);
  for (const [dir, pids] of byDir)
    out.push(`member "${m.name}": ${dir} is held open by running pid ${[...new Set(pids)].join(', ')}`);
  return out;
}
