/**
 * Real etcd started on a copy of a member's data dir, as the member that wrote it (its name; the cluster
 * token is ignored once a WAL exists; fresh loopback ports unless given), to see what etcd does with the
 * bytes: does it start, what does it serve, does it take a write. The audit-severity tests
 * (test/audit/etcd-behaviour*.test.ts) compare that with what `dr audit` said about the same bytes.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { startMember, stopMember, waitHealthy, type RunningMember } from '../../src/etcd/member-process.js';
import { freePorts } from './ports.js';

const run = promisify(execFile);

export interface OnCopyOptions {
  /** @default 'm0' (the name startTestCluster gives its first member) */
  name?: string;
  /** [client, peer] ports; the peer URL must be the one stored in the data dir when it matters */
  ports?: [number, number];
  extraArgs?: string[];
  /** how long to wait for the member to be ready before calling it not started @default 25 s */
  timeoutMs?: number;
  /** readiness probe @default etcd's /health */
  probe?: (clientUrl: string) => Promise<boolean>;
}

export interface EtcdOnCopy {
  member: RunningMember;
  endpoint: string;
  logFile: string;
  /** etcdctl (API v3) against this member */
  ctl(args: string[], timeout?: string): Promise<string>;
  log(): Promise<string>;
}

export type OnCopyResult<T> =
  { started: true; value: T; log: string } | { started: false; exit: number | string; log: string };

/** /health, except that a raised NOSPACE alarm does not count (etcd 3.4.16+ and 3.5 take `exclude`) */
export async function healthyDespiteNospace(clientUrl: string): Promise<boolean> {
  const res = await fetch(new URL('/health?exclude=NOSPACE', clientUrl), {
    signal: AbortSignal.timeout(2000),
  });
  return res.ok && ((await res.json()) as { health?: string }).health === 'true';
}

/**
 * Starts etcd on `dir`, waits until it is ready or exits, runs `fn` while it runs, and stops it (SIGTERM).
 * `started: false` carries the exit code (or 'not ready in N s') and the log.
 */
export async function withEtcdOn<T>(
  dir: string,
  opts: OnCopyOptions,
  fn: (e: EtcdOnCopy) => Promise<T>,
): Promise<OnCopyResult<T>> {
  const [client, peer] = opts.ports ?? ((await freePorts(2)) as [number, number]);
  const name = opts.name ?? 'm0';
  const logFile = `${dir}.etcd.log`;
  const member = startMember({
    name,
    dataDir: dir,
    clientUrl: `http://127.0.0.1:${client}`,
    peerUrl: `http://127.0.0.1:${peer}`,
    initialCluster: `${name}=http://127.0.0.1:${peer}`,
    initialClusterToken: 'unused-once-bootstrapped',
    initialClusterState: 'new',
    logFile,
    ...(opts.extraArgs ? { extraArgs: opts.extraArgs } : {}),
  });
  const endpoint = member.spec.clientUrl;
  const timeoutMs = opts.timeoutMs ?? 25_000;
  const log = () => readFile(logFile, 'utf8');
  try {
    const ready = waitHealthy(endpoint, { timeoutMs, ...(opts.probe ? { probe: opts.probe } : {}) }).then(
      () => 'ready' as const,
      () => 'not ready' as const,
    );
    const outcome = await Promise.race([ready, member.exited.then((e) => ({ exit: e }))]);
    if (outcome !== 'ready') {
      await stopMember(member, 2000);
      return {
        started: false,
        exit: typeof outcome === 'object' ? outcome.exit : `not ready in ${timeoutMs / 1000} s`,
        log: await log(),
      };
    }
    const ctl = async (args: string[], timeout = '10s') =>
      (
        await run('etcdctl', ['--endpoints', endpoint, '--command-timeout', timeout, ...args], {
          env: { ...process.env, ETCDCTL_API: '3' },
        })
      ).stdout;
    const value = await fn({ member, endpoint, logFile, ctl, log });
    return { started: true, value, log: await log() };
  } finally {
    await stopMember(member, 5000);
  }
}

export interface Outcome {
  started: boolean;
  /** process exit code or signal when it did not start */
  exit?: number | string;
  log: string;
  /** number of keys under `prefix` served, when it started */
  keys?: number;
  /** a put answered within a few seconds */
  acceptsWrites?: boolean;
}

/**
 * The common question: does etcd start on `dir`, how many keys under `prefix` (default `/k/`) does it serve,
 * and (unless `write: false`) does it take a put.
 */
export async function startEtcd(
  dir: string,
  opts: OnCopyOptions & { write?: boolean; prefix?: string } = {},
): Promise<Outcome> {
  const r = await withEtcdOn(dir, opts, async (e) => {
    const prefix = opts.prefix ?? '/k/';
    const listed = await e.ctl(['get', prefix, '--prefix', '--keys-only']);
    const keys = listed.split('\n').filter((l) => l.startsWith(prefix)).length;
    const acceptsWrites =
      opts.write === false
        ? undefined
        : await e.ctl(['put', '/probe', 'x'], '4s').then(
            () => true,
            () => false,
          );
    return { keys, ...(acceptsWrites !== undefined ? { acceptsWrites } : {}) };
  });
  return r.started ? { started: true, log: r.log, ...r.value } : r;
}
