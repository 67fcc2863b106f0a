/**
 * `local` control: dr runs etcd on this machine, detached so the member outlives dr. The pid file is
 * `<dataDir>.pid` and the log `<dataDir>.log`, next to the data dir (not inside: the data dir must be
 * etcd's alone). A pid is only trusted if /proc/<pid>/cmdline still names this data dir.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { DrError } from '../../core/errors.js';
import { etcdArgs, type LocalMemberSpec } from '../../etcd/member-process.js';
import { runCommand } from '../host.js';
import type { TargetMember } from '../members-file.js';
import type { MemberControl } from './types.js';

export interface LocalControlOptions {
  member: TargetMember;
  initialCluster: string;
  token: string;
  /** @default 'etcd' */
  etcdBinary?: string;
  /** @default 10000 */
  stopGraceMs?: number;
}

export function pidFile(dataDir: string): string {
  return `${dataDir}.pid`;
}

export function localSpec(o: LocalControlOptions): LocalMemberSpec {
  const m = o.member;
  return {
    name: m.name,
    dataDir: m.dataDir,
    walDir: m.walDir,
    clientUrl: m.clientURLs.join(','),
    peerUrl: m.peerURLs.join(','),
    initialCluster: o.initialCluster,
    initialClusterToken: o.token,
    initialClusterState: 'new',
    logFile: `${m.dataDir}.log`,
    tls: m.tls,
    etcdBinary: o.etcdBinary,
  };
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

export function localControl(o: LocalControlOptions): MemberControl {
  const bin = o.etcdBinary ?? 'etcd';
  const dataDir = o.member.dataDir;
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
          break;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      await rm(pidFile(dataDir), { force: true });
    },
    async start(signal) {
      signal?.throwIfAborted();
      if ((await runningPid(dataDir)) !== null) return;
      const spec = localSpec(o);
      const out = openSync(spec.logFile, 'a');
      const child = spawn(bin, etcdArgs(spec), { stdio: ['ignore', out, out], detached: true });
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
      child.unref();
      await writeFile(pidFile(dataDir), `${pid}\n`);
    },
  };
}
