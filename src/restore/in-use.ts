/**
 * Is anything already using a target member's ports or data dir? Asked of the member's host (here or
 * through its ssh prefix) from /proc: the TCP ports in LISTEN state and the processes holding their
 * sockets, and the processes with a file open under the data (and WAL) dir; and from here, by connecting
 * to each client and peer URL. The member's own etcd (the pid its control would stop) is allowed before
 * the stop step; after it nothing may be.
 */
import { connect } from 'node:net';
import { DrError } from '../core/errors.js';
import { runningPid } from './control/local.js';
import type { MemberHost } from './host.js';
import type { TargetMember } from '../config/members-file.js';
import type { InUseFacts } from './in-use-problems.js';

function portsOf(m: TargetMember): { port: number; url: string; host: string }[] {
  const seen = new Map<number, { port: number; url: string; host: string }>();
  for (const u of [...m.clientURLs, ...m.peerURLs]) {
    const url = new URL(u);
    const port = Number(url.port);
    if (!seen.has(port)) seen.set(port, { port, url: u, host: url.hostname.replace(/^\[|\]$/g, '') });
  }
  return [...seen.values()];
}

/** true when something accepts a TCP connection there */
export function tcpAnswers(host: string, port: number, timeoutMs = 1500): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port, timeout: timeoutMs });
    const done = (v: boolean) => {
      s.destroy();
      resolve(v);
    };
    s.once('connect', () => done(true));
    s.once('timeout', () => done(false));
    s.once('error', () => done(false));
  });
}

/**
 * One pass over /proc: the LISTEN sockets of the ports ("listen PORT INODE"), then every fd that is one of
 * those sockets or a file under the dirs ("/proc/PID/fd/N TARGET"), then "ok".
 */
function script(ports: number[], dirs: string[]): string {
  const q = (x: string) => `'${x.replace(/'/g, `'\\''`)}'`;
  const dirPreds = dirs.map((d) => `-lname ${q(`${d}/*`)} -o -lname ${q(d)}`).join(' -o ');
  return [
    'preds=""',
    `for port in ${ports.join(' ')}; do`,
    `  hex=$(printf '%04X' "$port")`,
    `  for inode in $(awk -v h=":$hex" 'FNR>1 && $4=="0A" && substr($2, length($2)-4)==h {print $10}' /proc/net/tcp /proc/net/tcp6 2>/dev/null); do`,
    `    echo "listen $port $inode"`,
    `    preds="$preds -o -lname socket:\\[$inode\\]"`,
    `  done`,
    `done`,
    `find /proc/[0-9]*/fd \\( ${dirPreds} $preds \\) -printf '%p %l\\n' 2>/dev/null`,
    'echo ok',
  ].join('\n');
}

export async function inUseFacts(
  m: TargetMember,
  host: MemberHost,
  signal?: AbortSignal,
): Promise<InUseFacts> {
  const ports = portsOf(m);
  const dirs = [m.dataDir, ...(m.walDir ? [m.walDir] : [])];
  const [r, answers, ownPid] = await Promise.all([
    host
      .run(
        [
          'sh',
          '-c',
          script(
            ports.map((p) => p.port),
            dirs,
          ),
        ],
        { signal },
      )
      .catch((e: Error) => ({
        code: -1,
        stdout: '',
        stderr: e.message,
      })),
    Promise.all(ports.map((p) => tcpAnswers(p.host, p.port))),
    ownPidOf(m, host, signal),
  ]);
  const lines = r.stdout.split('\n');
  const hostOk = lines.includes('ok');
  const listening = new Map<number, Set<number>>();
  const portOfInode = new Map<string, number>();
  const dirPids: InUseFacts['dirPids'] = [];
  for (const l of lines) {
    const w = l.split(' ');
    if (w[0] === 'listen') {
      listening.set(Number(w[1]), listening.get(Number(w[1])) ?? new Set());
      portOfInode.set(w[2]!, Number(w[1]));
      continue;
    }
    const fd = /^\/proc\/(\d+)\/fd\/\d+ (.*)$/.exec(l);
    if (!fd) continue;
    const pid = Number(fd[1]);
    const sock = /^socket:\[(\d+)\]$/.exec(fd[2]!);
    if (sock) {
      const port = portOfInode.get(sock[1]!);
      if (port !== undefined) listening.get(port)!.add(pid);
      continue;
    }
    const dir = dirs.find((d) => fd[2] === d || fd[2]!.startsWith(`${d}/`));
    if (dir && !dirPids.some((x) => x.pid === pid && x.dir === dir)) dirPids.push({ dir, pid });
  }
  const inUse = ports
    .map((p, i) =>
      listening.has(p.port) || answers[i]
        ? { port: p.port, url: p.url, pids: [...(listening.get(p.port) ?? [])].sort((a, b) => a - b) }
        : null,
    )
    .filter((x) => x !== null);
  return {
    ports: inUse,
    dirPids: dirPids.filter((d) => Number.isInteger(d.pid) && d.pid > 0),
    ownPid,
    ...(hostOk
      ? {}
      : { unknown: `could not look at ${host.label}'s processes: ${r.stderr.trim() || `exit ${r.code}`}` }),
  };
}

