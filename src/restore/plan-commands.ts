/**
 * The shell commands a plan shows: how each member is stopped and started, and how a command runs on a
 * member's host. The executor runs the same things through MemberControl and MemberHost: a local or
 * manual member's start command is memberEtcdArgv's, flag for flag (TLS and timings included), quoted.
 */
import { localLogFile, memberEtcdArgv, type EtcdCommandContext } from './etcd-command.js';
import { shellLine, shellQuote } from './shell-line.js';
import path from 'node:path';
import { stoppedPath } from './control/static-pod-spec.js';
import type { TargetMember } from '../config/members-file.js';

export function controlCommands(
  m: TargetMember,
  action: 'start' | 'stop',
  etcd: EtcdCommandContext,
): string[] {
  switch (m.control.type) {
    case 'local':
      return action === 'stop'
        ? [`kill $(cat ${shellQuote(`${m.dataDir}.pid`)})   # if dr started it`]
        : [
            `${shellLine(memberEtcdArgv(m, etcd))} >>${shellQuote(localLogFile(m))} 2>&1 &   # dr starts it detached, pid in ${m.dataDir}.pid`,
          ];
    case 'systemd': {
      // --no-block: etcd's Type=notify start waits for a quorum that later members bring
      const cmd =
        action === 'stop'
          ? `systemctl stop ${m.control.unit}`
          : `systemctl start --no-block ${m.control.unit}`;
      return [m.control.ssh ? `${m.control.ssh} ${shellQuote(cmd)}` : cmd];
    }
    case 'manual':
      return action === 'stop'
        ? [`stop etcd member ${m.name} (e.g. systemctl stop etcd) and confirm`]
        : [`${shellLine(memberEtcdArgv(m, etcd))}   # start it like this, then confirm`];
    case 'static-pod': {
      const stopped = stoppedPath(m.control);
      return action === 'stop'
        ? [
            hostCmd(m, shellLine(['mkdir', '-p', path.dirname(stopped)])),
            hostCmd(m, shellLine(['mv', '-T', m.control.manifest, stopped])),
            `# then wait until nothing accepts connections on ${m.clientURLs[0]} (the kubelet stopped the pod)`,
          ]
        : [
            `# dr writes ${stopped}.dr-new: ${stopped} with --name=${m.name} --data-dir=${m.dataDir} --initial-cluster=${etcd.initialCluster} --initial-cluster-state=new --initial-cluster-token=${etcd.token}`,
            hostCmd(m, shellLine(['mv', '-T', `${stopped}.dr-new`, m.control.manifest])),
          ];
    }
  }
}

/** A command as it runs on the member's host: through its ssh prefix, as one quoted argument. */
export function hostCmd(m: TargetMember, cmd: string): string {
  return (m.control.type === 'systemd' || m.control.type === 'static-pod') && m.control.ssh
    ? `${m.control.ssh} ${shellQuote(cmd)}`
    : cmd;
}
