/**
 * The replay member is reachable by dr alone: it listens on Unix sockets in the replay's 0700 directory and
 * on no TCP port (read from the process's own sockets in /proc), and, for a base with etcd auth enabled, it
 * serves TLS with --client-cert-auth: dr is root by its private certificate, a client without one is
 * turned away, and the users come out as the base held them.
 */
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/core/logger.js';
import { findEtcdFor, type EtcdBinaries } from '../../src/drill/etcd-binaries.js';
import { createEtcdClient } from '../../src/etcd/client.js';
import { parseEndpoint } from '../../src/etcd/endpoint.js';
import { authEnabledIn, replaySocketPath, startReplayMember } from '../../src/replay/replay-member.js';
import { findRestoreTool } from '../../src/restore/tool.js';
import type { RestoreTool } from '../../src/restore/restore-argv.js';
import { startTestCluster } from '../helpers/etcd-cluster.js';
import { etcdVersion } from '../helpers/etcd-version.js';
import { tempDir } from '../helpers/tmp.js';

/** the local ports pid listens on over TCP (IPv4 and IPv6), from its socket inodes and /proc/net */
function tcpListenPortsOf(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // closed meanwhile
    }
  }
  const ports: number[] = [];
  for (const table of ['tcp', 'tcp6']) {
    for (const line of readFileSync(`/proc/${pid}/net/${table}`, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // local_address st(0A = LISTEN) ... inode
      if (f.length > 9 && f[3] === '0A' && inodes.has(f[9]!)) ports.push(parseInt(f[1]!.split(':')[1]!, 16));
    }
  }
  return ports;
}

describe('the replay member', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let bins: EtcdBinaries;
  let tool: RestoreTool;
  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('dr-replay-member-'));
    bins = await findEtcdFor(etcdVersion().text, { pathEnv: process.env.PATH ?? '' });
    tool = await findRestoreTool({ etcdutl: bins.etcdutl, etcdctl: bins.etcdctl });
  });
  afterAll(async () => cleanup?.());

  async function snapshotOf(auth: boolean): Promise<string> {
    const c = await startTestCluster({
      size: 1,
      ...(auth
        ? { auth: { rootPassword: 'rm-root-pw-5521', restrictedUser: { name: 'app', password: 'app-pw' } } }
        : {}),
    });
    try {
      await c.etcdctl(['put', '/k', 'v']);
      const file = path.join(dir, `base-${auth ? 'auth' : 'plain'}.db`);
      const user = c.root ? ['--user', `root:${c.root.password}`] : [];
      execFileSync('etcdctl', ['--endpoints', c.endpoints[0]!, ...user, 'snapshot', 'save', file], {
        stdio: 'ignore',
        env: { ...process.env, ETCDCTL_API: '3' },
      });
      return file;
    } finally {
      await c.stop();
    }
  }

  it('listens on a Unix socket in its private directory and on no TCP port', async () => {
    const baseFile = await snapshotOf(false);
    expect(authEnabledIn(baseFile)).toBe(false);
    // a folder name with characters a URL would otherwise read as an escape, a fragment or a query
    const replayDir = await mkdtemp(path.join(dir, 'dr-replay plain %zz#?-'));
    const m = await startReplayMember({ dir: replayDir, baseFile, bins, tool, logger: silentLogger });
    try {
      expect(m.endpoint.startsWith('unix:///')).toBe(true);
      expect(parseEndpoint(m.endpoint, false).socketPath).toBe(path.join(replayDir, 'client:1'));
      expect(m.authEnabled).toBe(false);
      expect(statSync(replayDir).mode & 0o777).toBe(0o700);
      expect(statSync(path.join(replayDir, 'client:1')).isSocket()).toBe(true);
      expect(tcpListenPortsOf(findPid(replayDir))).toEqual([]);
      const kv = await m.client.get('/k');
      expect(kv[0]?.value.toString()).toBe('v');
    } finally {
      await m.stop();
    }
    // stopped: its data is gone, the base file was removed once restored
    expect(readdirSync(replayDir).filter((f) => f === 'member')).toEqual([]);
  });

  it('refuses a folder too deep for a Unix socket path before starting anything, naming where to point', () => {
    expect(() => replaySocketPath(`/${'d'.repeat(100)}/dr-replay-XXXXXX`)).toThrow(/DR_CATALOG|--work-dir/);
    expect(replaySocketPath('/var/lib/etcd-dr/replays/dr-replay-XXXXXX')).toBe(
      '/var/lib/etcd-dr/replays/dr-replay-XXXXXX/client:1',
    );
  });

  it('keeps etcd auth of the base on: dr is root by its private certificate, nobody else gets in', async () => {
    const baseFile = await snapshotOf(true);
    expect(authEnabledIn(baseFile)).toBe(true);
    const replayDir = await mkdtemp(path.join(dir, 'dr-replay-auth-'));
    const m = await startReplayMember({ dir: replayDir, baseFile, bins, tool, logger: silentLogger });
    try {
      expect(parseEndpoint(m.endpoint, false)).toMatchObject({
        secure: true,
        socketPath: path.join(replayDir, 'client:1'),
      });
      expect(m.authEnabled).toBe(true);
      expect(tcpListenPortsOf(findPid(replayDir))).toEqual([]);
      await m.client.put('/as-root', 'yes');
      expect((await m.client.get('/k'))[0]?.value.toString()).toBe('v');
      // the CA key is gone once the two certificates are signed; the client key is the user's alone
      expect(existsSync(path.join(replayDir, 'tls', 'ca.key'))).toBe(false);
      expect(statSync(path.join(replayDir, 'tls', 'client.key')).mode & 0o777).toBe(0o600);
      // the same socket without a client certificate: the TLS handshake is refused
      const stranger = createEtcdClient(
        { endpoints: [m.endpoint], caFile: path.join(replayDir, 'tls', 'ca.crt'), dialTimeoutMs: 2000 },
        { logger: silentLogger },
      );
      try {
        await expect(stranger.get('/k')).rejects.toMatchObject({ code: expect.stringMatching(/^ETCD_/) });
      } finally {
        stranger.close();
      }
    } finally {
      await m.stop();
    }
  });
});

/** the pid of the etcd running with its data in dir/member */
function findPid(replayDir: string): number {
  const want = path.join(replayDir, 'member');
  for (const p of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
      if (argv.includes(want) && argv.some((a) => a.endsWith('etcd'))) return Number(p);
    } catch {
      // gone
    }
  }
  throw new Error(`no etcd with --data-dir ${want}`);
}