async function ownPidOf(m: TargetMember, host: MemberHost, signal?: AbortSignal): Promise<number | null> {
  switch (m.control.type) {
    case 'local':
      return runningPid(m.dataDir);
    case 'systemd': {
      const r = await host
        .run(['systemctl', 'show', '--property=MainPID', '--value', m.control.unit], { signal })
        .catch(() => null);
      const pid = Number(r?.stdout.trim());
      return r && r.code === 0 && Number.isInteger(pid) && pid > 0 ? pid : null;
    }
    case 'manual':
      return null;
    case 'static-pod': {
      // the kubelet's etcd of this member: the process run with this data dir
      const r = await host
        .run(['pgrep', '-f', '--', `--data-dir=${m.dataDir}`], { signal })
        .catch(() => null);
      const pid = Number(r?.stdout.trim().split('\n')[0]);
      return r && r.code === 0 && Number.isInteger(pid) && pid > 0 ? pid : null;
    }
  }
}

/** $0 of the scan's shell: a process that carries it (the scan, its subshells, ssh's shell) is skipped */
const SCAN_MARK = 'dr-scan-for-writers';

/**
 * The processes on the member's host with one of `paths` as a whole argument of their command line (a
 * restore tool still writing a staging dir: dr runs it with `--data-dir <staging>`), from /proc/PID/cmdline:
 * one `grep -z` over every process's arguments, then the command of each one found. The paths go in
 * through the environment, so the scan's own shell does not hold them; grep does, and is skipped.
 */
export async function processesNaming(
  host: MemberHost,
  paths: readonly string[],
  signal?: AbortSignal,
): Promise<{ pid: number; command: string }[]> {
  const env = Object.fromEntries(paths.map((p, i) => [`DR_SCAN_${i}`, p]));
  const patterns = paths.map((_, i) => `-e "$DR_SCAN_${i}"`).join(' ');
  const script = [
    `for f in $(grep -lxzF ${patterns} /proc/[0-9]*/cmdline 2>/dev/null); do`,
    '  c=$(tr "\\000" " " < "$f" 2>/dev/null) || continue',
    `  case "$c" in *${SCAN_MARK}*|"grep -lxzF "*) continue ;; esac`,
    '  p=${f#/proc/}',
    `  printf '%s\\t%s\\n' "\${p%/cmdline}" "$c"`,
    'done',
    'echo ok',
  ].join('\n');
  const r = await host.run(['sh', '-c', script, SCAN_MARK], { signal, env });
  const lines = r.stdout.split('\n');
  if (r.code !== 0 || !lines.includes('ok'))
    throw new DrError(
      'RESTORE_REFUSED',
      `restore: could not look at ${host.label}'s processes: ${r.stderr.trim() || `exit ${r.code}`}`,
    );
  return lines.flatMap((l) => {
    const m = /^(\d+)\t(.*)$/.exec(l);
    return m ? [{ pid: Number(m[1]), command: m[2]!.trim() }] : [];
  });
}
