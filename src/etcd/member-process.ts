/**
 * Starts and stops one local etcd member process (used by the sandbox, the tests and the restore's
 * `local` member control). The member's output goes to <logFile>; its readiness is its /health endpoint.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { DrError } from '../core/errors.js';

export interface LocalMemberSpec {
  name: string;
  dataDir: string;
  walDir?: string;
  clientUrl: string; // e.g. http://127.0.0.1:2379 (https:// when tls is set)
  peerUrl: string; // e.g. http://127.0.0.1:2380
  initialCluster: string; // name=peerUrl,...
  initialClusterToken: string;
  initialClusterState: 'new' | 'existing';
  logFile: string;
  /** server TLS for the client URL; clientCertAuth turns on --client-cert-auth */
  tls?: { certFile: string; keyFile: string; caFile: string; clientCertAuth: boolean };
  /** @default 'etcd' from PATH */
  etcdBinary?: string;
  extraArgs?: string[];
  /** the member's whole environment (default: this process's) */
  env?: NodeJS.ProcessEnv;
  /** its working directory, where etcd puts a `unix://host:port` socket named `host:port` */
  cwd?: string;
}

export function etcdArgs(spec: LocalMemberSpec): string[] {
  const args = [
    '--name',
    spec.name,
    '--data-dir',
    spec.dataDir,
    '--listen-client-urls',
    spec.clientUrl,
    '--advertise-client-urls',
    spec.clientUrl,
    '--listen-peer-urls',
    spec.peerUrl,
    '--initial-advertise-peer-urls',
    spec.peerUrl,
    '--initial-cluster',
    spec.initialCluster,
    '--initial-cluster-token',
    spec.initialClusterToken,
    '--initial-cluster-state',
    spec.initialClusterState,
    // generous timings: tests run several clusters on two cores
    '--heartbeat-interval',
    '200',
    '--election-timeout',
    '2000',
  ];
  if (spec.walDir) args.push('--wal-dir', spec.walDir);
  if (spec.tls) {
    args.push(
      '--cert-file',
      spec.tls.certFile,
      '--key-file',
      spec.tls.keyFile,
      '--trusted-ca-file',
      spec.tls.caFile,
    );
    if (spec.tls.clientCertAuth) args.push('--client-cert-auth');
  }
  return [...args, ...(spec.extraArgs ?? [])];
}

export interface RunningMember {
  spec: LocalMemberSpec;
  process: ChildProcess;
  /** resolves with the exit code (or signal name) when the process ends */
  exited: Promise<number | string>;
}

export interface StartMemberOptions {
  /**
   * Start the member in its own process group and let this process exit without waiting for it (the
   * sandbox's members outlive the command that started them). @default false
   */
  detached?: boolean;
}

export function startMember(spec: LocalMemberSpec, opts: StartMemberOptions = {}): RunningMember {
  const out = openSync(spec.logFile, 'a');
  const child = spawn(spec.etcdBinary ?? 'etcd', etcdArgs(spec), {
    stdio: ['ignore', out, out],
    ...(spec.env ? { env: spec.env } : {}),
    ...(spec.cwd ? { cwd: spec.cwd } : {}),
    detached: opts.detached ?? false,
  });
  closeSync(out);
  if (opts.detached) child.unref();
  const exited = new Promise<number | string>((resolve) => {
    child.on('exit', (code, signal) => resolve(code ?? signal ?? -1));
    child.on('error', (err) => resolve(`spawn error: ${err.message}`));
  });
  return { spec, process: child, exited };
}

/** Polls the member's /health until it reports healthy. TLS members are polled with the given client cert. */
export async function waitHealthy(
  clientUrl: string,
  opts: { timeoutMs?: number; signal?: AbortSignal; probe?: (url: string) => Promise<boolean> } = {},
): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  const probe = opts.probe ?? httpHealthProbe;
  let last = 'no answer';
  while (Date.now() < deadline) {
    opts.signal?.throwIfAborted();
    try {
      if (await probe(clientUrl)) return;
      last = 'unhealthy';
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new DrError(
    'ETCD_UNREACHABLE',
    `etcd: member at ${clientUrl} not healthy within ${opts.timeoutMs ?? 30_000} ms (${last})`,
    {
      endpoint: clientUrl,
    },
  );
}

async function httpHealthProbe(clientUrl: string): Promise<boolean> {
  const res = await fetch(new URL('/health', clientUrl), { signal: AbortSignal.timeout(2000) });
  if (!res.ok) return false;
  const body = (await res.json()) as { health?: string };
  return body.health === 'true';
}

/** SIGTERM, then SIGKILL after graceMs. */
export async function stopMember(m: RunningMember, graceMs = 5000): Promise<void> {
  if (m.process.exitCode !== null || m.process.signalCode !== null) return;
  m.process.kill('SIGTERM');
  const t = setTimeout(() => m.process.kill('SIGKILL'), graceMs);
  await m.exited;
  clearTimeout(t);
}
