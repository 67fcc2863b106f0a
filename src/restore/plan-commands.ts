/**
 * The shell commands a plan shows: how each member is stopped and started, and how a command runs on a
 * member's host. The executor runs the same things through MemberControl and MemberHost.
 */
import type { TargetMember } from './members-file.js';

export function controlCommands(m: TargetMember, action: 'start' | 'stop'): string[] {
  switch (m.control.type) {
    case 'local':
      return action === 'stop'
        ? [`kill $(cat ${m.dataDir}.pid)   # if dr started it`]
        : [
            `etcd --name ${m.name} --data-dir ${m.dataDir} ...   # dr starts it detached, pid in ${m.dataDir}.pid`,
          ];
    case 'systemd': {
      // --no-block: etcd's Type=notify start waits for a quorum that later members bring
      const cmd =
        action === 'stop'
          ? `systemctl stop ${m.control.unit}`
          : `systemctl start --no-block ${m.control.unit}`;
      return [m.control.ssh ? `${m.control.ssh} '${cmd}'` : cmd];
    }
    case 'manual':
      return action === 'stop'
        ? [`stop etcd member ${m.name} (e.g. systemctl stop etcd) and confirm`]
        : [
            `start etcd member ${m.name} with --name ${m.name} --data-dir ${m.dataDir}${m.walDir ? ` --wal-dir ${m.walDir}` : ''} and confirm`,
          ];
  }
}

export function hostCmd(m: TargetMember, cmd: string): string {
  return m.control.type === 'systemd' && m.control.ssh ? `${m.control.ssh} '${cmd}'` : cmd;
}
