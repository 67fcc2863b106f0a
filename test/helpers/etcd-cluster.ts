/**
 * Starts a real N-member etcd 3.4 cluster on free loopback ports, in a temporary directory.
 * Always call stop() (in afterAll) so no etcd process outlives the test.
 */
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import {
  startMember,
  stopMember,
  waitHealthy,
  type LocalMemberSpec,
  type RunningMember,
} from '../../src/etcd/member-process.js';
import { freePorts } from './ports.js';
import { tempDir } from './tmp.js';

export interface TestCluster {
  dir: string;
  endpoints: string[];
  members: RunningMember[];
  /** kill -9 member i */
  kill(i: number): Promise<void>;
  stop(): Promise<void>;
}

export interface TestClusterOptions {
  size?: number;
  token?: string;
  extraArgs?: string[];
  /** make the spec https with these files (see test/helpers/certs.ts) */
  tls?: LocalMemberSpec['tls'];
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
  try {
    if (!opts.tls) await Promise.all(endpoints.map((e) => waitHealthy(e, { timeoutMs: 60_000 })));
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    dir,
    endpoints,
    members,
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
