/**
 * `dr sandbox up | down | status`: a throwaway local etcd cluster on loopback ports under a project-local
 * directory, with Kubernetes-like sample data, so a new user can try every command. Members are detached
 * processes that outlive the command; state.json and pid files in the directory let later commands find
 * them again.
 */
import net from 'node:net';
import { mkdir, readdir, rm, rmdir } from 'node:fs/promises';
import path from 'node:path';
import { DrError } from '../core/errors.js';
import { silentLogger, type Logger } from '../core/logger.js';
import { createEtcdClient } from '../etcd/client.js';
import { startMember, waitHealthy } from '../etcd/member-process.js';
import { loadSampleData } from './sample-data.js';
import {
  isAlive,
  readState,
  removePid,
  runningPid,
  statePath,
  STATE_VERSION,
  writePid,
  writeState,
  type SandboxMemberState,
  type SandboxState,
} from './state.js';

export const SANDBOX_DEFAULTS = {
  dirName: '.sandbox',
  size: 3,
  /** client ports 23790, 23791, 23792 */
  basePort: 23790,
  /** peer ports are basePort + 10 + i: 23800, 23801, 23802 */
  peerOffset: 10,
} as const;

export interface SandboxOptions {
  /** The sandbox dir; `defaultSandboxDir(cwd)` is the usual `<cwd>/.sandbox`. */
  dir: string;
  logger?: Logger;
}

export interface SandboxUpOptions extends SandboxOptions {
  /** number of members. @default 3 */
  size?: number;
  /** client ports are basePort+i, peer ports basePort+10+i. @default 23790 */
  basePort?: number;
  /** explicit client ports (one per member), overriding basePort */
  clientPorts?: number[];
  /** explicit peer ports (one per member), overriding basePort */
  peerPorts?: number[];
  /** write the sample data on first start. @default true */
  sampleData?: boolean;
  /** @default 60000 */
  healthTimeoutMs?: number;
  /** @default 'etcd' from PATH */
  etcdBinary?: string;
}

export interface SandboxMemberInfo {
  name: string;
  endpoint: string;
  peerUrl: string;
  dataDir: string;
  logFile: string;
  pid?: number;
}

export interface SandboxUpResult {
  dir: string;
  /** started: a new cluster; restarted: existing data, processes started again; already-running: nothing to do */
  outcome: 'started' | 'restarted' | 'already-running';
  endpoints: string[];
  members: SandboxMemberInfo[];
  sampleData?: { keys: number; leases: number; revision: string };
}

export interface SandboxDownOptions extends SandboxOptions {
  /** delete the data directories, logs and state too. @default false */
  removeData?: boolean;
  /** time between SIGTERM and SIGKILL. @default 5000 */
  graceMs?: number;
}

export interface SandboxDownResult {
  dir: string;
  /** false when there was no sandbox in dir */
  existed: boolean;
  stopped: { name: string; pid: number; signal: 'SIGTERM' | 'SIGKILL' }[];
  removedData: boolean;
}

export interface SandboxMemberStatus extends SandboxMemberInfo {
  running: boolean;
  healthy: boolean;
  isLeader?: boolean;
  memberId?: string;
  revision?: string;
  dbSize?: string;
  error?: string;
}

export interface SandboxStatusResult {
  dir: string;
  exists: boolean;
  endpoints: string[];
  members: SandboxMemberStatus[];
}

/** `<cwd>/.sandbox`: the caller (cli/, daemon/) passes its working directory. */
export const defaultSandboxDir = (cwd: string): string => path.join(cwd, SANDBOX_DEFAULTS.dirName);

const info = (m: SandboxMemberState, pid?: number): SandboxMemberInfo => ({
  name: m.name,
  endpoint: m.clientUrl,
  peerUrl: m.peerUrl,
  dataDir: m.dataDir,
  logFile: m.logFile,
  ...(pid ? { pid } : {}),
});

async function portInUse(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(true));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(false)));
  });
}

