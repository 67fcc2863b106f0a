/**
 * `local` control: dr runs etcd on this machine, detached so the member outlives dr. The pid file is
 * `<dataDir>.pid` and the log `<dataDir>.log`, next to the data dir (not inside: the data dir must be
 * etcd's alone). A pid is only trusted if /proc/<pid>/cmdline still names this data dir. The command line
 * is memberEtcdArgv's: client and peer TLS, and the members file's timings.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { open, readFile, rm, writeFile } from 'node:fs/promises';
import { DrError } from '../../core/errors.js';
import { localLogFile, memberEtcdArgv } from '../etcd-command.js';
import { runCommand } from '../host.js';
import type { EtcdTiming, TargetMember } from '../../config/members-file.js';
import type { MemberControl, MemberDeath } from './types.js';

export interface LocalControlOptions {
  member: TargetMember;
  initialCluster: string;
  token: string;
  /** @default etcd's: 100 ms heartbeat, 1000 ms election timeout */
  timing?: EtcdTiming;
  /** @default 'etcd' */
  etcdBinary?: string;
  /** @default 10000 */
  stopGraceMs?: number;
}

export function pidFile(dataDir: string): string {
  return `${dataDir}.pid`;
}

/** The exact argv local control runs for this member. */
export function localArgv(o: LocalControlOptions): string[] {
  return memberEtcdArgv(o.member, {
    token: o.token,
    initialCluster: o.initialCluster,
    timing: o.timing ?? { heartbeatInterval: 100, electionTimeout: 1000 },
    etcdBinary: o.etcdBinary,
  });
}

/** The pid of the etcd running on this data dir, or null. */
export async function runningPid(dataDir: string): Promise<number | null> {
  let pid: number;
  try {
    pid = Number((await readFile(pidFile(dataDir), 'utf8')).trim());
  } catch {
    return null;
  }
  if (!Number.isInteger(pid) || pid <= 0) return null;
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    if (/\) [ZX] /.test(stat)) return null; // exited, not yet reaped
    const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
    const i = cmdline.indexOf('--data-dir');
    return i >= 0 && cmdline[i + 1] === dataDir ? pid : null;
  } catch {
    return null;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The last `lines` lines of a log file (at most 16 KiB read), '' when it cannot be read. */
export async function logTail(file: string, lines = 15): Promise<string> {
  try {
    const h = await open(file, 'r');
    try {
      const { size } = await h.stat();
      const len = Math.min(size, 16 * 1024);
      const buf = Buffer.alloc(len);
      await h.read(buf, 0, len, size - len);
      return buf.toString('utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } finally {
      await h.close();
    }
  } catch {
    return '';
  }
}

/** Exit statuses of the members this process started, by data dir. */
const exits = new Map<string, { code: number | null; signal: NodeJS.Signals | null } | 'running'>();

export function localControl(o: LocalControlOptions): MemberControl {
  const bin = o.etcdBinary ?? 'etcd';
  const dataDir = o.member.dataDir;
  const logFile = localLogFile(o.member);
  return {
    type: 'local',
    async check(signal) {
      const r = await runCommand([bin, '--version'], { signal });
      return r.code === 0
        ? { ok: true, detail: `${bin} ${/etcd Version: (\S+)/.exec(r.stdout)?.[1] ?? ''}`.trim() }
        : { ok: false, detail: `${bin} --version failed: ${r.stderr.trim() || `exit ${r.code}`}` };
    },
    async stop(signal) {
      const pid = await runningPid(dataDir);
      if (pid === null) return;
      process.kill(pid, 'SIGTERM');
      const deadline = Date.now() + (o.stopGraceMs ?? 10_000);
      while (alive(pid) && (await runningPid(dataDir)) === pid) {
        signal?.throwIfAborted();
        if (Date.now() > deadline) {
          process.kill(pid, 'SIGKILL');
          // a killed process is gone only once the kernel has torn it down: wait for that too
          for (let i = 0; i < 50 && alive(pid) && (await runningPid(dataDir)) === pid; i++)
            await new Promise((r) => setTimeout(r, 100));
          break;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      exits.delete(dataDir);
      await rm(pidFile(dataDir), { force: true });
    },
    async start(signal) {
      signal?.throwIfAborted();
      if ((await runningPid(dataDir)) !== null) return;
      const [cmd, ...args] = localArgv(o);
      const out = openSync(logFile, 'a', 0o600);
      const child = spawn(cmd!, args, { stdio: ['ignore', out, out], detached: true });
      closeSync(out);
      const pid = await new Promise<number>((resolve, reject) => {
        child.once('spawn', () => resolve(child.pid!));
        child.once('error', (err) =>
          reject(
            new DrError(
              'ETCD_REQUEST_FAILED',
              `restore: cannot start etcd for ${o.member.name}: ${err.message}`,
            ),
          ),
        );
      });
      exits.set(dataDir, 'running');
      child.once('exit', (code, sig) => {
        if (exits.get(dataDir) === 'running') exits.set(dataDir, { code, signal: sig });
      });
      child.unref();
      await writeFile(pidFile(dataDir), `${pid}\n`);
    },
    async died() {
      const known = exits.get(dataDir);
      let status: string;
      let exitCode: number | null = null;
      if (known === 'running') return null;
      if (known) {
        exitCode = known.code;
        status = known.code !== null ? `exited with code ${known.code}` : `killed by ${known.signal}`;
      } else {
        // started by an earlier dr run (a resume): its pid file must still name a running etcd
        if ((await runningPid(dataDir)) !== null) return null;
        status = `is not running (no live etcd for ${pidFile(dataDir)})`;
      }
      return { status, exitCode, log: logFile, tail: await logTail(logFile) } satisfies MemberDeath;
    },
  };
}
