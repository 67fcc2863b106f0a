/**
 * The replay member: the base backup restored by etcd's own tool into a one-member etcd that only dr can
 * reach (docs/revision-log.md §9).
 *
 * It listens on Unix sockets in the replay's private directory (0700), not on a TCP port: the member holds
 * the whole keyspace in the clear (every Kubernetes Secret), and a loopback port would let any local user
 * read it while the replay runs. etcd names a `unix://host:port` socket `host:port` in its working
 * directory, so the member runs in that directory and dr dials `unix:///<dir>/client:1`.
 *
 * When the base has etcd auth enabled (read from its `auth` bucket before the member starts), the member
 * serves TLS on that socket with --client-cert-auth and dr is etcd's root user through a client certificate
 * (drill/throwaway-tls.ts): no password is needed, and the users and roles come out in the snapshot as they were.
 */
import { randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { DrError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { EtcdBinaries } from '../drill/etcd-binaries.js';
import { createEtcdClient, type EtcdClient } from '../etcd/client.js';
import { startMember, stopMember, waitHealthy, type RunningMember } from '../etcd/member-process.js';
import { readTlsMaterial, type TlsMaterial } from '../etcd/tls-credentials.js';
import { openBbolt } from '../formats/bbolt/open.js';
import { get } from '../formats/bbolt/lookup.js';
import { openFileSource } from '../formats/file-byte-source.js';
import { localHost } from '../restore/host.js';
import { restoreArgv, type RestoreTool } from '../restore/restore-argv.js';
import { compareMinor, RESTORE_TOOL_ENV } from '../restore/tool.js';
import { makeThrowawayTls } from '../drill/throwaway-tls.js';

export interface ReplayMemberOptions {
  /** the replay's private directory (0700): data, sockets, certificates and etcd's log go in it */
  dir: string;
  /** the fetched base snapshot (checked); removed once restored */
  baseFile: string;
  bins: EtcdBinaries;
  tool: RestoreTool;
  /** the member's environment */
  env?: NodeJS.ProcessEnv;
  logger: Logger;
  signal?: AbortSignal;
  /** registers a last-resort hook run if dr exits without unwinding; returns its removal */
  onProcessExit?: (hook: () => void) => () => void;
}

export interface ReplayMember {
  /** `unix:///…/client:1` or `unixs:///…/client:1` */
  endpoint: string;
  /** the client certificate dr presents (auth-enabled base), for connections outside `client` */
  tls: TlsMaterial | undefined;
  authEnabled: boolean;
  client: EtcdClient;
  /** rejects (ETCD_UNREACHABLE, with the end of etcd's log) if the member exits */
  died: Promise<never>;
  /** stops the member and removes its data (idempotent) */
  stop(): Promise<void>;
}

/** the longest path a Unix socket address holds (sun_path, with its NUL) */
const MAX_SOCKET_PATH = 107;

/** The replay member's client socket in `dir`; refused (before any fetch) when no socket can have that path. */
export function replaySocketPath(dir: string): string {
  const socket = path.join(dir, 'client:1');
  if (Buffer.byteLength(socket) > MAX_SOCKET_PATH)
    throw new DrError(
      'CONFIG_INVALID',
      `point in time: the replay's socket path ${socket} is longer than a Unix socket allows (${MAX_SOCKET_PATH} bytes): the replay folder is beside the catalog (point --catalog / DR_CATALOG at a shorter path) or, for dr drill, under --work-dir`,
    );
  return socket;
}

/** `unix:///a%20b/client:1`: the socket path as a URL path, each segment encoded (but its colons) */
function socketEndpoint(scheme: 'unix' | 'unixs', socket: string): string {
  // etcd's `host:port` name keeps its colon, which a URL path may hold as it is
  const segment = (x: string) => encodeURIComponent(x).replace(/%3A/gi, ':');
  return `${scheme}://${socket.split('/').map(segment).join('/')}`;
}

/** Whether a bbolt file of etcd has auth enabled (`auth/authEnabled` = 1). */
export function authEnabledIn(file: string): boolean {
  const src = openFileSource(file);
  try {
    const db = openBbolt(src, { chunkSize: 1 << 16, chunks: 4 });
    const v = db && get(db, [Buffer.from('auth')], Buffer.from('authEnabled'));
    return v !== null && v.length === 1 && v[0] === 1;
  } finally {
    src.close();
  }
}

export async function startReplayMember(o: ReplayMemberOptions): Promise<ReplayMember> {
  const socket = replaySocketPath(o.dir);
  const authEnabled = authEnabledIn(o.baseFile);
  const memberDir = path.join(o.dir, 'member');
  const peerUrl = 'unix://peer:1';
  const token = `dr-replay-${randomBytes(4).toString('hex')}`;
  const argv = restoreArgv(o.tool, {
    snapshotFile: o.baseFile,
    name: 'replay',
    initialCluster: `replay=${peerUrl}`,
    token,
    peerURLs: [peerUrl],
    dataDir: memberDir,
    // fetchSnapshot checked etcd's trailer and the manifest's sha256 a moment ago
    skipHashCheck: true,
  });
  const restored = await localHost.run(argv, { env: RESTORE_TOOL_ENV, signal: o.signal });
  if (restored.code !== 0)
    throw new DrError(
      'ETCD_REQUEST_FAILED',
      `point in time: ${argv.slice(0, 3).join(' ')} failed (exit ${restored.code}): ${(restored.stderr || restored.stdout).trim().split('\n').slice(-3).join(' | ')}`,
    );
  await rm(o.baseFile, { force: true });
  const certs = authEnabled
    ? await makeThrowawayTls(path.join(o.dir, 'tls'), 'point in time', o.signal)
    : undefined;
  const extraArgs = [
    '--max-txn-ops',
    '1000000',
    '--max-request-bytes',
    String(256 * 1024 * 1024),
    '--quota-backend-bytes',
    String(64 * 1024 * 1024 * 1024),
    // etcd keeps the raft entries since its last snapshot in memory and in the WAL: a short interval
    // keeps the member's memory and disk flat over a long replay
    '--snapshot-count',
    '10000',
  ];
  if (compareMinor(o.bins.version, '3.5') >= 0) extraArgs.push('--unsafe-no-fsync');
  const member: RunningMember = startMember({
    name: 'replay',
    dataDir: memberDir,
    clientUrl: `${certs ? 'unixs' : 'unix'}://client:1`,
    peerUrl,
    initialCluster: `replay=${peerUrl}`,
    initialClusterToken: token,
    initialClusterState: 'new',
    logFile: path.join(o.dir, 'etcd.log'),
    etcdBinary: o.bins.etcd,
    cwd: o.dir,
    extraArgs,
    ...(certs
      ? {
          tls: {
            certFile: certs.serverCertFile,
            keyFile: certs.serverKeyFile,
            caFile: certs.caFile,
            clientCertAuth: true,
          },
        }
      : {}),
    // one transaction at a time: Go on one OS thread answers each sooner than spread over two cores
    // (docs/benchmarks.md, "Point-in-time replay")
    env: { ...o.env, GOMAXPROCS: o.env?.DR_REPLAY_GOMAXPROCS ?? '1' },
  });
  // a dr that exits without its finally (a second signal: process.exit) takes the member with it
  const unhook = o.onProcessExit?.(() => member.process.kill('SIGKILL'));
  const died: Promise<never> = member.exited.then(async (code) => {
    const tail = (await readFile(path.join(o.dir, 'etcd.log'), 'utf8').catch(() => ''))
      .trim()
      .split('\n')
      .slice(-3)
      .join(' | ');
    throw new DrError(
      'ETCD_UNREACHABLE',
      `point in time: the replay member (etcd ${o.bins.version}) exited with ${code}: ${tail.slice(-1500)}`,
    );
  });
  died.catch(() => undefined);
  const endpoint = socketEndpoint(certs ? 'unixs' : 'unix', socket);
  const files = certs && {
    caFile: certs.caFile,
    certFile: certs.clientCertFile,
    keyFile: certs.clientKeyFile,
  };
  let client: EtcdClient | undefined;
  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      client?.close();
      await stopMember(member, 5000);
      unhook?.();
      await rm(memberDir, { recursive: true, force: true, maxRetries: 3 });
    })());
  // from here on, whatever fails stops the member it started
  try {
    const c = (client = createEtcdClient(
      { endpoints: [endpoint], requestTimeoutMs: 120_000, ...files },
      { logger: o.logger },
    ));
    const tls = files && readTlsMaterial(files);
    // healthy: a leader (a one-member cluster elects itself at once)
    const probe = async () => (await c.status(endpoint)).leaderId !== 0n;
    await Promise.race([waitHealthy(endpoint, { signal: o.signal, timeoutMs: 120_000, probe }), died]);
    return { endpoint, tls, authEnabled, client: c, died, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