function planMembers(dir: string, o: SandboxUpOptions): SandboxMemberState[] {
  const size = o.size ?? SANDBOX_DEFAULTS.size;
  const base = o.basePort ?? SANDBOX_DEFAULTS.basePort;
  if (!Number.isInteger(size) || size < 1 || size > 9) {
    throw new DrError('USAGE', `sandbox: size must be between 1 and 9 (got ${size})`);
  }
  const clientPorts = o.clientPorts ?? Array.from({ length: size }, (_, i) => base + i);
  const peerPorts =
    o.peerPorts ?? Array.from({ length: size }, (_, i) => base + SANDBOX_DEFAULTS.peerOffset + i);
  if (clientPorts.length !== size || peerPorts.length !== size) {
    throw new DrError('USAGE', `sandbox: give one client and one peer port per member (${size} members)`);
  }
  for (const p of [...clientPorts, ...peerPorts]) {
    if (!Number.isInteger(p) || p < 1 || p > 65535) throw new DrError('USAGE', `sandbox: invalid port ${p}`);
  }
  return Array.from({ length: size }, (_, i) => {
    const name = `sandbox-${i}`;
    return {
      name,
      clientUrl: `http://127.0.0.1:${clientPorts[i]}`,
      peerUrl: `http://127.0.0.1:${peerPorts[i]}`,
      dataDir: path.join(dir, name, 'data'),
      logFile: path.join(dir, name, 'etcd.log'),
      pidFile: path.join(dir, `${name}.pid`),
    };
  });
}

/**
 * Starts the sandbox, or reports it already running. A stopped sandbox whose data was kept is started
 * again on its recorded ports. Throws USAGE naming the port when one is taken by another program.
 */
export async function sandboxUp(o: SandboxUpOptions): Promise<SandboxUpResult> {
  const dir = path.resolve(o.dir);
  const log = (o.logger ?? silentLogger).child({ component: 'sandbox' });
  const existing = await readState(dir);
  const state: SandboxState = existing ?? {
    version: STATE_VERSION,
    createdAt: new Date().toISOString(),
    clusterToken: `dr-sandbox-${process.pid}-${Date.now().toString(36)}`,
    initialCluster: '',
    members: planMembers(dir, o),
  };
  if (!existing) state.initialCluster = state.members.map((m) => `${m.name}=${m.peerUrl}`).join(',');

  const pids = await Promise.all(state.members.map(runningPid));
  const endpoints = state.members.map((m) => m.clientUrl);
  if (existing && pids.every((p) => p !== undefined)) {
    return {
      dir,
      outcome: 'already-running',
      endpoints,
      members: state.members.map((m, i) => info(m, pids[i])),
      ...(state.sampleData ? { sampleData: state.sampleData } : {}),
    };
  }

  const toStart = state.members.filter((_, i) => pids[i] === undefined);
  for (const m of toStart) {
    for (const url of [m.clientUrl, m.peerUrl]) {
      const port = Number(new URL(url).port);
      if (await portInUse(port)) {
        throw new DrError(
          'USAGE',
          `sandbox: port ${port} on 127.0.0.1 (${m.name} ${url === m.clientUrl ? 'client' : 'peer'}) is already in use by another program; ` +
            (existing
              ? `free it, or remove ${dir} and start on other ports`
              : 'choose other ports (base port option)'),
          { port, member: m.name },
        );
      }
    }
  }

  await mkdir(dir, { recursive: true });
  // state first: a failed start can still be cleaned up by `down`
  await writeState(dir, state);
  const started: number[] = [];
  try {
    for (const m of toStart) {
      const hasData = await readdir(m.dataDir).then(
        (e) => e.length > 0,
        () => false,
      );
      await mkdir(path.dirname(m.logFile), { recursive: true });
      const running = startMember(
        {
          name: m.name,
          dataDir: m.dataDir,
          clientUrl: m.clientUrl,
          peerUrl: m.peerUrl,
          initialCluster: state.initialCluster,
          initialClusterToken: state.clusterToken,
          // etcd ignores the initial-cluster flags once a data dir exists; 'new' is right for a fresh one
          initialClusterState: 'new',
          logFile: m.logFile,
          etcdBinary: o.etcdBinary,
        },
        { detached: true },
      );
      const pid = running.process.pid;
      if (pid === undefined) {
        throw new DrError('INTERNAL', `sandbox: could not start etcd for ${m.name} (is etcd installed?)`);
      }
      started.push(pid);
      await writePid(m, pid);
      log.info({ member: m.name, pid, hasData }, 'started sandbox member');
    }
    await Promise.all(
      state.members.map((m) =>
        waitHealthy(m.clientUrl, { timeoutMs: o.healthTimeoutMs ?? 60_000 }).catch((err: unknown) => {
          throw new DrError(
            'ETCD_UNREACHABLE',
            `sandbox: ${m.name} at ${m.clientUrl} did not become healthy; see ${m.logFile}`,
            { member: m.name, logFile: m.logFile },
            { cause: err },
          );
        }),
      ),
    );
  } catch (err) {
    for (const pid of started) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    await Promise.all(toStart.map(removePid));
    throw err;
  }

  if (!state.sampleData && (o.sampleData ?? true)) {
    const client = createEtcdClient({ endpoints }, { logger: o.logger });
    try {
      const r = await loadSampleData(client);
      state.sampleData = { keys: r.keys, leases: r.leases, revision: r.revision.toString() };
    } finally {
      client.close();
    }
    await writeState(dir, state);
  }
  const finalPids = await Promise.all(state.members.map(runningPid));
  return {
    dir,
    outcome: existing ? 'restarted' : 'started',
    endpoints,
    members: state.members.map((m, i) => info(m, finalPids[i])),
    ...(state.sampleData ? { sampleData: state.sampleData } : {}),
  };
}

