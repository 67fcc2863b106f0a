/**
 * The sandbox's record of itself: <dir>/state.json (members, ports, token) and one <name>.pid file per
 * running member. Processes are recognised by pid AND by their command line naming the member's data dir,
 * so a recycled pid is never signalled.
 */
import { readFileSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DrError } from '../core/errors.js';

export const STATE_VERSION = 1;

export interface SandboxMemberState {
  name: string;
  clientUrl: string;
  peerUrl: string;
  dataDir: string;
  logFile: string;
  pidFile: string;
}

export interface SandboxState {
  version: number;
  createdAt: string;
  clusterToken: string;
  initialCluster: string;
  members: SandboxMemberState[];
  /** set once the sample data has been written, so a restart does not write it again */
  sampleData?: { keys: number; leases: number; revision: string };
}

export const statePath = (dir: string) => path.join(dir, 'state.json');

export async function readState(dir: string): Promise<SandboxState | undefined> {
  let raw: string;
  try {
    raw = await readFile(statePath(dir), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new DrError('CONFIG_INVALID', `sandbox: cannot read ${statePath(dir)}: ${(err as Error).message}`);
  }
  try {
    const state = JSON.parse(raw) as SandboxState;
    if (state.version !== STATE_VERSION || !Array.isArray(state.members)) throw new Error('unknown layout');
    return state;
  } catch (err) {
    throw new DrError(
      'CONFIG_INVALID',
      `sandbox: ${statePath(dir)} is not a sandbox state file (${(err as Error).message}); remove the directory to start over`,
    );
  }
}

export async function writeState(dir: string, state: SandboxState): Promise<void> {
  await mkdir(dir, { recursive: true });
  const tmp = `${statePath(dir)}.tmp`;
  await writeFile(tmp, `${JSON.stringify(state, null, 2)}\n`);
  await rename(tmp, statePath(dir));
}

export async function writePid(m: SandboxMemberState, pid: number): Promise<void> {
  await writeFile(m.pidFile, `${pid}\n`);
}

export async function removePid(m: SandboxMemberState): Promise<void> {
  await rm(m.pidFile, { force: true });
}

/** The pid of the member's etcd process if it is running, else undefined. */
export async function runningPid(m: SandboxMemberState): Promise<number | undefined> {
  let pid: number;
  try {
    pid = Number.parseInt(await readFile(m.pidFile, 'utf8'), 10);
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  return isMemberProcess(pid, m.dataDir) ? pid : undefined;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function isMemberProcess(pid: number, dataDir: string): boolean {
  if (!isAlive(pid)) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // a zombie has exited; only its parent has not collected it yet
    if (/^\d+ \(.*\) Z/.test(stat)) return false;
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const i = argv.indexOf('--data-dir');
    return i >= 0 && argv[i + 1] === dataDir;
  } catch {
    // no /proc (not Linux): trust the pid file
    return true;
  }
}
