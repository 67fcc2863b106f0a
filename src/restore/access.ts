/**
 * How dr reaches each member: its host (local or through its ssh prefix) and its control (local,
 * systemd, manual). Built once per restore so the facts, the executor and a resume all agree.
 */
import { DrError } from '../core/errors.js';
import { localControl } from './control/local.js';
import { manualControl } from './control/manual.js';
import { staticPodControl } from './control/static-pod.js';
import { systemdControl } from './control/systemd.js';
import type { MemberControl, Prompt } from './control/types.js';
import { memberEtcdArgv } from './etcd-command.js';
import { localHost, sshHost, type MemberHost } from './host.js';
import { shellLine } from './shell-line.js';
import type { MembersFile, TargetMember } from '../config/members-file.js';

export interface MemberAccess {
  hostFor(m: TargetMember): MemberHost;
  controlFor(m: TargetMember): MemberControl;
}

export function memberAccess(
  target: MembersFile,
  o: { token: string; initialCluster: string; prompt?: Prompt; hostFor?: (m: TargetMember) => MemberHost },
): MemberAccess {
  const hosts = new Map<string, MemberHost>();
  const hostFor =
    o.hostFor ??
    ((m: TargetMember) => {
      const prefix =
        m.control.type === 'systemd' || m.control.type === 'static-pod' ? m.control.ssh : undefined;
      if (!prefix) return localHost;
      if (!hosts.has(prefix)) hosts.set(prefix, sshHost(prefix));
      return hosts.get(prefix)!;
    });
  const controls = new Map<string, MemberControl>();
  const controlFor = (m: TargetMember): MemberControl => {
    let c = controls.get(m.name);
    if (c) return c;
    const common = {
      member: m,
      initialCluster: o.initialCluster,
      token: o.token,
      timing: target.timing,
      etcdBinary: target.binaries.etcd,
    };
    switch (m.control.type) {
      case 'local':
        c = localControl(common);
        break;
      case 'systemd':
        c = systemdControl({ unit: m.control.unit, host: hostFor(m) });
        break;
      case 'static-pod':
        c = staticPodControl({ ...common, spec: m.control, host: hostFor(m) });
        break;
      case 'manual':
        c = manualControl({
          name: m.name,
          commands: (action) => manualCommands(common, action),
          prompt:
            o.prompt ??
            (() =>
              Promise.reject(
                new DrError(
                  'USAGE',
                  `restore: member ${m.name} is manual and no prompt is available (no TTY)`,
                ),
              )),
        });
        break;
    }
    controls.set(m.name, c);
    return c;
  };
  return { hostFor, controlFor };
}

/** For manual members: the exact etcd command line, as local control would run it (TLS and timings included). */
export function manualCommands(
  common: Parameters<typeof memberEtcdArgv>[1] & { member: TargetMember },
  action: 'stop' | 'start',
): string[] {
  const m = common.member;
  if (action === 'stop')
    return [`systemctl stop etcd   # or however member ${m.name} is run: it must not be running`];
  return [shellLine(memberEtcdArgv(m, common))];
}