async function waitExit(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return !isAlive(pid);
}

async function leaderName(state: SandboxState): Promise<string | undefined> {
  const client = createEtcdClient({
    endpoints: state.members.map((m) => m.clientUrl),
    dialTimeoutMs: 1000,
    requestTimeoutMs: 2000,
  });
  try {
    const all = await client.statusAll();
    const s = all.find((x) => x.status && x.status.leaderId === x.status.memberId);
    return s ? state.members.find((m) => m.clientUrl === s.endpoint)?.name : undefined;
  } finally {
    client.close();
  }
}

/** Stops every member (SIGTERM, then SIGKILL after graceMs); keeps the data unless removeData. */
export async function sandboxDown(o: SandboxDownOptions): Promise<SandboxDownResult> {
  const dir = path.resolve(o.dir);
  const state = await readState(dir);
  if (!state) return { dir, existed: false, stopped: [], removedData: false };
  const stopped: SandboxDownResult['stopped'] = [];
  const stopOne = async (m: SandboxMemberState) => {
    const pid = await runningPid(m);
    if (pid !== undefined) {
      process.kill(pid, 'SIGTERM');
      let signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM';
      if (!(await waitExit(pid, o.graceMs ?? 5000))) {
        signal = 'SIGKILL';
        process.kill(pid, 'SIGKILL');
        await waitExit(pid, 5000);
      }
      stopped.push({ name: m.name, pid, signal });
    }
    await removePid(m);
  };
  // A stopping leader first hands leadership to a connected follower, which stalls when that follower is
  // stopping too: stop the followers first, the leader last (it then has nobody to hand over to).
  const leader = await leaderName(state);
  await Promise.all(state.members.filter((m) => m.name !== leader).map(stopOne));
  await Promise.all(state.members.filter((m) => m.name === leader).map(stopOne));
  if (o.removeData) {
    // only what the sandbox made: member folders and state.json; then the folder if nothing else is left
    for (const m of state.members) await rm(path.dirname(m.dataDir), { recursive: true, force: true });
    await rm(statePath(dir), { force: true });
    // rmdir refuses a folder that still holds something the user put there, which is what we want
    await rmdir(dir).catch(() => undefined);
  }
  stopped.sort((a, b) => a.name.localeCompare(b.name));
  return { dir, existed: true, stopped, removedData: Boolean(o.removeData) };
}

/** Each member's process and health (status answered, leader seen). Never throws for a dead member. */
export async function sandboxStatus(o: SandboxOptions): Promise<SandboxStatusResult> {
  const dir = path.resolve(o.dir);
  const state = await readState(dir);
  if (!state) return { dir, exists: false, endpoints: [], members: [] };
  const endpoints = state.members.map((m) => m.clientUrl);
  const pids = await Promise.all(state.members.map(runningPid));
  const client = createEtcdClient(
    { endpoints, dialTimeoutMs: 2000, requestTimeoutMs: 3000 },
    { logger: o.logger },
  );
  try {
    const statuses = await client.statusAll();
    return {
      dir,
      exists: true,
      endpoints,
      members: state.members.map((m, i) => {
        const s = statuses[i]!;
        const base = { ...info(m, pids[i]), running: pids[i] !== undefined };
        if (!s.status) return { ...base, healthy: false, error: s.error?.message ?? 'no answer' };
        return {
          ...base,
          healthy: s.status.leaderId !== 0n && s.status.errors.length === 0,
          isLeader: s.status.leaderId === s.status.memberId,
          memberId: s.status.memberId.toString(16),
          revision: s.status.revision.toString(),
          dbSize: s.status.dbSize.toString(),
          ...(s.status.errors.length ? { error: s.status.errors.join('; ') } : {}),
        };
      }),
    };
  } finally {
    client.close();
  }
}
