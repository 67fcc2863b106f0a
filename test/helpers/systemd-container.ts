/**
 * Real systemd for tests: this machine's own /usr booted by `systemd-nspawn --volatile=yes` (a tmpfs root,
 * /usr read-only from the host, systemd as the container's PID 1). The container shares the host's network,
 * so members it runs listen on this machine's loopback, and the folders a test binds in have the same paths
 * inside and out. A restore reaches it exactly as it reaches a member's host over ssh: through a command
 * prefix (`nsenter ... -- sh -c`) that hands one command line to a shell on the "host".
 *
 * It boots to basic.target, so no unit of the machine's own packages (Debian's etcd.service) starts in it.
 * Stopping it kills the whole container: every process it started dies with its PID namespace.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export interface SystemdContainer {
  /** the command prefix for a members file's `ssh:` (a shell on the container's side) */
  prefix: string;
  /** runs a shell line inside the container; rejects on a non-zero exit with its stderr */
  sh(line: string): Promise<string>;
  /** what systemd printed while booting, for failure messages */
  bootLog(): string;
  stop(): Promise<void>;
}

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/**
 * Boots one, up to 3 times: under the suite's load, a boot now and then ended early (nspawn exiting with only
 * its clean-up complaint about /run/systemd/nspawn/propagate) or did not finish in 60 s (seen once each, in
 * one clean-clone run of three). A boot that fails 3 times fails the test with the last boot's log.
 */
export async function bootSystemdContainer(o: {
  binds: string[];
  readOnlyBinds?: string[];
}): Promise<SystemdContainer> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await bootOnce(o);
    } catch (err) {
      if (attempt >= 3) throw err;
    }
  }
}

async function bootOnce(o: { binds: string[]; readOnlyBinds?: string[] }): Promise<SystemdContainer> {
  const name = `dr-test-${process.pid}-${Date.now().toString(36)}`;
  const args = [
    '--directory=/',
    '--volatile=yes',
    '--register=no',
    '--keep-unit', // there is no systemd on the host side to ask for a scope unit
    '--console=pipe',
    `--machine=${name}`,
    // /etc is the container's own (empty at boot); Debian's alternatives (awk, editor, ...) are the host's
    '--bind-ro=/etc/alternatives',
    ...o.binds.map((b) => `--bind=${b}`),
    ...(o.readOnlyBinds ?? []).map((b) => `--bind-ro=${b}`),
    '--boot',
    '--',
    'systemd.unit=basic.target',
    'systemd.firstboot=off',
  ];
  let log = '';
  const nspawn: ChildProcess = spawn('systemd-nspawn', args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    // cgroup v2 only in the container, as on today's hosts: systemd then tracks and kills a unit's processes
    // through its own cgroup tree (in the host's hybrid layout, a stop now and then left a cgroup it could
    // not kill, and the next start of that unit failed with status 219/CGROUP)
    env: { ...process.env, SYSTEMD_NSPAWN_UNIFIED_HIERARCHY: '1' },
  });
  nspawn.stdout!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-20_000)));
  nspawn.stderr!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-20_000)));
  let exited = false;
  nspawn.on('exit', () => (exited = true));
  nspawn.on('error', (err) => {
    exited = true;
    log += `\n${String(err)}`;
  });

  const stop = async () => {
    if (exited) return;
    const gone = new Promise<void>((resolve) => nspawn.once('exit', () => resolve()));
    nspawn.kill('SIGKILL'); // the container's PID 1 dies with it, and with it every process in the namespace
    await gone;
    // what a killed nspawn leaves behind (it refuses to clean it up itself where /run is not a tmpfs)
    await rm(`/run/systemd/nspawn/propagate/${name}`, { recursive: true, force: true }).catch(() => {});
  };

  // the container's PID 1 is nspawn's child; it is ready when systemctl answers "running" or "degraded"
  let init = 0;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited) throw new Error(`systemd-nspawn exited while booting:\n${log.slice(-3000)}`);
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`the systemd container did not finish booting in 60 s:\n${log.slice(-3000)}`);
    }
    init ||= childrenOf(nspawn.pid!)[0] ?? 0;
    if (init) {
      const r = await execFileAsync('nsenter', [
        '-t',
        String(init),
        '-m',
        '-u',
        '-i',
        '-p',
        '--',
        'systemctl',
        'is-system-running',
      ]).catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? '' }));
      if (/^(running|degraded)/.test(r.stdout.trim())) break;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const pre = ['nsenter', '-t', String(init), '-m', '-u', '-i', '-p', '--', 'sh', '-c'];
  return {
    prefix: pre.join(' '),
    async sh(line) {
      try {
        return (await execFileAsync(pre[0]!, [...pre.slice(1), line])).stdout;
      } catch (err) {
        const e = err as { stderr?: string; code?: number };
        throw new Error(`in the systemd container: ${line}: exit ${e.code}: ${e.stderr ?? ''}`, {
          cause: err,
        });
      }
    },
    bootLog: () => log,
    stop,
  };
}
