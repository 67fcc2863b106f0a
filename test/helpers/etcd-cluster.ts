/**
 * Starts a real N-member etcd 3.4 cluster on free loopback ports, in a temporary directory.
 * Always call stop() (in afterAll) so no etcd process outlives the test.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import https from 'node:https';
import path from 'node:path';
import { promisify } from 'node:util';
import {
  startMember,
  stopMember,
  waitHealthy,
  type LocalMemberSpec,
  type RunningMember,
} from '../../src/etcd/member-process.js';
import type { TlsFiles } from '../../src/etcd/types.js';
import { freePorts } from './ports.js';
import { tempDir } from './tmp.js';

export interface TestCluster {
  dir: string;
  endpoints: string[];
  members: RunningMember[];
  /** kill -9 member i */
  kill(i: number): Promise<void>;
  stop(): Promise<void>;
  /** client TLS files that the cluster accepts (undefined for a plain-http cluster) */
  clientTls?: TlsFiles;
  /** root credentials when the cluster was started with `auth` */
  root?: { user: 'root'; password: string };
  /** the restricted user when the cluster was started with `auth.restrictedUser` */
  restricted?: { user: string; password: string };
  /** runs etcdctl (API v3) against every endpoint, with the cluster's TLS files and root credentials */
  etcdctl(args: string[], opts?: { endpoints?: string[]; user?: string }): Promise<string>;
}

export interface TestClusterOptions {
  size?: number;
  token?: string;
  extraArgs?: string[];
  /** make the spec https with these files (see test/helpers/certs.ts) */
  tls?: LocalMemberSpec['tls'];
  /**
   * The client TLS files for the health probe and etcdctl. @default the CA plus the server certificate
   * and key (certs.ts makes it valid for clientAuth too)
   */
  clientTls?: TlsFiles;
  /**
   * Enables auth after the cluster is healthy: a root user with this password and, optionally, a user
   * whose role may read and write keys under `prefix` but (not being root) cannot snapshot or HashKV.
   */
  auth?: { rootPassword: string; restrictedUser?: { name: string; password: string; prefix?: string } };
}

const execFileAsync = promisify(execFile);

function httpsHealthProbe(files: TlsFiles): (url: string) => Promise<boolean> {
  const ca = files.caFile ? readFileSync(files.caFile) : undefined;
  const cert = files.certFile ? readFileSync(files.certFile) : undefined;
  const key = files.keyFile ? readFileSync(files.keyFile) : undefined;
  return (url) =>
    new Promise<boolean>((resolve, reject) => {
      const req = https.get(new URL('/health', url), { ca, cert, key, timeout: 2000 }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => {
          try {
            resolve(res.statusCode === 200 && (JSON.parse(body) as { health?: string }).health === 'true');
          } catch {
            resolve(false);
          }
        });
      });
      req.on('timeout', () => req.destroy(new Error('health probe timed out')));
      req.on('error', reject);
    });
}

export async function startTestCluster(opts: TestClusterOptions = {}): Promise<TestCluster> {
  const size = opts.size ?? 1;
  const { dir, cleanup } = await tempDir('dr-etcd-');
  const ports = await freePorts(size * 2);
  const scheme = opts.tls ? 'https' : 'http';
  const names = Array.from({ length: size }, (_, i) => `m${i}`);
  const peerUrls = names.map((_, i) => `http://127.0.0.1:${ports[2 * i + 1]}`);
  const initialCluster = names.map((n, i) => `${n}=${peerUrls[i]}`).join(',');
  const members: RunningMember[] = [];
  for (const [i, name] of names.entries()) {
    const dataDir = path.join(dir, name);
    await mkdir(dir, { recursive: true });
    members.push(
      startMember({
        name,
        dataDir,
        clientUrl: `${scheme}://127.0.0.1:${ports[2 * i]}`,
        peerUrl: peerUrls[i]!,
        initialCluster,
        initialClusterToken: opts.token ?? `tok-${path.basename(dir)}`,
        initialClusterState: 'new',
        logFile: path.join(dir, `${name}.log`),
        tls: opts.tls,
        extraArgs: opts.extraArgs,
      }),
    );
  }
  const endpoints = members.map((m) => m.spec.clientUrl);
  const stop = async () => {
    await Promise.all(members.map((m) => stopMember(m, 3000)));
    await cleanup();
  };
  const clientTls: TlsFiles | undefined = opts.tls
    ? (opts.clientTls ?? { caFile: opts.tls.caFile, certFile: opts.tls.certFile, keyFile: opts.tls.keyFile })
    : undefined;
  const root = opts.auth ? { user: 'root' as const, password: opts.auth.rootPassword } : undefined;
  let authOn = false;
  const etcdctl = async (args: string[], o: { endpoints?: string[]; user?: string } = {}) => {
    const flags = ['--endpoints', (o.endpoints ?? endpoints).join(','), '--command-timeout', '30s'];
    if (clientTls?.caFile) flags.push('--cacert', clientTls.caFile);
    if (clientTls?.certFile) flags.push('--cert', clientTls.certFile);
    if (clientTls?.keyFile) flags.push('--key', clientTls.keyFile);
    const user = o.user ?? (authOn && root ? `root:${root.password}` : undefined);
    if (user) flags.push('--user', user);
    const { stdout } = await execFileAsync('etcdctl', [...flags, ...args], {
      env: { ...process.env, ETCDCTL_API: '3' },
      maxBuffer: 64 * 1024 * 1024,
    });
    return stdout;
  };
  try {
    const probe = clientTls ? httpsHealthProbe(clientTls) : undefined;
    await Promise.all(endpoints.map((e) => waitHealthy(e, { timeoutMs: 60_000, probe })));
    if (opts.auth) {
      await etcdctl(['user', 'add', `root:${opts.auth.rootPassword}`, '--interactive=false']);
      const r = opts.auth.restrictedUser;
      if (r) {
        await etcdctl(['user', 'add', `${r.name}:${r.password}`, '--interactive=false']);
        await etcdctl(['role', 'add', r.name]);
        await etcdctl(['role', 'grant-permission', r.name, 'readwrite', r.prefix ?? '/', '--prefix=true']);
        await etcdctl(['user', 'grant-role', r.name, r.name]);
      }
      await etcdctl(['auth', 'enable']);
      authOn = true;
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    dir,
    endpoints,
    members,
    clientTls,
    root,
    restricted: opts.auth?.restrictedUser
      ? { user: opts.auth.restrictedUser.name, password: opts.auth.restrictedUser.password }
      : undefined,
    etcdctl,
    kill: async (i) => {
      const m = members[i]!;
      m.process.kill('SIGKILL');
      await m.exited;
    },
    stop,
  };
}

export async function removeDir(p: string): Promise<void> {
  await rm(p, { recursive: true, force: true });
}
