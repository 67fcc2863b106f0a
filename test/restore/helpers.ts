import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Manifest } from '../../src/manifest/manifest.js';
import { localControl } from '../../src/restore/control/local.js';
import { parseMembers, type MembersFile } from '../../src/config/members-file.js';
import { freePorts } from '../helpers/ports.js';

export const ETCDCTL_ENV = { ...process.env, ETCDCTL_API: '3' };

export function etcdctl(endpoints: string[], ...args: string[]): string {
  return execFileSync('etcdctl', ['--endpoints', endpoints.join(','), ...args], {
    env: ETCDCTL_ENV,
  }).toString();
}

/** A manifest for a plain `etcdctl snapshot save` file, as the backup pipeline would have written it. */
export function manifestFor(
  file: string,
  o: { id?: string; clusterId: string; createdAt?: string; liveKeys?: number },
): Manifest {
  const st = JSON.parse(
    execFileSync('etcdctl', ['snapshot', 'status', file, '-w', 'json'], { env: ETCDCTL_ENV }).toString(),
  ) as {
    hash: number;
    revision: number;
    totalKey: number;
    totalSize: number;
  };
  const bytes = readFileSync(file);
  const size = statSync(file).size;
  const now = o.createdAt ?? new Date().toISOString();
  return {
    formatVersion: 1,
    id: o.id ?? '20240101T000000Z-abcdef01',
    clusterName: 'test',
    policy: null,
    createdAt: now,
    completedAt: now,
    durationMs: 1,
    source: {
      endpoint: 'http://127.0.0.1:1',
      memberId: '1',
      memberName: 'm0',
      isLeader: true,
      clusterId: o.clusterId,
      etcdVersion: '3.4.23',
      raftIndex: '1',
      raftTerm: '1',
    },
    snapshot: {
      revision: String(st.revision),
      totalKeys: st.totalKey,
      liveKeys: o.liveKeys ?? null,
      hash: st.hash,
      dbSize: size - 32,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      etcdSha256: bytes.subarray(size - 32).toString('hex'),
      size,
      consistentIndex: null,
    },
    stored: { key: 'x', size, sha256: 'x', compression: 'none', compressionLevel: null, encryption: null },
    tool: { name: 'etcd-dr', version: '0.0.0' },
  };
}

/** A members file for n local members on fresh loopback ports, data dirs under dir. */
export async function localTarget(
  dir: string,
  names: string[],
  extra: Partial<MembersFile> = {},
): Promise<MembersFile> {
  const ports = await freePorts(names.length * 2);
  return parseMembers({
    // generous timings: tests run several clusters on two cores (etcd's defaults are 100 / 1000)
    timing: { heartbeatInterval: 200, electionTimeout: 2000 },
    ...extra,
    members: names.map((name, i) => ({
      name,
      peerURLs: [`http://127.0.0.1:${ports[2 * i + 1]}`],
      clientURLs: [`http://127.0.0.1:${ports[2 * i]}`],
      dataDir: path.join(dir, name),
      control: { type: 'local' },
    })),
  });
}

/** Stops every local member dr may have started for this target (kills by pid file). */
export async function stopLocal(target: MembersFile | undefined): Promise<void> {
  if (!target) return;
  await Promise.all(
    target.members.map((m) =>
      localControl({ member: m, initialCluster: '', token: '', stopGraceMs: 3000 })
        .stop()
        .catch(() => {}),
    ),
  );
}

export function clusterIdOf(endpoint: string): string {
  const out = etcdctl([endpoint], 'endpoint', 'status', '-w', 'json');
  return BigInt(/"cluster_id":(\d+)/.exec(out)![1]!).toString(16);
}
